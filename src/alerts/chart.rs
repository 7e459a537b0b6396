//! A subject's recent activity as a small PNG, drawn in-process for the
//! Slack message of an anomaly: counts as bars (the anomaly in red), the
//! moving average as a line, the band as a dashed line. Pixels are drawn
//! by hand (rectangles and lines on an RGB buffer); the `png` crate
//! encodes them.

use crate::store::Interval;

const W: usize = 480;
const H: usize = 160;
const PAD: usize = 12;

const WHITE: [u8; 3] = [255, 255, 255];
const BLUE: [u8; 3] = [143, 179, 220];
const RED: [u8; 3] = [179, 38, 30];
const INK: [u8; 3] = [29, 35, 41];
const RULE: [u8; 3] = [216, 221, 226];

struct Canvas {
    px: Vec<u8>,
}

impl Canvas {
    fn new() -> Canvas {
        Canvas {
            px: WHITE.repeat(W * H),
        }
    }

    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if (0..W as i64).contains(&x) && (0..H as i64).contains(&y) {
            let i = (y as usize * W + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        for y in y0.min(y1)..y0.max(y1) {
            for x in x0.min(x1)..x0.max(x1) {
                self.set(x, y, c);
            }
        }
    }

    /// A line from `a` to `b`; with `dash`, drawn `dash` pixels on, `dash` off.
    fn line(&mut self, a: (i64, i64), b: (i64, i64), c: [u8; 3], dash: Option<i64>) {
        let (dx, dy) = ((b.0 - a.0).abs(), -(b.1 - a.1).abs());
        let (sx, sy) = ((b.0 - a.0).signum(), (b.1 - a.1).signum());
        let (mut x, mut y, mut err, mut n) = (a.0, a.1, dx + dy, 0i64);
        loop {
            if dash.is_none_or(|d| (n / d) % 2 == 0) {
                self.set(x, y, c);
                self.set(x, y + 1, c);
            }
            n += 1;
            if (x, y) == b {
                return;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }
}

/// The chart of `bars`, oldest first, as PNG bytes.
pub fn activity_png(bars: &[Interval]) -> Vec<u8> {
    let mut c = Canvas::new();
    let top = bars
        .iter()
        .flat_map(|b| [b.count as f64, b.band.unwrap_or(0.0), b.mean.unwrap_or(0.0)])
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max);
    let (plot_w, plot_h) = ((W - 2 * PAD) as f64, (H - 2 * PAD) as f64);
    let slot = plot_w / bars.len().max(1) as f64;
    // Clamped to the canvas: a stray value (a store edited by hand) draws
    // at the edge, and never sends a line round the world.
    let y = |v: f64| {
        let v = if v.is_finite() {
            v.clamp(0.0, top)
        } else {
            0.0
        };
        (H - PAD) as i64 - (v / top * plot_h).round() as i64
    };
    let x = |i: usize, at: f64| PAD as i64 + ((i as f64 + at) * slot).round() as i64;
    c.rect(
        PAD as i64,
        (H - PAD) as i64,
        (W - PAD) as i64,
        (H - PAD + 1) as i64,
        RULE,
    );
    for (i, b) in bars.iter().enumerate() {
        let colour = if b.anomaly { RED } else { BLUE };
        c.rect(
            x(i, 0.1),
            y(b.count as f64),
            x(i, 0.9).max(x(i, 0.1) + 1),
            y(0.0),
            colour,
        );
    }
    for (pick, colour, dash) in [
        (
            (|b: &Interval| b.mean) as fn(&Interval) -> Option<f64>,
            INK,
            None,
        ),
        (|b: &Interval| b.band, RED, Some(4)),
    ] {
        let points: Vec<(i64, i64)> = bars
            .iter()
            .enumerate()
            .filter_map(|(i, b)| pick(b).map(|v| (x(i, 0.5), y(v))))
            .collect();
        for w in points.windows(2) {
            c.line(w[0], w[1], colour, dash);
        }
    }
    encode(&c.px)
}

fn encode(px: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, W as u32, H as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Writing to memory fails only on a wrong buffer size, which the
    // canvas never has.
    if let Ok(mut writer) = encoder.write_header() {
        let _ = writer.write_image_data(px);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_a_png_with_the_anomaly_in_red() {
        let mut bars: Vec<Interval> = (0..24)
            .map(|i| Interval {
                interval: i as i64,
                count: i % 3,
                mean: Some(1.0),
                band: Some(3.0),
                anomaly: false,
            })
            .collect();
        bars.push(Interval {
            interval: 24,
            count: 30,
            mean: Some(1.0),
            band: Some(3.0),
            anomaly: true,
        });
        let png = activity_png(&bars);
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (W as u32, H as u32));
        let red = buf.chunks(3).filter(|p| *p == RED).count();
        let blue = buf.chunks(3).filter(|p| *p == BLUE).count();
        // The anomaly's bar is the tallest, and red.
        assert!(red > 1000 && blue > 100, "red {red}, blue {blue}");
        assert!(activity_png(&[]).starts_with(b"\x89PNG"));
    }
}

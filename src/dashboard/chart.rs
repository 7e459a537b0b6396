//! Charts drawn on the server as inline SVG: nothing to fetch, nothing to
//! run in the browser. Colours come from the stylesheet's classes (the
//! Content-Security-Policy allows no inline style).

use maud::{Markup, html};

use crate::store::{Day, IntervalRow};

const W: f64 = 720.0;
const H: f64 = 180.0;
const PAD: f64 = 24.0;
/// Series colours in the stylesheet (`.s0` to `.s7`).
const SERIES: usize = 8;

/// The colour class of series `i`.
pub fn series(i: usize) -> String {
    format!("s{}", i % SERIES)
}

/// Files with findings per day, stacked by detector; `names` orders the
/// detectors (and their colours, as in the legend).
pub fn per_day(days: &[Day], names: &[String]) -> Markup {
    let totals: Vec<u64> = days
        .iter()
        .map(|d| d.detectors.iter().map(|c| c.files).sum())
        .collect();
    let top = totals.iter().copied().max().unwrap_or(0).max(1) as f64;
    let slot = (W - 2.0 * PAD) / days.len().max(1) as f64;
    let scale = (H - 2.0 * PAD) / top;
    // Each bar's segments, bottom up, in the legend's order.
    let mut bars = Vec::new();
    for (i, d) in days.iter().enumerate() {
        let x = PAD + i as f64 * slot + slot * 0.15;
        let mut y = H - PAD;
        for (k, name) in names.iter().enumerate() {
            if let Some(c) = d.detectors.iter().find(|c| &c.name == name) {
                let h = c.files as f64 * scale;
                y -= h;
                bars.push((x, y, h, series(k), format!("{}: {} {name}", d.day, c.files)));
            }
        }
    }
    html! {
        svg class="chart" viewBox=(format!("0 0 {W} {H}")) role="img" aria-label="files with findings per day, by detector" {
            line class="axis" x1=(PAD) y1=(H - PAD) x2=(W - PAD) y2=(H - PAD) {}
            text class="tick" x=(PAD) y=(PAD - 8.0) { (top as u64) }
            @for (x, y, h, class, title) in &bars {
                rect class=(class) x=(fmt(*x)) y=(fmt(*y)) width=(fmt(slot * 0.7)) height=(fmt(*h)) {
                    title { (title) }
                }
            }
            @for (i, d) in days.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
                text class="tick" x=(fmt(PAD + i as f64 * slot + slot * 0.15)) y=(H - 6.0) { (d.day.get(5..).unwrap_or(&d.day)) }
            }
        }
    }
}

/// One subject's intervals: counts as bars, its moving average and band
/// as lines, anomalies in red.
pub fn baseline(rows: &[IntervalRow]) -> Markup {
    let top = rows
        .iter()
        .flat_map(|r| [r.count as f64, r.band.unwrap_or(0.0)])
        .fold(1.0, f64::max);
    let slot = (W - 2.0 * PAD) / rows.len().max(1) as f64;
    let y = |v: f64| H - PAD - v / top * (H - 2.0 * PAD);
    let line = |pick: fn(&IntervalRow) -> Option<f64>| {
        rows.iter()
            .enumerate()
            .filter_map(|(i, r)| {
                pick(r).map(|v| format!("{},{}", fmt(PAD + (i as f64 + 0.5) * slot), fmt(y(v))))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    html! {
        svg class="chart" viewBox=(format!("0 0 {W} {H}")) role="img" aria-label="events per interval against the moving average and band" {
            line class="axis" x1=(PAD) y1=(H - PAD) x2=(W - PAD) y2=(H - PAD) {}
            text class="tick" x=(PAD) y=(PAD - 8.0) { (fmt(top)) " files" }
            @for (i, r) in rows.iter().enumerate() {
                @let h = r.count as f64 / top * (H - 2.0 * PAD);
                rect class=(if r.anomaly { "anomaly" } else { "count" }) x=(fmt(PAD + i as f64 * slot + slot * 0.1)) y=(fmt(H - PAD - h)) width=(fmt(slot * 0.8)) height=(fmt(h)) {
                    title { (r.start) ": " (r.count) @if r.anomaly { " (anomaly)" } }
                }
            }
            polyline class="mean" points=(line(|r| r.mean)) {}
            polyline class="band" points=(line(|r| r.band)) {}
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Count;

    #[test]
    fn bars_stack_and_names_are_escaped() {
        let days = vec![Day {
            day: "2026-12-01".into(),
            detectors: vec![
                Count {
                    name: "<b>".into(),
                    files: 3,
                },
                Count {
                    name: "API_KEY".into(),
                    files: 1,
                },
            ],
        }];
        let svg = per_day(&days, &["API_KEY".into(), "<b>".into()]).into_string();
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("class=\"s0\"") && svg.contains("class=\"s1\""));
    }
}

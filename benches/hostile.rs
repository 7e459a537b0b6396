//! Hostile documents through the real `dlpd scan`, beside normal ones of
//! about the same size.
//!
//! Run with `cargo bench --bench hostile`. For each pair it prints the
//! file size, the wall time, and the peak RSS of dlpd and the children it
//! waited for (the PDF parser runs in one), from `wait4`:
//! - a PDF of a few MB whose content stream inflates to 6 GiB, beside a
//!   PDF of the same size drawing random text;
//! - an xlsx under 1 MB whose 16,000 cells repeat one 1 MB shared string,
//!   beside an xlsx of 16,000 distinct strings;
//! - a docx of 14 MB whose `document.xml` holds 900 MB of text (about
//!   65:1, under `archive_max_ratio`), beside a docx of random text.
//!
//! Targets: each hostile file under 256 MB of RSS and 30 s.

#[path = "../tests/support/pdf.rs"]
mod pdf_writer;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Random lowercase letters from a fixed LCG: text that hardly compresses.
fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            b'a' + ((x >> 16) % 26) as u8
        })
        .collect()
}

fn deflate(parts: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    for p in parts {
        z.write_all(&p).unwrap();
    }
    z.finish().unwrap()
}

fn zip(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut out);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for (name, data) in members {
        z.start_file(*name, opts).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
    out.into_inner()
}

const CT: &str = r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#;

fn xlsx(strings: Vec<Vec<u8>>, cells: usize) -> Vec<u8> {
    let mut sst = b"<sst>".to_vec();
    for s in &strings {
        sst.extend_from_slice(b"<si><t>");
        sst.extend_from_slice(s);
        sst.extend_from_slice(b"</t></si>");
    }
    sst.extend_from_slice(b"</sst>");
    let mut sheet = b"<worksheet><sheetData>".to_vec();
    for r in 1..=cells {
        let i = (r - 1) % strings.len();
        write!(
            sheet,
            "<row r=\"{r}\"><c r=\"A{r}\" t=\"s\"><v>{i}</v></c></row>"
        )
        .unwrap();
    }
    sheet.extend_from_slice(b"</sheetData></worksheet>");
    zip(&[
        ("[Content_Types].xml", CT.as_bytes().to_vec()),
        ("xl/workbook.xml", br#"<workbook xmlns:r="r"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_vec()),
        ("xl/_rels/workbook.xml.rels", br#"<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>"#.to_vec()),
        ("xl/sharedStrings.xml", sst),
        ("xl/worksheets/sheet1.xml", sheet),
    ])
}

fn docx(text: Vec<u8>) -> Vec<u8> {
    let mut doc = br#"<w:document xmlns:w="w"><w:body>"#.to_vec();
    for para in text.chunks(4096) {
        doc.extend_from_slice(b"<w:p><w:r><w:t>");
        doc.extend_from_slice(para);
        doc.extend_from_slice(b"</w:t></w:r></w:p>");
    }
    doc.extend_from_slice(b"</w:body></w:document>");
    zip(&[
        ("[Content_Types].xml", CT.as_bytes().to_vec()),
        ("word/document.xml", doc),
    ])
}

/// One paragraph of random letters, repeated, each copy with a few random
/// letters of its own: text that deflates well, but under the 100:1 ratio
/// limit.
fn repeated(n: usize) -> Vec<u8> {
    let para = noise(4000, 5);
    let mut out = Vec::with_capacity(n);
    let mut i = 0u32;
    while out.len() < n {
        out.extend_from_slice(&para);
        out.push(b' ');
        out.extend(noise(40, i));
        out.push(b' ');
        i += 1;
    }
    out.truncate(n);
    out
}

/// Runs `dlpd scan` on `path`; (seconds, peak RSS in MiB, exit code, why
/// it was skipped or only partly scanned).
fn measure(dir: &Path, path: &Path) -> (f64, f64, i32, String) {
    let config = dir.join("dlpd.toml");
    std::fs::write(
        &config,
        format!(
            "[output]\nstate_dir = \"{}\"\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    let start = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dlpd"));
    cmd.args([
        "--config",
        config.to_str().unwrap(),
        "scan",
        "--no-store",
        path.to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(dir.join("stderr")).unwrap());
    // Forked, not vforked (a pre_exec hook makes std fork): a vforked
    // child's peak RSS would start at this process's, which built
    // gigabytes of test data.
    // SAFETY: the hook does nothing.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| Ok(()));
    }
    // Reaped by wait4 below, which also gives its resource usage.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child; `usage` is written by the call.
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let secs = start.elapsed().as_secs_f64();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    let log = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    let why = log
        .lines()
        .find_map(|l| {
            l.split_once("skipped: ")
                .or_else(|| l.split_once("partly scanned: "))
        })
        .map(|(_, why)| why.split(" path=").next().unwrap_or(why).to_string())
        .unwrap_or_default();
    (secs, usage.ru_maxrss as f64 / 1024.0, code, why)
}

fn main() {
    println!("dlpd hostile-document benchmark (dlpd scan, peak RSS of dlpd and its PDF child)");
    let dir = tempfile::tempdir().unwrap();
    let mib = 1usize << 20;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "PDF, a stream inflating to 6 GiB",
            pdf_writer::one_page(
                deflate((0..6 * 1024).map(|_| vec![b' '; mib])),
                " /Filter /FlateDecode",
            ),
        ),
        (
            "PDF, one page drawing a 1 MB content stream 4,000 times",
            pdf_writer::drawn_repeatedly(&b"1 0 0 1 0 0 cm ".repeat(70_000), 4000),
        ),
        (
            "xlsx, 16,000 cells repeating a 1 MB shared string",
            xlsx(vec![noise(mib, 7)], 16_000),
        ),
        (
            "docx, 900 MB of text in document.xml",
            docx(repeated(900 * mib)),
        ),
    ];
    for (what, hostile) in cases {
        let normal = match what.split(',').next().unwrap() {
            "PDF" => {
                let n = hostile.len();
                let mut content = b"BT /F1 12 Tf 72 720 Td (".to_vec();
                content.extend(noise(n, 3));
                content.extend_from_slice(b") Tj ET");
                pdf_writer::one_page(content, "")
            }
            "xlsx" => xlsx(
                (0..16_000)
                    .map(|i| noise(hostile.len() / 16_000, i))
                    .collect(),
                16_000,
            ),
            _ => docx(noise(hostile.len(), 9)),
        };
        for (kind, bytes) in [("hostile", &hostile), ("normal", &normal)] {
            let path = dir.path().join(format!(
                "{kind}.{}",
                what.split(',').next().unwrap().to_lowercase()
            ));
            std::fs::write(&path, bytes).unwrap();
            let (secs, rss, code, why) = measure(dir.path(), &path);
            println!(
                "{what}: {kind:7} {:6.2} MB: {secs:6.2} s, peak RSS {rss:6.1} MiB, exit {code} {why}",
                bytes.len() as f64 / 1e6
            );
        }
    }
}

//! The engine bench's trees as users have them: `dlpd scan` beside `rg -z`
//! with the same patterns ([`engine_peers::rg_patterns`]), on one thread
//! and on all, over files every Linux machine holds (documentation, much
//! of it gzipped, C headers, Python's library) and over 100,000 small
//! files. dlpd reads inside the compressed files, archives, office
//! documents and PDFs among them; ripgrep with `-z` reads inside the
//! compressed files and greps the rest as bytes.

use std::path::{Path, PathBuf};

use super::engine_peers;

/// Directories of real files, those of them this machine has.
pub fn real_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = ["/usr/share/doc", "/usr/include", "/usr/lib/python3"]
        .iter()
        .map(PathBuf::from)
        .collect();
    // Python's standard library: /usr/lib/python3.N.
    if let Ok(dir) = std::fs::read_dir("/usr/lib") {
        let mut versions: Vec<PathBuf> = dir
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3."))
            .map(|e| e.path())
            .collect();
        versions.sort();
        roots.extend(versions.pop());
    }
    roots.retain(|r| r.is_dir());
    roots
}

/// 100,000 files of 1 to 4 KB in 100 directories, 3% of lines sensitive.
pub fn small_tree(dir: &Path) {
    for d in 0..100 {
        let size = 1024 * (1 + d % 4);
        super::corpus(
            &dir.join(format!("d{d:03}")),
            1000 * size,
            size,
            &[0, 1, 2, 3],
            30,
            100 + d as u64,
        );
    }
}

/// Regular files under `roots` (symlinks not followed): count and bytes.
pub fn tree_size(roots: &[PathBuf]) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                files += 1;
                bytes += meta.len();
                // Into the page cache, as for every other corpus.
                let _ = std::fs::read(e.path());
            }
        }
    }
    (files, bytes)
}

/// Prints dlpd's and ripgrep's speed on `roots`, on one thread and on
/// `cores`, best of 3, and the ratios (above 1: dlpd is faster).
pub fn compare(work: &Path, label: &str, roots: &[PathBuf], cores: usize) {
    let (files, bytes) = tree_size(roots);
    println!("{label}: {files} files, {} MB", bytes / 1_000_000);
    let config = engine_peers::write_config(&work.join("trees"), None);
    let targets: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    let mut threads = vec![1];
    if cores > 1 {
        threads.push(cores);
    }
    for t in threads {
        let dlpd = (0..3)
            .map(|_| engine_peers::run_dlpd(&config, &targets, t, true))
            .fold(f64::MAX, f64::min);
        let rg = (0..3)
            .filter_map(|_| engine_peers::run_rg(&targets, t, true))
            .map(|(secs, _)| secs)
            .reduce(f64::min);
        let rate = |secs: f64| bytes as f64 / 1e6 / secs;
        let per_sec = |secs: f64| files as f64 / secs;
        match rg {
            Some(rg) => println!(
                "  {t} thread(s): dlpd scan {dlpd:.2} s ({:.0} MB/s, {:.0} files/s); rg -z {rg:.2} s ({:.0} MB/s); ratio dlpd/rg {:.2}x",
                rate(dlpd),
                per_sec(dlpd),
                rate(rg),
                rg / dlpd
            ),
            None => println!(
                "  {t} thread(s): dlpd scan {dlpd:.2} s ({:.0} MB/s); rg not found (apt-get install ripgrep)",
                rate(dlpd)
            ),
        }
    }
}

/// dlpd's speed per byte on the PDFs under `roots` (gzipped ones
/// inflated first) against its speed on as many bytes of plain text from
/// the same trees, one thread, best of 3. The target is a tenth.
pub fn pdf_speed(work: &Path, roots: &[PathBuf]) {
    let (pdfs, text) = (work.join("pdfs"), work.join("pdf-text"));
    let _ = std::fs::remove_dir_all(&pdfs);
    let _ = std::fs::remove_dir_all(&text);
    std::fs::create_dir_all(&pdfs).unwrap();
    std::fs::create_dir_all(&text).unwrap();
    let (mut count, mut bytes) = (0, 0usize);
    let mut plain = Vec::new();
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let (path, name) = (e.path(), e.file_name().to_string_lossy().into_owned());
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let pdf = if name.ends_with(".pdf") {
                std::fs::read(&path).ok()
            } else if name.ends_with(".pdf.gz") {
                let mut out = Vec::new();
                std::fs::File::open(&path)
                    .ok()
                    .and_then(|f| {
                        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(f), &mut out)
                            .ok()
                    })
                    .map(|_| out)
            } else {
                if name.ends_with(".h") || name.ends_with(".py") {
                    plain.extend(std::fs::read(&path).unwrap_or_default());
                }
                None
            };
            if let Some(pdf) = pdf.filter(|p| p.starts_with(b"%PDF-")) {
                count += 1;
                bytes += pdf.len();
                std::fs::write(pdfs.join(format!("{count}.pdf")), pdf).unwrap();
            }
        }
    }
    if count == 0 {
        println!("PDFs: none under the real-file directories here");
        return;
    }
    plain.truncate(bytes);
    std::fs::write(text.join("text.txt"), &plain).unwrap();
    let config = engine_peers::write_config(&work.join("pdf-config"), None);
    let best = |dir: &Path| {
        (0..3)
            .map(|_| engine_peers::run_dlpd(&config, &[dir], 1, true))
            .fold(f64::MAX, f64::min)
    };
    let (pdf_secs, text_secs) = (best(&pdfs), best(&text));
    let rate = |secs: f64| bytes as f64 / 1e6 / secs;
    println!(
        "PDFs: {count} files, {:.1} MB: dlpd scan, 1 thread, {pdf_secs:.2} s ({:.1} MB/s); \
         the same bytes of plain text {text_secs:.3} s ({:.0} MB/s); PDF at {:.2} of the text speed",
        bytes as f64 / 1e6,
        rate(pdf_secs),
        rate(text_secs),
        text_secs / pdf_secs
    );
}

//! PDFs through `dlpd scan`: text drawn on each page is found and named by
//! page, in a file or in an archive; a damaged PDF is a skip reason.

mod support;

use std::io::Write;

use support::Env;

/// A PDF with one page per string, each drawn in Helvetica.
fn pdf_bytes(pages: &[&str]) -> Vec<u8> {
    let n = pages.len();
    // Objects: 1 catalog, 2 pages, 3 font, then page and contents pairs.
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {n} >>",
            (0..n)
                .map(|i| format!("{} 0 R", 4 + 2 * i))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
    ];
    for (i, text) in pages.iter().enumerate() {
        let content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R \
             /Resources << /Font << /F1 3 0 R >> >> >>",
            5 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    let objects: Vec<Vec<u8>> = objects.into_iter().map(String::into_bytes).collect();
    support::pdf::assemble(&objects)
}

#[test]
fn pdf_text_is_scanned_and_findings_name_their_page() {
    let env = Env::new();
    let pdf = pdf_bytes(&[
        "Quarterly notes, nothing here",
        "Employee SSN 536-22-1234",
        "card 4539 1488 0343 6467",
    ]);
    let path = env.write("report.pdf", &pdf);
    let (found, err) = env.scan_members(&path);
    assert_eq!(
        found,
        [
            ("page 2".into(), "US_SOCIAL_SECURITY_NUMBER".into()),
            ("page 3".into(), "CREDIT_CARD_NUMBER".into()),
        ],
        "{err}"
    );

    // In a zip, the page follows the member's name.
    let mut zip = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut zip);
        z.start_file("docs/report.pdf", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(&pdf).unwrap();
        z.finish().unwrap();
    }
    let path = env.write("bundle.zip", zip.into_inner());
    let (found, err) = env.scan_members(&path);
    assert_eq!(found.len(), 2, "{err}");
    assert_eq!(found[0].0, "docs/report.pdf!page 2");
}

#[test]
fn damaged_pdfs_are_skipped_with_a_reason_and_no_panic() {
    let env = Env::new();
    let pdf = pdf_bytes(&["Employee SSN 536-22-1234"]);
    let cases: [(&str, Vec<u8>); 3] = [
        ("cut.pdf", pdf[..pdf.len() / 2].to_vec()),
        (
            "junk.pdf",
            b"%PDF-1.7\n\x00\x01garbage that is not a PDF body".to_vec(),
        ),
        (
            "no-xref.pdf",
            b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n".to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let path = env.write(name, &bytes);
        let run = env.run(&["scan", "--format", "jsonl", path.to_str().unwrap()]);
        assert!(run.jsonl().is_empty(), "{name}");
        let err = run.stderr();
        assert!(err.contains("no text extracted: PDF:"), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn mutated_pdfs_never_panic_the_engine() {
    use dlpd::engine::{Engine, Outcome};
    let pdf = pdf_bytes(&["Employee SSN 536-22-1234"]);
    let engine = dlpd::engine::LocalEngine::new(&dlpd::config::ScannerConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pdf");
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut scanned, mut skipped) = (0, 0);
    for i in 0..400 {
        let mut b = pdf.clone();
        for _ in 0..1 + rnd() % 4 {
            let at = rnd() as usize % b.len();
            b[at] = rnd() as u8;
        }
        if i % 3 == 0 {
            b.truncate((rnd() as usize % b.len()).max(10));
        }
        std::fs::write(&path, &b).unwrap();
        // The parser panics on some of these; scan_path must not.
        match engine.scan_path(&path, Default::default()).outcome {
            Outcome::Scanned { .. } => scanned += 1,
            Outcome::Skipped(_) => skipped += 1,
            Outcome::Failed(why) => panic!("{why}"),
        }
    }
    assert!(
        scanned > 0 && skipped > 0,
        "{scanned} scanned, {skipped} skipped"
    );
}

//! PDFs through `dlpd scan`: text drawn on each page is found and named by
//! page, in a file or in an archive; a damaged PDF is a skip reason.

mod support;

use std::io::Write;

use support::Env;
use support::docs::pdf_bytes;

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

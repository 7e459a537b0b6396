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

/// The text layouts real PDFs use: a two-byte font mapped by its
/// `ToUnicode` table, kerning inside a `TJ` array, a form XObject with
/// fonts of its own, and an inline image whose data holds `EI`.
#[test]
fn text_in_mapped_fonts_kerned_arrays_and_forms_is_found() {
    let env = Env::new();
    // Codes 0x0010-0x0019 are the digits, 0x0002 a hyphen.
    let cmap = b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
        /CMapName /Mapped def\n/CMapType 2 def\n\
        1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n\
        1 beginbfchar\n<0002> <002D>\nendbfchar\n\
        1 beginbfrange\n<0010> <0019> <0030>\nendbfrange\n\
        endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n";
    let ssn: String = "536-22-1234"
        .bytes()
        .map(|b| match b {
            b'-' => "0002".to_string(),
            d => format!("{:04X}", 0x10 + u32::from(d - b'0')),
        })
        .collect();
    let page = format!(
        "BT /F1 11 Tf 72 700 Td (Employee SSN) Tj /F2 11 Tf 80 0 Td <{ssn}> Tj ET\n\
         BI /W 4 /H 1 /BPC 8 /CS /G ID \x01EI(\x02 EI\n\
         BT /F1 11 Tf 72 680 Td [(SSN )-500(078-4)-15(3-5521)] TJ ET\n\
         /X1 Do"
    );
    let form = b"BT /F9 10 Tf 72 600 Td (card 4916-6734-7572-5015) Tj ET";
    let pdf = support::pdf::assemble(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
           /Resources << /Font << /F1 5 0 R /F2 6 0 R >> /XObject << /X1 8 0 R >> >> >>"
            .to_vec(),
        stream("", page.as_bytes()),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
        b"<< /Type /Font /Subtype /Type0 /BaseFont /Mapped /Encoding /Identity-H \
           /ToUnicode 7 0 R >>"
            .to_vec(),
        stream("", cmap),
        stream(
            "/Type /XObject /Subtype /Form /BBox [0 0 612 792] \
             /Resources << /Font << /F9 5 0 R >> >>",
            form,
        ),
    ]);
    let path = env.write("layouts.pdf", &pdf);
    let (found, err) = env.scan_members(&path);
    let found: Vec<&str> = found.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(
        found,
        [
            "US_SOCIAL_SECURITY_NUMBER",
            "US_SOCIAL_SECURITY_NUMBER",
            "CREDIT_CARD_NUMBER"
        ],
        "{err}"
    );
}

/// A font read through its `ToUnicode` map although it names an encoding
/// of glyphs lopdf does not know, selected by an escaped name in one
/// content stream and used in the next, with a code mapped to NUL (which
/// made the page look binary).
#[test]
fn a_mapped_font_is_read_through_its_map_across_a_pages_streams() {
    let env = Env::new();
    let cmap = b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
        /CMapName /Glyphs def\n/CMapType 2 def\n\
        1 begincodespacerange\n<00> <FF>\nendcodespacerange\n\
        2 beginbfchar\n<0B> <002D>\n<0C> <0000>\nendbfchar\n\
        1 beginbfrange\n<01> <0A> <0030>\nendbfrange\n\
        endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n";
    let glyphs: String = (1..=12).map(|g| format!("/g{g} ")).collect();
    let pdf = support::pdf::assemble(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [4 0 R 5 0 R] \
           /Resources << /Font << /F1 6 0 R /F2 7 0 R >> >> >>"
            .to_vec(),
        stream(
            "",
            b"BT /F1 11 Tf 72 700 Td (Employee SSN) Tj /F#32 11 Tf 80 0 Td",
        ),
        stream("", b"<0C0604070B03030B02030405> Tj ET"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
        format!(
            "<< /Type /Font /Subtype /Type1 /BaseFont /Subset \
             /Encoding << /Type /Encoding /Differences [1 {glyphs}] >> /ToUnicode 8 0 R >>"
        )
        .into_bytes(),
        stream("", cmap),
    ]);
    let path = env.write("glyphs.pdf", &pdf);
    let (found, err) = env.scan_members(&path);
    let found: Vec<&str> = found.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(found, ["US_SOCIAL_SECURITY_NUMBER"], "{err}");
}

/// A stream object: `dict`'s entries, its length, and `body`.
fn stream(dict: &str, body: &[u8]) -> Vec<u8> {
    [
        format!("<< {dict} /Length {} >>\nstream\n", body.len()).into_bytes(),
        body.to_vec(),
        b"\nendstream".to_vec(),
    ]
    .concat()
}

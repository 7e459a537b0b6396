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
    let ssn = mapped_codes("536-22-1234");
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
        stream("", MAPPED_CMAP),
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

/// A `ToUnicode` map of two-byte codes: 0x0010-0x0019 are the digits,
/// 0x0002 a hyphen.
const MAPPED_CMAP: &[u8] = b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
    /CMapName /Mapped def\n/CMapType 2 def\n\
    1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n\
    1 beginbfchar\n<0002> <002D>\nendbfchar\n\
    1 beginbfrange\n<0010> <0019> <0030>\nendbfrange\n\
    endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n";

/// `text` (digits and hyphens) in [`MAPPED_CMAP`]'s codes, as hex.
fn mapped_codes(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'-' => "0002".to_string(),
            d => format!("{:04X}", 0x10 + u32::from(d - b'0')),
        })
        .collect()
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

/// A content stream under each of the standard filters, by either name,
/// is read; one dlpd cannot undo, or nine forms deep, is a skip reason,
/// not a clean page; a page whose /Parent is broken keeps its own
/// resources; and a PDF member that cannot be read is named among what an
/// archive left unseen.
#[test]
fn every_content_filter_is_undone_and_what_cannot_be_read_is_said() {
    let env = Env::new();
    let card = b"BT /F1 12 Tf 72 720 Td (4916-6734-7572-5015) Tj ET";
    let hex: String = card.iter().map(|b| format!("{b:02x} ")).collect();
    // Run length: the first 10 bytes as they are, a run of four spaces,
    // the rest as they are.
    let mut rl = vec![9];
    rl.extend_from_slice(&card[..10]);
    rl.extend_from_slice(&[253, b' ', (card.len() - 11) as u8]);
    rl.extend_from_slice(&card[10..]);
    rl.push(128);
    // PNG's "up" predictor over rows of 10 bytes, its parameters in an
    // array beside the filter's; TIFF's over rows of 16.
    let up: Vec<u8> = card
        .chunks(10)
        .enumerate()
        .flat_map(|(r, row)| {
            let above = move |i: usize| if r == 0 { 0 } else { card[(r - 1) * 10 + i] };
            std::iter::once(2).chain(
                row.iter()
                    .enumerate()
                    .map(move |(i, b)| b.wrapping_sub(above(i))),
            )
        })
        .collect();
    let sub: Vec<u8> = card
        .chunks(16)
        .flat_map(|row| {
            (0..row.len()).map(move |i| row[i].wrapping_sub(if i == 0 { 0 } else { row[i - 1] }))
        })
        .collect();
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "png.pdf",
            zlib(&up),
            " /Filter [/FlateDecode] /DecodeParms [<< /Predictor 12 /Columns 10 >>]",
        ),
        (
            "tiff.pdf",
            zlib(&sub),
            " /Filter /Fl /DecodeParms << /Predictor 2 /Columns 16 >>",
        ),
        ("hex.pdf", hex.into_bytes(), " /Filter /ASCIIHexDecode"),
        (
            "ahx.pdf",
            format!("{}>", hex_of(card)).into_bytes(),
            " /Filter /AHx",
        ),
        ("rl.pdf", rl, " /Filter [/RL]"),
        (
            "fl-parms.pdf",
            zlib(card),
            " /Filter /Fl /DecodeParms << /Predictor 1 >>",
        ),
    ];
    for (name, stream, filter) in cases {
        let path = env.write(name, support::pdf::one_page(stream, filter));
        let (found, err) = env.scan_members(&path);
        assert_eq!(found.len(), 1, "{name}: {err}");
        assert_eq!(found[0].1, "CREDIT_CARD_NUMBER", "{name}: {err}");
    }

    let unknown = env.write(
        "unknown.pdf",
        support::pdf::one_page(card.to_vec(), " /Filter /Bogus"),
    );
    let run = env.run(&["scan", unknown.to_str().unwrap()]);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    assert!(run.stderr().contains("/Bogus"), "{}", run.stderr());
    // Such a stream costs itself alone: the next page is read, and the
    // report says what was not.
    let font = "/Resources << /Font << /F1 7 0 R >> >>";
    let two = support::pdf::assemble(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R 5 0 R] /Count 2 >>".to_vec(),
        format!("<< /Type /Page /Parent 2 0 R /Contents 4 0 R {font} >>").into_bytes(),
        stream("/Filter /Bogus", card),
        format!("<< /Type /Page /Parent 2 0 R /Contents 6 0 R {font} >>").into_bytes(),
        stream("", card),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ]);
    let path = env.write("two.pdf", &two);
    let run = env.run(&["scan", "--format", "jsonl", path.to_str().unwrap()]);
    let stderr = run.stderr();
    assert_eq!(run.code(), 1, "{stderr}");
    assert_eq!(run.jsonl().len(), 1, "{stderr}");
    assert_eq!(run.jsonl()[0]["member"], "page 2", "{stderr}");
    assert!(
        stderr.contains("partly scanned: PDF: page 1: a content stream's filter /Bogus"),
        "{stderr}"
    );

    // Nine forms, each drawing the next; the last draws the card.
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> /XObject << /X 6 0 R >> >> >>".to_vec(),
        stream("", b"/X Do"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    for form in 6..15 {
        let next = form + 1;
        objects.push(stream(
            &format!(
                "/Subtype /Form /Resources << /Font << /F1 5 0 R >> /XObject << /X {next} 0 R >> >>"
            ),
            if form == 14 { card } else { b"/X Do" },
        ));
    }
    let deep = env.write("deep.pdf", support::pdf::assemble(&objects));
    // Eight deep, the last drawing an image: read, not refused.
    let mut shallow = objects.clone();
    shallow[12] = stream(
        "/Subtype /Form /Resources << /Font << /F1 5 0 R >> /XObject << /X 14 0 R >> >>",
        &[card.as_slice(), b" /X Do"].concat(),
    );
    shallow[13] = stream(
        "/Subtype /Image /Width 1 /Height 1 /BitsPerComponent 8 /ColorSpace /DeviceGray",
        b"\x00",
    );
    let path = env.write("shallow.pdf", support::pdf::assemble(&shallow));
    let (found, err) = env.scan_members(&path);
    assert_eq!(found.len(), 1, "{err}");
    let run = env.run(&["scan", deep.to_str().unwrap()]);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    assert!(run.stderr().contains("8 deep"), "{}", run.stderr());

    // The page's parent is missing; its own resources still hold the form.
    let orphan = support::pdf::assemble(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 99 0 R /Contents 4 0 R /Resources << /XObject << /X 5 0 R >> >> >>".to_vec(),
        stream("", b"/X Do"),
        stream(
            "/Subtype /Form /Resources << /Font << /F1 6 0 R >> >>",
            card,
        ),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ]);
    let path = env.write("orphan.pdf", &orphan);
    let (found, err) = env.scan_members(&path);
    assert_eq!(found.len(), 1, "{err}");

    // A page without /Type, behind a page tree padded with junk: a reader
    // draws it, so it is read.
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [9 0 R 9 0 R 9 0 R 9 0 R 9 0 R 9 0 R 9 0 R 9 0 R 9 0 R 9 0 R 3 0 R] /Count 2 >>".to_vec(),
        b"<< /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        stream("", card),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    objects.extend((6..10).map(|_| b"<< /Type /Junk >>".to_vec()));
    let path = env.write("untyped.pdf", support::pdf::assemble(&objects));
    let (found, err) = env.scan_members(&path);
    assert_eq!(found.len(), 1, "{err}");
    assert_eq!(found[0].0, "page 1", "junk in /Kids is no page: {err}");

    // A card, then more strings than any text operator shows: said, not
    // dropped.
    let mut many = b"BT /F1 12 Tf [(4916-6734-7572-5015)".to_vec();
    many.extend(b"(x)".repeat(70_000));
    many.extend(b"] TJ ET");
    let path = env.write("many.pdf", support::pdf::one_page(many, ""));
    let run = env.run(&["scan", path.to_str().unwrap()]);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    assert!(
        run.stderr().contains("strings in a row"),
        "{}",
        run.stderr()
    );

    // In an archive: an unreadable PDF, and one read in part, are named;
    // the card beside them is found.
    let cut = &two[..two.len() / 2];
    let zip = support::docs::zip_bytes(&[
        ("docs/unknown.pdf", &std::fs::read(&unknown).unwrap()),
        ("docs/cut.pdf", cut),
        ("notes.txt", b"card 4916-6734-7572-5015"),
    ]);
    let path = env.write("docs.zip", &zip);
    let run = env.run(&["scan", path.to_str().unwrap()]);
    let stderr = run.stderr();
    assert_eq!(run.code(), 1, "{stderr}");
    assert!(stderr.contains("partly scanned"), "{stderr}");
    assert!(
        stderr.contains("docs/cut.pdf: no text extracted"),
        "{stderr}"
    );
    assert!(
        stderr.contains("docs/unknown.pdf: PDF: page 1: a content stream's filter /Bogus"),
        "{stderr}"
    );
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// What was typed into a form's fields, and an annotation's note in
/// UTF-16, are found though no page draws them; binary strings (an ID)
/// add nothing.
#[test]
fn form_field_values_and_notes_are_read_outside_the_pages() {
    let env = Env::new();
    let utf16: String = "card 4916-6734-7572-5015"
        .encode_utf16()
        .map(|u| format!("{u:04X}"))
        .collect();
    let pdf = support::pdf::assemble(&[
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [6 0 R] >> >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Annots [6 0 R 7 0 R] /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        stream("", b"BT /F1 12 Tf 72 720 Td (Social security number:) Tj ET"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
        b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (ssn) /V (536-22-1234) /Rect [200 700 400 720] /P 3 0 R >>".to_vec(),
        format!("<< /Type /Annot /Subtype /Text /Contents <FEFF{utf16}> /Rect [0 0 10 10] >>").into_bytes(),
        b"<< /ID <8F3A9B00017FEE12C4D09A1B3C4D5E6F> >>".to_vec(),
    ]);
    let path = env.write("form.pdf", &pdf);
    let run = env.run(&["scan", "--format", "jsonl", path.to_str().unwrap()]);
    let found: Vec<(String, String)> = run
        .jsonl()
        .iter()
        .map(|v| {
            let member = v["member"].as_str().unwrap_or("").to_string();
            (member, v["detector"]["id"].as_str().unwrap().to_string())
        })
        .collect();
    let outside = "fields, notes and properties".to_string();
    assert_eq!(
        found,
        [
            (outside.clone(), "US_SOCIAL_SECURITY_NUMBER".to_string()),
            (outside, "CREDIT_CARD_NUMBER".to_string()),
        ],
        "{}",
        run.stderr()
    );
}

/// Fonts as real files write them, which lopdf alone read as nothing: a
/// font dictionary with no /Type, given directly in the page's resources,
/// an encoding with no /Type whose /Differences name glyphs lopdf does not
/// know (`/g1`, `/four.lf`, `/uni0033`) beside ones it does, and a direct
/// font read through its `ToUnicode` map.
#[test]
fn fonts_without_types_or_with_unknown_glyph_names_are_read() {
    let env = Env::new();
    let card = mapped_codes("4916-6734-7572-5015");
    let page = format!(
        "BT /F1 11 Tf 72 700 Td (Employee SSN ) Tj \
         /F2 11 Tf (\\001\\002\\003\\004\\005\\006\\006\\005\\010\\006\\011\\007) Tj ET\n\
         BT /F3 11 Tf 72 680 Td <{card}> Tj ET"
    );
    let pdf = support::pdf::assemble(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R \
           /F2 << /Subtype /Type1 /BaseFont /Subset /Encoding << /Differences \
           [1 /g1 /five /three /six /hyphen /two /four.lf /one /uni0033] >> >> \
           /F3 << /Subtype /Type0 /BaseFont /Mapped /Encoding /Identity-H /ToUnicode 6 0 R >> \
           >> >> >>"
            .to_vec(),
        stream("", page.as_bytes()),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
        stream("", MAPPED_CMAP),
    ]);
    let path = env.write("fonts.pdf", &pdf);
    let (found, err) = env.scan_members(&path);
    let found: Vec<&str> = found.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(
        found,
        ["US_SOCIAL_SECURITY_NUMBER", "CREDIT_CARD_NUMBER"],
        "{err}"
    );
}

/// Past the 4,096 fonts whose decoders are kept, a form that selects one
/// more leaves the page's font as it was: the page's text after the form
/// is read in it (the index kept for it once pointed past the list).
#[test]
fn a_form_past_the_font_limit_leaves_the_pages_font_readable() {
    let env = Env::new();
    let fonts: String = (0..4096)
        .map(|i| format!("/F{i} << /Subtype /Type1 /BaseFont /Helvetica /FirstChar {i} >> "))
        .collect();
    let mut page = String::from("BT ");
    for i in 0..4096 {
        page.push_str(&format!("/F{i} 12 Tf (x) Tj "));
    }
    page.push_str("/X Do ET BT (4916-6734-7572-5015) Tj ET");
    let pdf = support::pdf::assemble(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!("<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << {fonts}>> /XObject << /X 5 0 R >> >> >>").into_bytes(),
        stream("", page.as_bytes()),
        stream(
            "/Subtype /Form /Resources << /Font << /G << /Subtype /Type1 /BaseFont /Courier >> >> >>",
            b"/G 12 Tf (y) Tj",
        ),
    ]);
    let path = env.write("fonts.pdf", &pdf);
    let (found, err) = env.scan_members(&path);
    let found: Vec<&str> = found.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(found, ["CREDIT_CARD_NUMBER"], "{err}");
}

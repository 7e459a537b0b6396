//! Documents and archives the tests build by hand: zip, tar and gzip
//! files, a docx and an xlsx with findings in their text, and PDFs with
//! text drawn on each page. Also the seeds the fuzz tests mutate.

use std::io::Write;

pub fn zip_bytes(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in members {
            z.start_file(*name, opts).unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap();
    }
    out.into_inner()
}

pub fn gz_bytes(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn tar_bytes(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub const CT: (&str, &[u8]) = (
    "[Content_Types].xml",
    br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#,
);

/// A docx whose SSN is split across three runs, as Word writes edits.
pub fn docx() -> Vec<u8> {
    zip_bytes(&[
        CT,
        (
            "word/document.xml",
            br#"<?xml version="1.0" encoding="UTF-8"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
<w:p><w:r><w:t>Employee file &amp; notes</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">SSN: 536-</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>22-</w:t></w:r><w:r><w:t>1234</w:t></w:r></w:p>
</w:body></w:document>"#,
        ),
        (
            "word/footer1.xml",
            br#"<w:ftr xmlns:w="x"><w:p><w:r><w:t>card 4539 1488 0343 6467</w:t></w:r></w:p></w:ftr>"#,
        ),
        // Markup only: never scanned.
        ("word/styles.xml", b"<w:styles>4539 1488 0343 6467</w:styles>"),
    ])
}

pub fn xlsx() -> Vec<u8> {
    zip_bytes(&[
        CT,
        (
            "xl/workbook.xml",
            br#"<workbook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>
<sheet name="Summary" sheetId="1" r:id="rId1"/><sheet name="Payroll" sheetId="2" r:id="rId2"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            br#"<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Target="/xl/worksheets/sheet2.xml"/></Relationships>"#,
        ),
        (
            "xl/sharedStrings.xml",
            br#"<sst><si><t>name</t></si><si><t>card</t></si><si><t>4539 1488 0343 6467</t></si><si><t>ssn 536-22-1234</t></si></sst>"#,
        ),
        (
            "xl/worksheets/sheet1.xml",
            br#"<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>"#,
        ),
        (
            "xl/worksheets/sheet2.xml",
            br#"<worksheet><sheetData>
<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>
<row r="7"><c r="A7" t="inlineStr"><is><t>Jane</t></is></c><c r="B7" t="s"><v>2</v></c></row>
<row r="9"><c r="AA9" t="s"><v>3</v></c></row>
</sheetData></worksheet>"#,
        ),
    ])
}

/// A PDF with one page per string, each drawn in Helvetica.
pub fn pdf_bytes(pages: &[&str]) -> Vec<u8> {
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
    super::pdf::assemble(&objects)
}

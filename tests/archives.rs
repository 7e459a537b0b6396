//! Archives through `dlpd scan`: members found by name (nested too), and
//! every malformed or hostile archive skipped with a reason, never a panic.

mod support;

use std::path::PathBuf;

use support::docs::{CT, docx, gz_bytes, tar_bytes, xlsx, zip_bytes};
use support::{Env, SAMPLE_PCI};

const SSN_LINE: &str = "employee ssn 536-22-1234\n";

fn write(env: &Env, name: &str, bytes: &[u8]) -> PathBuf {
    env.write(name, bytes)
}

#[test]
fn members_of_zip_tar_and_gzip_are_scanned_and_named_even_nested() {
    let env = Env::new();
    let inner = zip_bytes(&[("c.txt", SAMPLE_PCI.as_bytes())]);
    let zip = zip_bytes(&[
        ("a.txt", b"nothing here\n"),
        ("dir/b.csv", SSN_LINE.as_bytes()),
        ("inner.zip", &inner),
    ]);
    let path = write(&env, "bundle.zip", &zip);
    let (found, err) = env.scan_members(&path);
    let mut members: Vec<&str> = found.iter().map(|(m, _)| m.as_str()).collect();
    members.dedup();
    assert_eq!(members, ["dir/b.csv", "inner.zip!c.txt"], "{err}");
    assert_eq!(
        found
            .iter()
            .filter(|(_, d)| d == "CREDIT_CARD_NUMBER")
            .count(),
        10
    );

    let tgz = gz_bytes(&tar_bytes(&[
        ("notes/pay.csv", SAMPLE_PCI.as_bytes()),
        ("logs/app.log.gz", &gz_bytes(SSN_LINE.as_bytes())),
    ]));
    let path = write(&env, "backup.tar.gz", &tgz);
    let (found, err) = env.scan_members(&path);
    assert_eq!(found.len(), 11, "{err}");
    assert!(found.contains(&(
        "backup.tar!notes/pay.csv".into(),
        "CREDIT_CARD_NUMBER".into()
    )));
    assert!(found.contains(&(
        "backup.tar!logs/app.log.gz!app.log".into(),
        "US_SOCIAL_SECURITY_NUMBER".into()
    )));

    // Stored: the CSV names the member after its archive.
    let zip = env.path("bundle.zip");
    assert_eq!(
        env.run(&["scan", "--store", zip.to_str().unwrap()]).code(),
        1
    );
    let csv = std::fs::read_to_string(env.state_dir().join("results.csv")).unwrap();
    assert!(csv.contains("bundle.zip!inner.zip!c.txt"), "{csv}");
}

#[test]
fn damaged_and_hostile_archives_are_skipped_with_their_reason() {
    let env = Env::with_config("[scanner]\narchive_max_entries = 5\n");
    let zip = zip_bytes(&[("a.txt", SAMPLE_PCI.as_bytes())]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // A truncated zip (a docx is one too).
        (
            "cut.docx",
            zip[..zip.len() / 2].to_vec(),
            "cannot read it: zip",
        ),
        // 20 MB of zeros in a few KB.
        (
            "bomb.zip",
            zip_bytes(&[("zeros.txt", &vec![0u8; 20 << 20])]),
            "zip bomb?",
        ),
        ("bomb.gz", gz_bytes(&vec![b'a'; 20 << 20]), "gzip bomb?"),
        (
            "many.zip",
            zip_bytes(
                &(0..10)
                    .map(|i| {
                        (
                            ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"][i],
                            &b"x"[..],
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            "archive_max_entries (5)",
        ),
        (
            "cut.gz",
            gz_bytes(SAMPLE_PCI.as_bytes())[..40].to_vec(),
            "cannot read it",
        ),
    ];
    for (name, bytes, reason) in &cases {
        let path = write(&env, name, bytes);
        let (found, err) = env.scan_members(&path);
        assert!(found.is_empty(), "{name}: {found:?}");
        assert!(err.contains(reason), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }

    // Nesting past archive_depth is a limit too.
    let env = Env::with_config("[scanner]\narchive_depth = 1\n");
    let nested = zip_bytes(&[("inner.zip", &zip)]);
    let path = write(&env, "deep.zip", &nested);
    let (found, err) = env.scan_members(&path);
    assert!(found.is_empty());
    assert!(
        err.contains("nested deeper than scanner.archive_depth (1)"),
        "{err}"
    );
    // archive_depth = 0: not opened at all (a zip's bytes are binary).
    let env = Env::with_config("[scanner]\narchive_depth = 0\n");
    let path = write(&env, "plain.zip", &zip);
    let (found, _) = env.scan_members(&path);
    assert!(found.is_empty());
}

#[test]
fn office_documents_are_scanned_as_their_text_with_sheet_row_and_column() {
    let env = Env::new();
    let path = write(&env, "letter.docx", &docx());
    let run = env.run(&["scan", "--format", "jsonl", path.to_str().unwrap()]);
    let found: Vec<(String, String, String)> = run
        .jsonl()
        .iter()
        .map(|v| {
            (
                v["member"].as_str().unwrap().to_string(),
                v["detector"]["id"].as_str().unwrap().to_string(),
                v["beforeContext"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "word/document.xml".into(),
                "US_SOCIAL_SECURITY_NUMBER".into(),
                "Employee file & notes\nSSN: ".into()
            ),
            (
                "word/footer1.xml".into(),
                "CREDIT_CARD_NUMBER".into(),
                "card ".into()
            ),
        ],
        "{}",
        run.stderr()
    );

    let path = write(&env, "staff.xlsx", &xlsx());
    let run = env.run(&["scan", "--format", "jsonl", path.to_str().unwrap()]);
    let cells: Vec<(String, String, u64, u64)> = run
        .jsonl()
        .iter()
        .map(|v| {
            let loc = &v["location"];
            (
                v["member"].as_str().unwrap().to_string(),
                v["detector"]["id"].as_str().unwrap().to_string(),
                loc["rowRange"]["start"].as_u64().unwrap(),
                loc["columnRange"]["start"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cells,
        [
            ("Payroll".into(), "CREDIT_CARD_NUMBER".into(), 7, 2),
            ("Payroll".into(), "US_SOCIAL_SECURITY_NUMBER".into(), 9, 27),
        ],
        "{}",
        run.stderr()
    );

    let pptx = zip_bytes(&[
        CT,
        ("ppt/presentation.xml", b"<p:presentation/>"),
        (
            "ppt/slides/slide2.xml",
            br#"<p:sld><a:p><a:r><a:t>aws_access_key_id = </a:t></a:r><a:r><a:t>AKIAZ7VQ4NMDKP3XWR2T</a:t></a:r></a:p></p:sld>"#,
        ),
    ]);
    let path = write(&env, "deck.pptx", &pptx);
    let (found, err) = env.scan_members(&path);
    assert_eq!(
        found,
        [("ppt/slides/slide2.xml".into(), "API_KEY".into())],
        "{err}"
    );
}

#[test]
fn damaged_office_documents_are_skipped_with_their_reason() {
    let env = Env::new();
    let good = docx();
    let broken_xml = zip_bytes(&[
        CT,
        (
            "word/document.xml",
            b"<w:document><w:body><w:p><w:t>536-22-1234</w:q>",
        ),
    ]);
    let bomb = zip_bytes(&[
        CT,
        ("xl/workbook.xml", b"<workbook/>"),
        ("xl/sharedStrings.xml", &vec![b' '; 20 << 20]),
    ]);
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "truncated.docx",
            &good[..good.len() - 40],
            "cannot read it: zip",
        ),
        (
            "broken.docx",
            &broken_xml,
            "cannot read it: docx: word/document.xml: not well-formed XML",
        ),
        ("bomb.xlsx", &bomb, "zip bomb?"),
    ];
    for (name, bytes, reason) in cases {
        let path = write(&env, name, bytes);
        let (found, err) = env.scan_members(&path);
        assert!(found.is_empty(), "{name}: {found:?}");
        assert!(err.contains(reason), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn a_member_over_a_limit_is_skipped_alone_and_the_gate_fails_closed() {
    let env = Env::with_config("[scanner]\narchive_depth = 1\n");
    let inner = zip_bytes(&[("c.txt", SAMPLE_PCI.as_bytes())]);
    let bomb = vec![0u8; 20 << 20];
    // Before: either member below hid the whole archive (0 findings, exit 0).
    for (name, odd) in [("inner.zip", &inner), ("zeros.txt", &bomb)] {
        let zip = zip_bytes(&[(name, odd), ("secret.txt", SAMPLE_PCI.as_bytes())]);
        let path = write(&env, "mixed.zip", &zip);
        let run = env.run(&["scan", "--format", "jsonl", path.to_str().unwrap()]);
        assert_eq!(run.code(), 1, "{name}: {}", run.stderr());
        let members: Vec<_> = run.jsonl().iter().map(|v| v["member"].clone()).collect();
        assert_eq!(members.len(), 10, "{name}: {members:?}");
        assert!(members.iter().all(|m| m == "secret.txt"), "{members:?}");
        assert!(run.stderr().contains("partly scanned"), "{}", run.stderr());

        // Nothing found, but something unseen: exit 3, not 0.
        let zip = zip_bytes(&[(name, odd), ("notes.txt", b"nothing here\n")]);
        let path = write(&env, "unseen.zip", &zip);
        let run = env.run(&["scan", path.to_str().unwrap()]);
        assert_eq!(run.code(), 3, "{name}: {}", run.stderr());
    }
    // A file skipped whole for a limit leaves the gate closed too.
    let env = Env::with_config("[scanner]\nmax_file_bytes = 10\n");
    let path = write(&env, "big.txt", SAMPLE_PCI.as_bytes());
    assert_eq!(env.run(&["scan", path.to_str().unwrap()]).code(), 3);
}

#[test]
fn a_workbook_whose_cells_repeat_a_huge_shared_string_is_bounded() {
    // One shared string of 1 MB, used by 1,000 cells: a gigabyte of text
    // from a zip of a few KB (before: every cell held its own copy).
    // Letters from a fixed LCG: they do not compress past the ratio limit.
    let mut x = 12345u32;
    let noise: String = (0..1 << 20)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (b'a' + (x >> 16) as u8 % 26) as char
        })
        .collect();
    let big = format!("<sst><si><t>{noise}</t></si><si><t>ssn 536-22-1234</t></si></sst>");
    let cells: String = (1..=1000)
        .map(|r| format!("<row r=\"{r}\"><c r=\"A{r}\" t=\"s\"><v>0</v></c></row>"))
        .collect();
    let sheet = format!("<worksheet><sheetData>{cells}</sheetData></worksheet>");
    let sheet2 = r#"<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>1</v></c></row></sheetData></worksheet>"#;
    let xlsx = zip_bytes(&[
        CT,
        (
            "xl/workbook.xml",
            br#"<workbook xmlns:r="r"><sheets><sheet name="Big" sheetId="1" r:id="rId1"/><sheet name="Small" sheetId="2" r:id="rId2"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            br#"<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Target="worksheets/sheet2.xml"/></Relationships>"#,
        ),
        ("xl/sharedStrings.xml", big.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ("xl/worksheets/sheet2.xml", sheet2.as_bytes()),
    ]);
    let env = Env::new();
    let path = write(&env, "bomb.xlsx", &xlsx);
    // dlpd held to 768 MiB of address space: before, it aborted.
    let run = env.run_in(768 << 20, &["scan", path.to_str().unwrap()]);
    let stderr = run.stderr();
    // The small sheet is still scanned; the big one is named as unseen.
    assert_eq!(run.code(), 1, "{stderr}");
    assert!(stderr.contains("MiB of text in one part"), "{stderr}");
}

#[test]
fn a_document_whose_text_is_over_the_part_cap_is_named_not_held() {
    // 70 MB of text in document.xml, from letters that do not compress
    // past the ratio limit (before: all of it held in memory at once).
    let mut x = 99u32;
    let mut doc = br#"<w:document xmlns:w="w"><w:body>"#.to_vec();
    for _ in 0..70 * 256 {
        doc.extend_from_slice(b"<w:p><w:r><w:t>");
        doc.extend((0..4096).map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            b'a' + ((x >> 16) % 26) as u8
        }));
        doc.extend_from_slice(b"</w:t></w:r></w:p>");
    }
    doc.extend_from_slice(b"</w:body></w:document>");
    let footer = br#"<w:ftr xmlns:w="w"><w:p><w:r><w:t>ssn 536-22-1234</w:t></w:r></w:p></w:ftr>"#;
    let bytes = zip_bytes(&[
        CT,
        ("word/document.xml", &doc),
        ("word/footer1.xml", footer),
    ]);
    let env = Env::new();
    let path = write(&env, "big.docx", &bytes);
    let run = env.run(&["scan", path.to_str().unwrap()]);
    // The footer is still scanned; the body is named as unseen.
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(
        run.stderr()
            .contains("word/document.xml: more than 64 MiB of text in one part"),
        "{}",
        run.stderr()
    );
}

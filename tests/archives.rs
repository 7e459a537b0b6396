//! Archives through `dlpd scan`: members found by name (nested too), and
//! every malformed or hostile archive skipped with a reason, never a panic.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use support::{Env, SAMPLE_PCI};

const SSN_LINE: &str = "employee ssn 536-22-1234\n";

fn zip_bytes(members: &[(&str, &[u8])]) -> Vec<u8> {
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

fn gz_bytes(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn tar_bytes(members: &[(&str, &[u8])]) -> Vec<u8> {
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

/// `dlpd scan --format jsonl` of one file: (member, detector) pairs and stderr.
fn scan(env: &Env, path: &Path) -> (Vec<(String, String)>, String) {
    let run = env.run(&["scan", "--format", "jsonl", path.to_str().unwrap()]);
    let found = run
        .jsonl()
        .iter()
        .map(|v| {
            (
                v["member"].as_str().unwrap_or("").to_string(),
                v["detector"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (found, run.stderr())
}

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
    let (found, err) = scan(&env, &path);
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
    let (found, err) = scan(&env, &path);
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
        let (found, err) = scan(&env, &path);
        assert!(found.is_empty(), "{name}: {found:?}");
        assert!(err.contains(reason), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }

    // Nesting past archive_depth is a limit too.
    let env = Env::with_config("[scanner]\narchive_depth = 1\n");
    let nested = zip_bytes(&[("inner.zip", &zip)]);
    let path = write(&env, "deep.zip", &nested);
    let (found, err) = scan(&env, &path);
    assert!(found.is_empty());
    assert!(
        err.contains("nested deeper than scanner.archive_depth (1)"),
        "{err}"
    );
    // archive_depth = 0: not opened at all (a zip's bytes are binary).
    let env = Env::with_config("[scanner]\narchive_depth = 0\n");
    let path = write(&env, "plain.zip", &zip);
    let (found, _) = scan(&env, &path);
    assert!(found.is_empty());
}

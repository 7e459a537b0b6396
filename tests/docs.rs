//! The docs stay in step with the files they describe: every key in
//! `etc/dlpd.toml` (commented-out examples too) is documented in
//! `docs/configuration.md`, its restart list names real keys, every page the
//! README links to exists, the README stays a short entry point, and
//! `docs/detectors.md` shows the custom rule the tests run.
//!
//! They read files, and the restart list from the reload code itself.

use std::collections::BTreeSet;
use std::path::Path;

/// The README is an entry point; the reference lives in docs/.
const README_MAX_BYTES: usize = 16_000;

/// The package's root, where the files below are.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file under the package's root, as text.
fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// A config key: the table it sits in (`scanner`, `scanner.rules.detectors`)
/// and its name.
type Key = (String, String);

/// The table a header line opens: `[output]`, `[[scanner.rules]]`, or the
/// same commented out (`# [[scanner.rules]]`). `None` for any other line,
/// including prose that merely mentions a table (`see [nightfall] below`).
fn header(line: &str) -> Option<&str> {
    let line = line.trim_start_matches('#').trim();
    let name = line
        .strip_prefix("[[")
        .and_then(|l| l.strip_suffix("]]"))
        .or_else(|| line.strip_prefix('[').and_then(|l| l.strip_suffix(']')))?
        .trim();
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    ok.then_some(name)
}

/// The key a `key = value` line sets, live or commented out
/// (`# api_key_file = "..."`). `None` for prose comments, even ones with an
/// `=` in them (`# Used when [scanner] engine = "nightfall".`).
fn key_name(line: &str) -> Option<&str> {
    let line = line.trim_start_matches('#').trim();
    let (left, right) = line.split_once('=')?;
    let key = left.trim();
    let ok = !key.is_empty()
        && !right.starts_with('=')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    ok.then_some(key)
}

/// Every key set in the file, live or commented out, under the last table
/// header seen before it (commented headers count). Keys before the first
/// header belong to no table and are left out.
fn keys_by_line_scan(text: &str) -> BTreeSet<Key> {
    let mut table: Option<&str> = None;
    let mut keys = BTreeSet::new();
    for line in text.lines() {
        if let Some(name) = header(line) {
            table = Some(name);
        } else if let (Some(table), Some(key)) = (table, key_name(line)) {
            keys.insert((table.to_string(), key.to_string()));
        }
    }
    keys
}

/// Every live key, as the `toml` crate reads the file.
fn keys_by_parse(text: &str) -> BTreeSet<Key> {
    fn walk(prefix: &str, table: &toml::Table, keys: &mut BTreeSet<Key>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(t) => walk(&path, t, keys),
                toml::Value::Array(items)
                    if !items.is_empty() && items.iter().all(toml::Value::is_table) =>
                {
                    for item in items {
                        walk(&path, item.as_table().unwrap(), keys);
                    }
                }
                _ => {
                    keys.insert((prefix.to_string(), key.clone()));
                }
            }
        }
    }
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("etc/dlpd.toml does not parse: {e}"));
    let mut keys = BTreeSet::new();
    walk("", &table, &mut keys);
    keys
}

/// The lines under each heading that names `[table]` (`### [output]`,
/// `### [[scanner.rules]]`), up to the next heading, outside code blocks.
fn sections_naming(doc: &str, table: &str) -> Vec<String> {
    let tag = format!("[{table}]");
    let mut sections = Vec::new();
    let mut current: Option<String> = None;
    let mut in_code = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') {
            sections.extend(current.take());
            if line.contains(&tag) {
                current = Some(String::new());
            }
            continue;
        }
        if let Some(s) = current.as_mut() {
            s.push_str(line);
            s.push('\n');
        }
    }
    sections.extend(current);
    sections
}

/// A key is documented when the doc names it as `table.key` anywhere, or as
/// `key` under a heading that names `[table]`.
fn documented(doc: &str, (table, key): &Key) -> bool {
    doc.contains(&format!("`{table}.{key}`"))
        || sections_naming(doc, table)
            .iter()
            .any(|s| s.contains(&format!("`{key}`")))
}

#[test]
fn every_key_in_the_default_config_is_in_configuration_md() {
    let toml = read("etc/dlpd.toml");
    let doc = read("docs/configuration.md");
    let scanned = keys_by_line_scan(&toml);
    let parsed = keys_by_parse(&toml);

    let unseen: Vec<String> = parsed
        .difference(&scanned)
        .map(|(t, k)| format!("{t}.{k}"))
        .collect();
    assert!(
        unseen.is_empty(),
        "the line scan of etc/dlpd.toml missed keys the toml crate reads: {unseen:?}; \
         fix header() or key_name() in tests/docs.rs"
    );
    assert!(
        scanned.len() > parsed.len(),
        "the line scan found no commented-out keys in etc/dlpd.toml \
         (such as `# api_key_file = ...`); fix key_name() in tests/docs.rs"
    );

    let missing: Vec<String> = scanned
        .iter()
        .filter(|k| !documented(&doc, k))
        .map(|(t, k)| format!("`{t}.{k}` (key `{k}` of [{t}])"))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not document these keys of etc/dlpd.toml:\n  {}\n\
         Edit docs/configuration.md: name each as `table.key`, or as `key` under a \
         heading that names `[table]`.",
        missing.join("\n  ")
    );
}

#[test]
fn the_restart_list_names_keys_of_the_default_config() {
    let toml = read("etc/dlpd.toml");
    let doc = read("docs/configuration.md");
    let keys = keys_by_line_scan(&toml);
    let tables: BTreeSet<&str> = keys.iter().map(|(t, _)| t.as_str()).collect();

    let section = doc
        .split("\n## Keys that need a restart\n")
        .nth(1)
        .expect("docs/configuration.md has no `## Keys that need a restart` section");
    let section = section.split("\n#").next().unwrap();
    let entries: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    assert!(
        !entries.is_empty(),
        "`## Keys that need a restart` in docs/configuration.md has no \"- `key`\" bullets"
    );
    assert_eq!(
        entries,
        dlpd::daemon::restart_keys(),
        "`## Keys that need a restart` in docs/configuration.md must list exactly the keys \
         src/daemon/reload.rs does not apply on SIGHUP, in the same order"
    );
    for entry in entries {
        let known = match entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')) {
            Some(table) => tables.contains(table),
            None => entry
                .rsplit_once('.')
                .is_some_and(|(t, k)| keys.contains(&(t.to_string(), k.to_string()))),
        };
        assert!(
            known,
            "docs/configuration.md, `## Keys that need a restart`: `{entry}` is not a table \
             or key of etc/dlpd.toml"
        );
    }
}

/// The targets of the relative links in a markdown file, without anchors:
/// `[text](docs/outputs.md#exit-codes)` gives `docs/outputs.md`.
fn relative_links(doc: &str) -> Vec<String> {
    doc.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|target| target.split('#').next().unwrap().to_string())
        .filter(|t| !t.is_empty() && !t.contains("://") && !t.starts_with("mailto:"))
        .collect()
}

#[test]
fn the_readme_is_short_and_its_links_exist() {
    let readme = read("README.md");
    assert!(
        readme.len() <= README_MAX_BYTES,
        "README.md is {} bytes, more than {README_MAX_BYTES}: move reference material \
         into a page under docs/ and link it from README.md",
        readme.len()
    );
    let links = relative_links(&readme);
    let pages: Vec<&String> = links.iter().filter(|l| l.starts_with("docs/")).collect();
    assert!(
        pages.len() >= 8,
        "README.md links to only {} pages under docs/: {pages:?}",
        pages.len()
    );
    for link in &links {
        assert!(
            root().join(link).exists(),
            "README.md links to {link}, which does not exist; create it or fix the link in README.md"
        );
    }
}

#[test]
fn links_between_docs_pages_exist() {
    let docs = root().join("docs");
    for entry in std::fs::read_dir(&docs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for link in relative_links(&text) {
            let target = docs.join(&link);
            assert!(
                target.exists(),
                "{} links to {link}, which does not exist; fix the link",
                path.display()
            );
        }
    }
}

#[test]
fn detectors_md_shows_the_example_rule_the_tests_run() {
    let rule = read("tests/data/project-codes-rule.toml");
    let doc = read("docs/detectors.md");
    assert!(
        doc.contains(&format!("```toml\n{rule}```\n")),
        "docs/detectors.md no longer shows tests/data/project-codes-rule.toml verbatim in a \
         ```toml block; the tests and benches/engine.rs run that file as the docs' example, \
         so keep the two the same"
    );
}

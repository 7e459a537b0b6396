//! The crate's shape stays as docs/architecture.md draws it: no import
//! cycle between top-level modules (a module is `src/X.rs` or `src/X/`),
//! read from the `crate::` paths in the code, and no source file longer
//! than 600 lines, not counting its `#[cfg(test)]` module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest source file, in lines, without its tests.
const MAX_LINES: usize = 600;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `src/a.rs` and `src/a/b.rs`
/// are both `a`.
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_string()
}

/// The code with comments and string, char and raw-string literals blanked
/// (newlines kept), so braces and paths are only those of the code.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |s: &[u8], out: &mut String| {
        out.extend(s.iter().map(|&c| if c == b'\n' { '\n' } else { ' ' }));
    };
    while i < b.len() {
        let rest = &b[i..];
        let end = if rest.starts_with(b"//") {
            i + rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            i + text[i..].find("*/").map_or(rest.len(), |e| e + 2)
        } else if rest.starts_with(b"r\"") || rest.starts_with(b"r#") {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            if rest.get(1 + hashes) != Some(&b'"') {
                out.push(b[i] as char);
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            let body = i + 2 + hashes;
            body + text[body..]
                .find(&close)
                .map_or(b.len() - body, |e| e + close.len())
        } else if rest[0] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            j + 1
        } else if rest[0] == b'\'' && (rest.get(2) == Some(&b'\'') || rest.get(1) == Some(&b'\\')) {
            // A char literal ('{' or '\n'), not a lifetime.
            i + 1
                + rest[1..]
                    .iter()
                    .skip(1)
                    .position(|&c| c == b'\'')
                    .unwrap_or(0)
                + 2
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
            continue;
        };
        let end = end.min(b.len());
        blank(&b[i..end], &mut out);
        i = end;
    }
    out
}

/// The code without its `#[cfg(test)] mod … { … }` block.
fn without_tests(code: &str) -> String {
    let Some(at) = code.find("#[cfg(test)]") else {
        return code.to_string();
    };
    let after = &code[at..];
    let Some(open) = after.find('{').filter(|&o| after[..o].contains("mod ")) else {
        return code.to_string();
    };
    let mut depth = 0;
    for (k, c) in after[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    let end = at + open + k + 1;
                    return format!("{}{}", &code[..at], &code[end..]);
                }
            }
            _ => {}
        }
    }
    code[..at].to_string()
}

/// The top-level modules a file's code names through `crate::`.
fn uses(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::X, b}`: the first name of each top-level item.
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (c == ',' && depth == 1) {
                    out.insert(ident(item.trim()).to_string());
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
        } else {
            out.insert(ident(rest).to_string());
        }
    }
    out.remove("");
    out.remove("self");
    out
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Each top-level module and the top-level modules it uses.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The crate's module graph and each file's length without tests.
fn read_crate() -> (Graph, Vec<(PathBuf, usize)>) {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let mut graph = Graph::new();
    let mut lengths = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let code = without_tests(&code_only(&text));
        lengths.push((path.clone(), code.lines().count()));
        let module = module_of(&path);
        if module == "lib" || module == "main" {
            continue;
        }
        let deps = graph.entry(module.clone()).or_default();
        deps.extend(uses(&code).into_iter().filter(|m| *m != module));
    }
    (graph, lengths)
}

/// A cycle through `start`, if there is one.
fn cycle_from(graph: &Graph, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let (graph, _) = read_crate();
    assert!(
        graph.len() > 10,
        "the scan found too few modules: {graph:?}"
    );
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules of src/ (move the shared \
         piece into a leaf module both can use):\n  {}",
        cycles.join("\n  ")
    );
}

#[test]
fn no_source_file_is_longer_than_600_lines_without_its_tests() {
    let (_, lengths) = read_crate();
    let long: Vec<String> = lengths
        .iter()
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(p, n)| format!("{} ({n} lines)", p.display()))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (tests excluded): split each by job:\n  {}",
        long.join("\n  ")
    );
}

#[test]
fn the_checks_see_what_they_should() {
    // Paths in groups, comments and strings.
    let code = code_only(
        "use crate::{a::X, b::{c, d}};\n// crate::comment\nlet s = \"crate::string\";\nx(crate::e::f);\n",
    );
    let found: Vec<String> = uses(&code).into_iter().collect();
    assert_eq!(found, ["a", "b", "e"]);
    // A test module with braces in strings is cut whole.
    let code = code_only(
        "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn t() { let _ = \"}\"; let _ = '{'; }\n}\nfn b() {}\n",
    );
    let kept = without_tests(&code);
    assert!(kept.contains("fn a()") && kept.contains("fn b()"), "{kept}");
    assert!(!kept.contains("fn t()"), "{kept}");
    // A cycle is found, and a chain is not one.
    let graph: Graph = [
        ("x", vec!["y"]),
        ("y", vec!["z"]),
        ("z", vec!["x"]),
        ("w", vec!["x"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into_iter().map(String::from).collect()))
    .collect();
    assert!(cycle_from(&graph, "x").is_some());
    assert!(cycle_from(&graph, "w").is_none());
}

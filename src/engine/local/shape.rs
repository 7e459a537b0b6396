//! What a secret's value looks like: the judgments the key families and
//! the assignment rule share (placeholders, letters and digits).

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use super::bytes::has_repeat;

/// Substrings that mark a documented example or a placeholder.
const PLACEHOLDERS: &[&str] = &[
    "example",
    "xxxx",
    "placeholder",
    "dummy",
    "sample",
    "changeme",
    "your",
    "fake",
    "redacted",
    "0000000",
    "1234567890",
];

/// True for documented examples and placeholders. A placeholder word must
/// touch an edge of the value or a separator: `your_api_key`, `…EXAMPLE`,
/// `sk_test_…`; inside a random run of letters ("…gFufaKeng…") it is chance.
pub fn is_placeholder(value: &[u8]) -> bool {
    static WORDS: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(PLACEHOLDERS)
            .ok()
    });
    let edge = |i: usize| i >= value.len() || !value[i].is_ascii_alphanumeric();
    has_repeat(value, 6)
        || WORDS.as_ref().is_some_and(|w| {
            w.find_overlapping_iter(value)
                .any(|m| m.start() == 0 || edge(m.start() - 1) || edge(m.end()))
        })
}

/// Whether `value` has both an ASCII letter and an ASCII digit.
pub fn has_letter_and_digit(value: &[u8]) -> bool {
    value.iter().any(u8::is_ascii_digit) && value.iter().any(u8::is_ascii_alphabetic)
}

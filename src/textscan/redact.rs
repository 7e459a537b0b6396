//! How the text-scan API redacts a finding: Nightfall's four redaction
//! modes (mask, substitute, the detector's name, remove), read from a
//! request's `redactionConfig` and applied to a value.

use serde::Deserialize;
use serde_json::Value;

/// How a finding is redacted.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Redaction {
    Mask {
        with: char,
        ignore: Vec<char>,
        keep: usize,
        left_to_right: bool,
    },
    Substitute(String),
    InfoType,
    Remove,
}

impl Redaction {
    /// The text that replaces `value`, if any.
    pub(super) fn apply(&self, value: &str, display: &str) -> Option<String> {
        match self {
            Redaction::Remove => None,
            Redaction::Substitute(phrase) => Some(phrase.clone()),
            Redaction::InfoType => Some(format!("[{display}]")),
            Redaction::Mask {
                with,
                ignore,
                keep,
                left_to_right,
            } => {
                let chars: Vec<char> = value.chars().collect();
                let maskable = chars.iter().filter(|c| !ignore.contains(c)).count();
                let to_mask = maskable.saturating_sub(*keep);
                let mut masked = 0;
                let mut out: Vec<char> = chars.clone();
                let order: Box<dyn Iterator<Item = usize>> = if *left_to_right {
                    Box::new(0..chars.len())
                } else {
                    Box::new((0..chars.len()).rev())
                };
                for i in order {
                    if masked == to_mask {
                        break;
                    }
                    if !ignore.contains(&chars[i]) {
                        out[i] = *with;
                        masked += 1;
                    }
                }
                Some(out.into_iter().collect())
            }
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct RedactionSpec {
    #[serde(default)]
    remove_finding: Option<bool>,
    #[serde(default)]
    mask_config: Option<MaskSpec>,
    #[serde(default)]
    info_type_substitution_config: Option<Value>,
    #[serde(default)]
    substitution_config: Option<SubstitutionSpec>,
    #[serde(default)]
    crypto_config: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MaskSpec {
    #[serde(default)]
    masking_char: Option<String>,
    #[serde(default)]
    chars_to_ignore: Option<Vec<String>>,
    #[serde(default)]
    num_chars_to_leave_unmasked: Option<u32>,
    #[serde(default)]
    mask_left_to_right: Option<bool>,
    #[serde(default)]
    mask_right_to_left: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SubstitutionSpec {
    #[serde(default)]
    substitution_phrase: Option<String>,
}

impl RedactionSpec {
    /// Exactly one mode must be set; `at` names the config in errors.
    pub(super) fn compile(self, at: &str) -> Result<Redaction, String> {
        let present = |v: &Option<Value>| v.as_ref().is_some_and(|v| !v.is_null());
        let mut modes = Vec::new();
        if self.remove_finding == Some(true) {
            modes.push(Redaction::Remove);
        }
        if let Some(m) = self.mask_config {
            let with = match m.masking_char.as_deref().unwrap_or("*") {
                "" => '*',
                s => {
                    let mut it = s.chars();
                    match (it.next(), it.next()) {
                        (Some(c), None) => c,
                        _ => return Err(format!("{at}: maskingChar {s:?} must be one character")),
                    }
                }
            };
            let ignore = m
                .chars_to_ignore
                .unwrap_or_default()
                .iter()
                .flat_map(|s| s.chars())
                .collect();
            // Go, Java and Node say maskLeftToRight; Python says
            // maskRightToLeft (and leaves it out when false). Masking runs
            // right to left by default, so the leading characters stay.
            let left_to_right =
                m.mask_left_to_right == Some(true) || m.mask_right_to_left == Some(false);
            modes.push(Redaction::Mask {
                with,
                ignore,
                keep: m.num_chars_to_leave_unmasked.unwrap_or(0) as usize,
                left_to_right,
            });
        }
        if present(&self.info_type_substitution_config) {
            modes.push(Redaction::InfoType);
        }
        if let Some(s) = self.substitution_config {
            modes.push(Redaction::Substitute(
                s.substitution_phrase.unwrap_or_else(|| "[REDACTED]".into()),
            ));
        }
        if present(&self.crypto_config) {
            return Err(format!("{at}: cryptoConfig is not supported by dlpd"));
        }
        match modes.len() {
            1 => Ok(modes.remove(0)),
            0 => Err(format!(
                "{at}: set one of removeFinding, maskConfig, infoTypeSubstitutionConfig, substitutionConfig"
            )),
            _ => Err(format!("{at}: set only one redaction mode")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn masking_follows_the_observed_nightfall_behaviour() {
        let d = "CREDIT_CARD_NUMBER";
        let mask = |ltr| Redaction::Mask {
            with: '👀',
            ignore: vec!['-'],
            keep: 3,
            left_to_right: ltr,
        };
        // ../shared/nightfall-api.md §3: the leading characters stay.
        assert_eq!(
            mask(false).apply("4916-6734-7572-5015", d).unwrap(),
            "491👀-👀👀👀👀-👀👀👀👀-👀👀👀👀"
        );
        assert_eq!(
            mask(true).apply("4916-6734-7572-5015", d).unwrap(),
            "👀👀👀👀-👀👀👀👀-👀👀👀👀-👀015"
        );
        assert_eq!(
            Redaction::InfoType.apply("x", d).unwrap(),
            "[CREDIT_CARD_NUMBER]"
        );
        assert_eq!(Redaction::Remove.apply("x", d), None);
    }

    #[test]
    fn both_spellings_of_the_mask_direction_are_accepted() {
        let compile = |v: Value| {
            serde_json::from_value::<RedactionSpec>(v)
                .unwrap()
                .compile("t")
                .unwrap()
        };
        let ltr = |r: Redaction| {
            matches!(
                r,
                Redaction::Mask {
                    left_to_right: true,
                    ..
                }
            )
        };
        assert!(ltr(compile(
            json!({"maskConfig": {"maskLeftToRight": true}})
        )));
        assert!(!ltr(compile(
            json!({"maskConfig": {"maskRightToLeft": true}})
        )));
        assert!(ltr(compile(
            json!({"maskConfig": {"maskRightToLeft": false}})
        )));
        assert!(!ltr(compile(json!({"maskConfig": {}}))));
        let two = serde_json::from_value::<RedactionSpec>(
            json!({"removeFinding": true, "substitutionConfig": {}}),
        )
        .unwrap()
        .compile("t");
        assert!(two.is_err());
    }
}

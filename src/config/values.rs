//! Values checked while the config is read: regexes and globs compiled,
//! paths expanded, URLs and numbers in range. Each error becomes a
//! located config error naming its key.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::{MAX_CONTEXT_BYTES, home_dir};
use crate::finding::DetectorId;

/// A socket address to listen on; `localhost:PORT` is loopback
/// (127.0.0.1), which is what it means to anyone writing it.
pub(super) fn listen_addr<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<std::net::SocketAddr, D::Error> {
    let raw = String::deserialize(d)?;
    let text = match raw.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => raw.clone(),
    };
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{raw}` is not an address to listen on; write IP:PORT (127.0.0.1:8000, [::1]:8000) or localhost:PORT"
        ))
    })
}

/// [`listen_addr`], or `""` for none.
pub(super) fn optional_listen_addr<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let raw = String::deserialize(d)?;
    if raw.is_empty() {
        return Ok(None);
    }
    listen_addr(serde::de::value::StringDeserializer::<D::Error>::new(raw)).map(Some)
}

/// An optional address as the config writes it: `""` for none.
pub(super) fn show_optional_addr<S: serde::Serializer>(
    addr: &Option<std::net::SocketAddr>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&addr.map(|a| a.to_string()).unwrap_or_default())
}

/// `sha256:<64 hex>` (or bare hex), stored as lowercase hex.
pub(super) fn value_hashes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<String>::deserialize(d)?
        .into_iter()
        .map(|v| {
            let hex = v.strip_prefix("sha256:").unwrap_or(&v).to_ascii_lowercase();
            if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(hex)
            } else {
                Err(serde::de::Error::custom(format!(
                    "`{v}` is not \"sha256:<64 hex digits>\"; `dlpd hash-value` prints one"
                )))
            }
        })
        .collect()
}

/// Expands a leading `~` and `$VAR` / `${VAR}` references.
pub(super) fn expand_path(raw: &str) -> Result<PathBuf, String> {
    let mut out = String::new();
    let rest = if raw == "~" || raw.starts_with("~/") {
        let home = home_dir().ok_or("`~` needs $HOME, which is not set")?;
        out.push_str(&home.to_string_lossy());
        &raw[1..]
    } else if raw.starts_with('~') {
        return Err(format!(
            "`{raw}`: only `~` and `~/` are expanded, not `~user`"
        ));
    } else {
        raw
    };
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let (name, braced) = if rest[i + 1..].starts_with('{') {
            let close = rest[i + 2..]
                .find('}')
                .ok_or_else(|| format!("`{raw}`: unclosed `${{`"))?;
            (&rest[i + 2..i + 2 + close], true)
        } else {
            let len = rest[i + 1..]
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len() - i - 1);
            (&rest[i + 1..i + 1 + len], false)
        };
        if name.is_empty() {
            out.push('$');
            continue;
        }
        let value = std::env::var(name)
            .map_err(|_| format!("environment variable `{name}` (in `{raw}`) is not set"))?;
        out.push_str(&value);
        let skip = name.len() + if braced { 2 } else { 0 };
        for _ in 0..skip {
            chars.next();
        }
    }
    Ok(PathBuf::from(out))
}

pub(super) fn expanded_path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    let raw = String::deserialize(d)?;
    if raw.is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    expand_path(&raw).map_err(serde::de::Error::custom)
}

pub(super) fn optional_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    expanded_path(d).map(Some)
}

pub(super) fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    check_http_url(&raw).map_err(serde::de::Error::custom)?;
    Ok(raw.trim_end_matches('/').to_string())
}

pub(super) fn optional_http_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    if !raw.is_empty() {
        check_http_url(&raw).map_err(serde::de::Error::custom)?;
    }
    Ok(raw)
}

fn check_http_url(raw: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    match url.scheme() {
        "https" | "http" if url.host().is_some() => Ok(()),
        _ => Err(format!(
            "`{raw}` must be an http:// or https:// URL with a host"
        )),
    }
}

/// Refuses plain http to anything but loopback for a URL that is sent
/// credentials: they would cross the network in clear.
pub(super) fn credentials_may_travel(raw: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    let loopback = crate::http::is_loopback_host(url.host_str().unwrap_or(""));
    if url.scheme() == "https" || loopback {
        Ok(())
    } else {
        Err(format!(
            "`{raw}` is plain http to another machine, and the API token would cross the network in clear; use https://"
        ))
    }
}

pub(super) fn detector_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DetectorId>, D::Error> {
    let list = Vec::<DetectorId>::deserialize(d)?;
    if list.is_empty() {
        return Err(serde::de::Error::custom(
            "at least one detector is needed, e.g. [\"CREDIT_CARD_NUMBER\"]",
        ));
    }
    for (i, det) in list.iter().enumerate() {
        if list[..i].contains(det) {
            return Err(serde::de::Error::custom(format!("{det} is listed twice")));
        }
    }
    Ok(list)
}

pub(super) fn expanded_paths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|raw| expand_path(raw).map_err(serde::de::Error::custom))
        .collect()
}

/// The sinks a remediation rule sends to: known names, at least one.
pub(super) fn sink_names<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    const KNOWN: [&str; 3] = ["slack", "siem", "jira"];
    let names = Vec::<String>::deserialize(d)?;
    if names.is_empty() {
        return Err(serde::de::Error::custom(
            "name at least one sink (\"slack\", \"siem\", \"jira\"), or leave sinks out for all",
        ));
    }
    if let Some(bad) = names.iter().find(|n| !KNOWN.contains(&n.as_str())) {
        return Err(serde::de::Error::custom(format!(
            "{bad:?} is not a sink; the sinks are \"slack\", \"siem\" and \"jira\""
        )));
    }
    Ok(Some(names))
}

/// A number in (0, 1].
pub(super) fn unit_fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "{v} is not in (0, 1]; e.g. 0.01"
        )))
    }
}

/// A finite number above 0.
pub(super) fn positive_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "{v} must be a number above 0; e.g. 4.0"
        )))
    }
}

pub(super) fn positive_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match u32::deserialize(d)? {
        0 => Err(serde::de::Error::custom("must be greater than 0")),
        n => Ok(n),
    }
}

/// Seconds in (0, one week]: a longer span is a typo, and an unbounded
/// one overflows the clock arithmetic it feeds.
pub(super) fn week_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    const WEEK: u64 = 7 * 24 * 3600;
    match u64::deserialize(d)? {
        0 => Err(serde::de::Error::custom("must be greater than 0")),
        n if n > WEEK => Err(serde::de::Error::custom(format!(
            "{n} s is more than a week ({WEEK} s); give the seconds, e.g. 300"
        ))),
        n => Ok(n),
    }
}

/// Hours in (0, 720]: a login longer than a month is a typo.
pub(super) fn month_hours<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match u64::deserialize(d)? {
        n @ 1..=720 => Ok(n),
        n => Err(serde::de::Error::custom(format!(
            "{n} is not a number of hours from 1 to 720 (30 days); e.g. 8"
        ))),
    }
}

pub(super) fn positive_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match u64::deserialize(d)? {
        0 => Err(serde::de::Error::custom("must be greater than 0")),
        n => Ok(n),
    }
}

pub(super) fn context_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    if n > MAX_CONTEXT_BYTES {
        return Err(serde::de::Error::custom(format!(
            "{n} is over the limit of {MAX_CONTEXT_BYTES}"
        )));
    }
    Ok(n)
}

//! Logging has one knob: the config's level, or `RUST_LOG` when set; text
//! for people, JSON when asked. Logs go to stderr (where journald and
//! launchd pick them up), never stdout, which belongs to results; or to
//! `log.file`, reopened on SIGHUP so logrotate can move it away.
//!
//! Field values come from outside (file and member names, rule names), so
//! text logs escape control and bidi characters in every field: a file
//! name cannot end the line and forge the next one. JSON escapes them by
//! its own rules.

use std::borrow::Cow;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::{LogConfig, LogFormat};

mod ecs;
use crate::fsutil::FILE_MODE;

/// HTTP and TLS crates whose debug and trace output can carry hosts, URLs
/// or wire bytes: capped at info whatever the level, so a pre-signed
/// findings URL or an Authorization header never reaches a log.
const QUIET: &[&str] = &["reqwest", "hyper", "hyper_util", "rustls", "h2"];

/// What a running process can change about its logging.
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    target: Target,
}

impl LogHandle {
    /// Applies a reloaded `[log] level` (`RUST_LOG`, if set, still wins).
    pub fn set_level(&self, cfg: &LogConfig) {
        let _ = self.filter.reload(filter(cfg));
    }

    /// Reopens the log file at its path, after logrotate moved it.
    pub fn reopen(&self) -> io::Result<()> {
        match &self.target {
            Target::Stderr => Ok(()),
            Target::File { path, file } => {
                let fresh = open_log(path)?;
                *file.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
                Ok(())
            }
        }
    }
}

/// Installs the global subscriber; once per process. Fails only when
/// `log.file` cannot be opened.
pub fn init(cfg: &LogConfig) -> io::Result<LogHandle> {
    let target = match &cfg.file {
        Some(path) => Target::File {
            file: Arc::new(Mutex::new(open_log(path)?)),
            path: path.clone(),
        },
        None => Target::Stderr,
    };
    let (filter, handle) = reload::Layer::new(filter(cfg));
    let ansi = matches!(target, Target::Stderr) && io::stderr().is_terminal();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(target.clone())
        .with_target(false)
        .with_ansi(ansi);
    let fmt = match cfg.format {
        LogFormat::Json => fmt.event_format(ecs::Ecs::new()).boxed(),
        LogFormat::Text => fmt.fmt_fields(EscapedFields).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init();
    Ok(LogHandle {
        filter: handle,
        target,
    })
}

fn filter(cfg: &LogConfig) -> EnvFilter {
    let mut filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| {
            let level = cfg.level.as_str();
            match cfg.also_info {
                Some(target) => EnvFilter::new(format!("{level},{target}=info")),
                None => EnvFilter::new(level),
            }
        });
    for target in QUIET {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// `text` with control characters (and the bidi controls that reorder what
/// a terminal shows) written as escapes.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let hostile = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.contains(hostile) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hostile(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Text-log fields as `name=value` (`name="a b"` where the value has a
/// space or a quote), the message bare, each value escaped.
struct EscapedFields;

impl<'w> FormatFields<'w> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Visit for EscapingVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_text(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_text(field, &format!("{value:?}"));
    }
}

impl EscapingVisitor<'_, '_> {
    fn record_text(&mut self, field: &Field, text: &str) {
        if self.result.is_err() {
            return;
        }
        let sep = if self.first { "" } else { " " };
        self.first = false;
        let value = escape_controls(text);
        self.result = match field.name() {
            "message" => write!(self.writer, "{sep}{value}"),
            // Quoted when it would not read back as one key=value pair.
            name if value.is_empty() || value.contains([' ', '"']) => {
                let quoted = value.replace('"', "\\\"");
                write!(self.writer, "{sep}{name}=\"{quoted}\"")
            }
            name => write!(self.writer, "{sep}{name}={value}"),
        };
    }
}

/// This machine's name, for log lines (`host.name`) and alerts.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Opens the log file for appending, creating it 0600.
fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open log.file {}: {e}", path.display()),
            )
        })
}

/// Where log lines go.
#[derive(Clone)]
enum Target {
    Stderr,
    File {
        path: PathBuf,
        file: Arc<Mutex<File>>,
    },
}

impl<'a> MakeWriter<'a> for Target {
    type Writer = TargetWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        TargetWriter(self)
    }
}

/// One log line's writer; a line is formatted whole and written at once.
pub struct TargetWriter<'a>(&'a Target);

impl Write for TargetWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0 {
            Target::Stderr => io::stderr().write(buf),
            Target::File { file, .. } => file.lock().unwrap_or_else(|e| e.into_inner()).write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self.0 {
            Target::Stderr => io::stderr().write_all(buf),
            Target::File { file, .. } => file
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(escape_controls("plain/path.txt"), "plain/path.txt");
        assert_eq!(
            escape_controls("a\n2026-01-01 WARN forged\r\u{1b}[2J"),
            "a\\n2026-01-01 WARN forged\\r\\u{1b}[2J"
        );
        assert_eq!(escape_controls("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
    }
}

//! JSON log lines a collector indexes as they are: one flat object per
//! line, in Elastic Common Schema names where one fits (`@timestamp`,
//! `log.level`, `message`, `host.name`, `service.version`, `file.path`,
//! `file.hash.sha256`), and each field with its own JSON type.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format for `[log] format = "json"`.
pub(super) struct Ecs {
    host: String,
}

impl Ecs {
    pub(super) fn new() -> Ecs {
        Ecs {
            host: super::hostname(),
        }
    }
}

impl<S, N> FormatEvent<S, N> for Ecs
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let now = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        line.insert("@timestamp".into(), now.to_string().into());
        line.insert(
            "log.level".into(),
            meta.level().as_str().to_ascii_lowercase().into(),
        );
        line.insert("log.logger".into(), meta.target().into());
        line.insert("host.name".into(), self.host.clone().into());
        line.insert("service.name".into(), "dlpd".into());
        line.insert("service.version".into(), env!("CARGO_PKG_VERSION").into());
        event.record(&mut Fields(&mut line));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Each field under its ECS name, with its type.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        let value = match (name, value) {
            // "CREDIT_CARD_NUMBER=10 API_KEY=1": an object of counts.
            ("findings", Value::String(s)) => counts(&s).unwrap_or(Value::String(s)),
            (_, v) => v,
        };
        self.0.insert(ecs_name(name).into(), value);
    }
}

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
}

/// dlpd's field names that ECS has a name for.
fn ecs_name(name: &str) -> &str {
    match name {
        "path" => "file.path",
        "sha256" => "file.hash.sha256",
        "error" => "error.message",
        other => other,
    }
}

/// `A=1 B=2` as `{"A": 1, "B": 2}`; `None` if it is not that.
fn counts(s: &str) -> Option<Value> {
    let mut map = Map::new();
    for pair in s.split_whitespace() {
        let (name, n) = pair.split_once('=')?;
        map.insert(name.to_string(), n.parse::<u64>().ok()?.into());
    }
    (!map.is_empty()).then_some(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_counts_become_an_object() {
        assert_eq!(
            counts("CREDIT_CARD_NUMBER=10 API_KEY=1"),
            Some(serde_json::json!({"CREDIT_CARD_NUMBER": 10, "API_KEY": 1}))
        );
        assert_eq!(counts("not counts"), None);
    }
}

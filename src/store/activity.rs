//! The baselines' state (see [`crate::activity`]): each open interval's
//! event count per subject, counted in the transaction that records the
//! findings, and each subject's moving average, updated in the transaction
//! that closes an interval and records its anomalies and their alerts. A
//! crash between the two leaves the interval open, to be closed at the
//! next start; neither an event nor an anomaly is lost or counted twice.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{NewAlert, Store, StoreError, unix_ms};
use crate::activity::{Anomaly, Ewma, Params};
use crate::finding::FileReport;

/// The events in one batch of reports: for each report with findings (by
/// index), the subjects it counts toward, all in interval `interval`.
#[derive(Debug, Default)]
pub struct Events {
    pub interval: i64,
    pub subjects: Vec<(usize, Vec<String>)>,
}

/// A subject's baseline as the dashboard and `dlpd status` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub subject: String,
    pub ewma: Ewma,
    /// The last interval taken in.
    pub last_interval: i64,
}

/// Counts the events of `reports` whose files the watcher reported: a
/// file a walk found (its job row says `walked`) is not behaviour.
pub(super) fn count(
    tx: &Transaction,
    reports: &[FileReport],
    events: &Events,
) -> rusqlite::Result<()> {
    if events.subjects.is_empty() {
        return Ok(());
    }
    let mut walked = tx.prepare_cached("SELECT walked FROM jobs WHERE path = ?1")?;
    let mut add = tx.prepare_cached(
        // Never into an interval already closed (the clock stepped back):
        // the event goes to the subject's next one.
        "INSERT INTO activity (subject, interval, count) VALUES
           (?1, max(?2, coalesce((SELECT last_interval + 1 FROM baselines WHERE subject = ?1), ?2)), 1)
         ON CONFLICT (subject, interval) DO UPDATE SET count = count + 1",
    )?;
    for (i, subjects) in &events.subjects {
        let Some(report) = reports.get(*i) else {
            continue;
        };
        let path = std::os::unix::ffi::OsStrExt::as_bytes(report.path.as_os_str());
        let by_walk: Option<bool> = walked.query_row([path], |r| r.get(0)).optional()?;
        if by_walk == Some(true) {
            continue;
        }
        for s in subjects {
            add.execute(params![s, events.interval])?;
        }
    }
    Ok(())
}

/// Where the interval length the baselines were kept in is recorded.
const INTERVAL_KEY: &str = "baselines.interval_s";

impl Store {
    /// Makes the baselines fit `interval_s`: kept in other intervals (the
    /// setting changed), they mean nothing, and start again; the anomalies
    /// recorded stay. Returns the interval length they were kept in then.
    pub fn baselines_interval(&mut self, interval_s: u64) -> Result<Option<u64>, StoreError> {
        let path = self.db_path.clone();
        let err = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let was: Option<String> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [INTERVAL_KEY],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        let was = was.and_then(|v| v.parse::<u64>().ok());
        if was.is_some_and(|w| w != interval_s) {
            tx.execute_batch("DELETE FROM activity; DELETE FROM baselines;")
                .map_err(err)?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![INTERVAL_KEY, interval_s.to_string()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(was)
    }

    /// The first interval still open, if any: it is due to be closed when
    /// it ends.
    pub fn first_open_interval(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT min(interval) FROM activity WHERE closed = 0",
                [],
                |r| r.get(0),
            )
            .map_err(self.sql_err())
    }

    /// Closes every open interval before `current`, oldest first: each
    /// subject's quiet intervals since its last are folded in, then the
    /// count; an anomaly is recorded with the alerts `alerts` makes for it,
    /// all in one transaction. Returns the anomalies.
    pub fn close_intervals(
        &mut self,
        p: &Params,
        current: i64,
        alerts: impl Fn(&Anomaly) -> Vec<NewAlert>,
    ) -> Result<Vec<Anomaly>, StoreError> {
        let path = self.db_path.clone();
        let err = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut found = Vec::new();
        {
            let open: Vec<(String, i64, i64)> = tx
                .prepare_cached(
                    "SELECT subject, interval, count FROM activity
                     WHERE closed = 0 AND interval < ?1 ORDER BY interval, subject",
                )
                .and_then(|mut s| {
                    s.query_map([current], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect()
                })
                .map_err(err)?;
            let mut load = tx
                .prepare_cached(
                    "SELECT mean, var, intervals, last_interval FROM baselines WHERE subject = ?1",
                )
                .map_err(err)?;
            let mut save = tx
                .prepare_cached(
                    "INSERT INTO baselines (subject, mean, var, intervals, last_interval) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (subject) DO UPDATE SET mean = ?2, var = ?3, intervals = ?4, last_interval = ?5",
                )
                .map_err(err)?;
            let mut close = tx
                .prepare_cached(
                    "UPDATE activity SET closed = 1, mean = ?3, band = ?4, anomaly = ?5 WHERE subject = ?1 AND interval = ?2",
                )
                .map_err(err)?;
            let mut note = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO anomalies (subject, interval, interval_s, count, mean, band, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(err)?;
            let mut alert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO alerts (sink, dedupe_key, body, created_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            let now = unix_ms(std::time::SystemTime::now());
            for (subject, interval, count) in open {
                let known: Option<(Ewma, i64)> = load
                    .query_row([&subject], |r| {
                        Ok((
                            Ewma {
                                mean: r.get(0)?,
                                var: r.get(1)?,
                                intervals: r.get::<_, i64>(2)? as u64,
                            },
                            r.get(3)?,
                        ))
                    })
                    .optional()
                    .map_err(err)?;
                // A subject seen for the first time starts here.
                let (mut ewma, last) = known.unwrap_or((Ewma::default(), interval - 1));
                ewma.quiet((interval - last - 1).max(0) as u64, p);
                // What the interval is judged against: the baseline before it.
                let (mean, band) = (ewma.mean, ewma.band(p.k));
                let count = count.max(0) as u64;
                let judged = ewma.observe(count, p);
                save.execute(params![
                    subject,
                    ewma.mean,
                    ewma.var,
                    ewma.intervals as i64,
                    interval
                ])
                .map_err(err)?;
                close
                    .execute(params![subject, interval, mean, band, judged.is_some()])
                    .map_err(err)?;
                if let Some(band) = judged {
                    let a = Anomaly {
                        subject,
                        interval,
                        interval_s: p.interval_s,
                        count,
                        mean,
                        band,
                    };
                    note.execute(params![
                        a.subject,
                        a.interval,
                        a.interval_s as i64,
                        a.count as i64,
                        a.mean,
                        a.band,
                        now
                    ])
                    .map_err(err)?;
                    for n in alerts(&a) {
                        alert
                            .execute(params![n.sink, n.dedupe_key, n.body, now])
                            .map_err(err)?;
                    }
                    found.push(a);
                }
            }
            if let Some(source) = self.events.as_ref().map(|e| &e.source) {
                let anomalies: Vec<_> = found.iter().map(|a| source.anomaly(a)).collect();
                super::events::insert(&tx, self.events.as_ref(), &anomalies).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        if !found.is_empty() {
            self.events_written();
        }
        Ok(found)
    }

    /// Every subject's baseline, by name.
    pub fn baselines(&self) -> Result<Vec<Baseline>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT subject, mean, var, intervals, last_interval FROM baselines ORDER BY subject")
            .map_err(self.sql_err())?;
        stmt.query_map([], |r| {
            Ok(Baseline {
                subject: r.get(0)?,
                ewma: Ewma {
                    mean: r.get(1)?,
                    var: r.get(2)?,
                    intervals: r.get::<_, i64>(3)? as u64,
                },
                last_interval: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.sql_err())
    }

    /// The anomalies recorded, newest first, at most `n`.
    pub fn anomalies(&self, n: usize) -> Result<Vec<Anomaly>, StoreError> {
        anomalies(&self.conn, n).map_err(self.sql_err())
    }
}

/// One interval of a subject, as the charts show it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub interval: i64,
    pub count: u64,
    /// What it was judged against, once closed.
    pub mean: Option<f64>,
    pub band: Option<f64>,
    pub anomaly: bool,
}

/// `subject`'s last `n` intervals up to `until`, oldest first.
pub(super) fn recent(
    conn: &rusqlite::Connection,
    subject: &str,
    until: i64,
    n: i64,
) -> rusqlite::Result<Vec<Interval>> {
    let mut stmt = conn.prepare_cached(
        "SELECT interval, count, mean, band, anomaly FROM activity
         WHERE subject = ?1 AND interval <= ?2 ORDER BY interval DESC LIMIT ?3",
    )?;
    let mut rows: Vec<Interval> = stmt
        .query_map(params![subject, until, n], |r| {
            Ok(Interval {
                interval: r.get(0)?,
                count: r.get::<_, i64>(1)?.max(0) as u64,
                mean: r.get(2)?,
                band: r.get(3)?,
                anomaly: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.reverse();
    Ok(rows)
}

impl super::AlertOutbox {
    /// `subject`'s last `n` intervals up to `until`, oldest first, for an
    /// anomaly's chart.
    pub fn recent_activity(
        &self,
        subject: &str,
        until: i64,
        n: i64,
    ) -> Result<Vec<Interval>, StoreError> {
        recent(self.conn(), subject, until, n).map_err(|source| StoreError::Sql {
            path: self.db_path().to_path_buf(),
            source,
        })
    }
}

/// The anomalies recorded, newest first, at most `n`.
pub(super) fn anomalies(conn: &rusqlite::Connection, n: usize) -> rusqlite::Result<Vec<Anomaly>> {
    let mut stmt = conn.prepare_cached(
        "SELECT subject, interval, interval_s, count, mean, band FROM anomalies
         ORDER BY interval DESC, subject LIMIT ?1",
    )?;
    stmt.query_map([n as i64], |r| {
        Ok(Anomaly {
            subject: r.get(0)?,
            interval: r.get(1)?,
            interval_s: r.get::<_, i64>(2)? as u64,
            count: r.get::<_, i64>(3)? as u64,
            mean: r.get(4)?,
            band: r.get(5)?,
        })
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{FileReport, Outcome};
    use std::time::{Duration, UNIX_EPOCH};

    fn params() -> Params {
        Params {
            interval_s: 60,
            alpha: 0.1,
            k: 3.0,
            warmup: 5,
            min_count: 5,
        }
    }

    fn report(path: &str) -> FileReport {
        FileReport::new(
            std::path::Path::new(path),
            "local",
            Outcome::Scanned {
                findings: Vec::new(),
            },
        )
    }

    /// Counts `n` events of `subject` in `interval`, through the record
    /// transaction as the keeper does.
    fn events(store: &mut Store, subject: &str, interval: i64, n: usize) {
        let reports: Vec<FileReport> = (0..n)
            .map(|i| report(&format!("/r/f{interval}-{i}")))
            .collect();
        let ev = Events {
            interval,
            subjects: (0..n).map(|i| (i, vec![subject.to_string()])).collect(),
        };
        store
            .record_remedied(&reports, &[], &[], &mut [], &ev)
            .unwrap();
    }

    #[test]
    fn a_burst_after_quiet_intervals_is_an_anomaly_once_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = super::super::queue::tests::store(dir.path());
        let p = params();
        for i in 0..10 {
            events(&mut store, "uid:1000", i, 1);
        }
        // Intervals 10..99 are quiet; 100 has a burst.
        events(&mut store, "uid:1000", 100, 30);
        assert_eq!(store.first_open_interval().unwrap(), Some(0));
        let alerts = |a: &Anomaly| {
            vec![NewAlert {
                sink: "siem",
                dedupe_key: format!("{}@{}", a.subject, a.interval),
                body: "{}".into(),
                path: None,
            }]
        };
        // Not before the burst's interval ends.
        assert!(store.close_intervals(&p, 100, alerts).unwrap().is_empty());
        assert_eq!(store.first_open_interval().unwrap(), Some(100));
        let found = store.close_intervals(&p, 101, alerts).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].count, found[0].interval), (30, 100));
        assert!(found[0].mean < 0.1, "{found:?}");
        assert_eq!(store.first_open_interval().unwrap(), None);
        assert_eq!(store.anomalies(10).unwrap(), found);
        let b = &store.baselines().unwrap()[0];
        assert_eq!((b.ewma.intervals, b.last_interval), (101, 100));
        // Closing again changes nothing.
        assert!(store.close_intervals(&p, 500, alerts).unwrap().is_empty());
        drop(store);
        let store = super::super::queue::tests::store(dir.path());
        assert_eq!(store.baselines().unwrap()[0].ewma.intervals, 101);
        let t = UNIX_EPOCH + Duration::from_secs(6_000);
        assert_eq!(p.interval(t), 100);
    }

    #[test]
    fn an_interval_keeps_the_band_it_was_judged_against_and_a_step_back_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = super::super::queue::tests::store(dir.path());
        let p = params();
        for i in 0..3 {
            events(&mut store, "s", i, 2);
        }
        store.close_intervals(&p, 3, |_| Vec::new()).unwrap();
        // Interval 1 was judged against interval 0 alone: mean 0.2 from
        // alpha 0.1, and its variance.
        let (mean, band): (f64, f64) = store
            .conn
            .query_row(
                "SELECT mean, band FROM activity WHERE interval = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let mut before = Ewma::default();
        before.observe(2, &p);
        assert_eq!((mean, band), (before.mean, before.band(p.k)));
        // The clock stepped back into interval 1, already closed: the
        // event counts in interval 3.
        events(&mut store, "s", 1, 1);
        let open: (i64, i64) = store
            .conn
            .query_row(
                "SELECT interval, count FROM activity WHERE closed = 0",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(open, (3, 1));
    }

    #[test]
    fn a_new_interval_length_starts_the_baselines_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = super::super::queue::tests::store(dir.path());
        assert_eq!(store.baselines_interval(60).unwrap(), None);
        events(&mut store, "s", 0, 2);
        store.close_intervals(&params(), 1, |_| Vec::new()).unwrap();
        assert_eq!(store.baselines_interval(60).unwrap(), Some(60));
        assert_eq!(store.baselines().unwrap().len(), 1);
        assert_eq!(store.baselines_interval(300).unwrap(), Some(60));
        assert!(store.baselines().unwrap().is_empty());
        assert_eq!(store.first_open_interval().unwrap(), None);
    }

    #[test]
    fn a_walked_file_is_not_an_event() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = super::super::queue::tests::store(dir.path());
        let walked = std::path::PathBuf::from("/r/walked");
        store
            .start_walked(
                &[super::super::Changed {
                    path: walked.clone(),
                    stat: Some((1, Some(1))),
                    baseline: true,
                }],
                1,
            )
            .unwrap();
        store
            .enqueue(std::path::Path::new("/r/event"), 100)
            .unwrap();
        let reports = vec![report("/r/walked"), report("/r/event")];
        let ev = Events {
            interval: 7,
            subjects: vec![(0, vec!["uid:1".into()]), (1, vec!["uid:1".into()])],
        };
        store
            .record_remedied(&reports, &[], &[], &mut [], &ev)
            .unwrap();
        let n: i64 = store
            .conn
            .query_row(
                "SELECT count FROM activity WHERE subject = 'uid:1' AND interval = 7",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }
}

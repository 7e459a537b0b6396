//! What the dashboard reads, on a query-only connection of its own so a
//! page never waits on (or holds up) the keeper. Every value shown is the
//! masked one: a finding's stored `finding` and its context may hold the
//! raw value (`output.redact = "none"`), so they are never read here.
//!
//! Files are listed from their own rows (schema v11 sums up each file's
//! findings there), so a page over 100,000 files with a million findings
//! reads no findings.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, params};
use serde::Serialize;

use crate::store::{StoreError, unix_ms};

mod detail;

use crate::finding::Confidence;
pub use detail::{AlertRow, FileDetail, IntervalRow, SubjectView};

/// Files on one page of the list.
pub const PER_PAGE: u32 = 50;
/// Days of history in the summary's chart.
pub const DAYS: i64 = 14;

/// A query-only connection for the dashboard.
pub struct Views {
    conn: Connection,
    db_path: PathBuf,
    /// The last summary, with the store's `data_version` and the day it
    /// was made for: polled every few seconds, it is made again only once
    /// something was recorded.
    summary: Option<(i64, i64, Summary)>,
}

/// Counts for the overview and `GET /api/summary`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub scanned: u64,
    pub files_with_findings: u64,
    pub findings: u64,
    /// Per detector: files and findings, most findings first.
    pub by_detector: Vec<DetectorCount>,
    /// Files by their highest confidence, highest first.
    pub by_confidence: Vec<Count>,
    pub by_exposure: Vec<Count>,
    /// Files with findings scanned each day, by detector, oldest first.
    pub per_day: Vec<Day>,
    /// The newest files given up on.
    pub last_errors: Vec<ErrorRow>,
    /// The newest file with findings, for live updates.
    pub newest_file: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DetectorCount {
    pub detector: String,
    pub files: u64,
    pub findings: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Count {
    pub name: String,
    pub files: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Day {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub detectors: Vec<Count>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorRow {
    pub path: String,
    pub error: String,
    pub at: String,
}

/// How the file list is sorted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    #[default]
    Newest,
    Oldest,
    Findings,
    Path,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "newest" => Sort::Newest,
            "oldest" => Sort::Oldest,
            "findings" => Sort::Findings,
            "path" => Sort::Path,
            _ => return None,
        })
    }

    fn order_by(self) -> &'static str {
        match self {
            Sort::Newest => "scanned_at DESC, id DESC",
            Sort::Oldest => "scanned_at, id",
            Sort::Findings => "findings DESC, id DESC",
            Sort::Path => "path, id",
        }
    }
}

/// Which files with findings to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileFilter {
    /// A detector's name (`CREDIT_CARD_NUMBER`, a rule's name).
    pub detector: Option<String>,
    /// At least this confidence.
    pub confidence: Option<Confidence>,
    /// Under this directory.
    pub root: Option<PathBuf>,
    /// `local`, `cloud-sync` or `removable`.
    pub exposure: Option<String>,
    /// Scanned at most this long ago.
    pub max_age: Option<Duration>,
    pub sort: Sort,
    /// From 1.
    pub page: u32,
}

/// One page of files with findings.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FilesPage {
    pub total: u64,
    pub page: u32,
    pub pages: u32,
    pub per_page: u32,
    pub files: Vec<FileRow>,
}

/// A file with findings, as listed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileRow {
    pub id: i64,
    pub path: String,
    pub exposure: String,
    pub scanned_at: String,
    pub findings: u64,
    /// The highest confidence.
    pub confidence: String,
    pub detectors: Vec<DetectorCount>,
    /// The newest quarantine record's state, if any.
    pub quarantine: Option<String>,
}

/// A path as the dashboard shows it: control and bidi characters escaped
/// (as the logs do) and bytes that are not UTF-8 as `\xNN`, so that no
/// name can reorder what is shown or pass for another.
fn text_path(bytes: Vec<u8>) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(&crate::logging::escape_controls(chunk.valid()));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn time(ms: i64) -> String {
    crate::report::rfc3339(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

const CONFIDENCES: [Confidence; 5] = [
    Confidence::VeryLikely,
    Confidence::Likely,
    Confidence::Possible,
    Confidence::Unlikely,
    Confidence::VeryUnlikely,
];

/// The rank schema v11 stores (1 to 5).
fn rank(c: Confidence) -> i64 {
    5 - CONFIDENCES.iter().position(|x| *x == c).unwrap_or(4) as i64
}

fn confidence_of(rank: Option<i64>) -> String {
    let i = 5 - rank.unwrap_or(1).clamp(1, 5);
    CONFIDENCES[i as usize].as_str().to_string()
}

/// A file's `detectors` column (`,A:3,B:1,`, names percent-escaped) as
/// names and counts.
pub(in crate::store) fn detector_sums(column: &str) -> Vec<(String, u64)> {
    column
        .split(',')
        .filter_map(|d| {
            let (name, n) = d.rsplit_once(':')?;
            let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
            Some((name.into_owned(), n.parse().ok()?))
        })
        .collect()
}

/// How `name` starts its entry in the `detectors` column.
fn detector_needle(name: &str) -> String {
    let escaped = name
        .replace('%', "%25")
        .replace(',', "%2C")
        .replace(':', "%3A");
    format!(",{escaped}:")
}

fn detectors(sums: Option<String>) -> Vec<DetectorCount> {
    detector_sums(&sums.unwrap_or_default())
        .into_iter()
        .map(|(detector, findings)| DetectorCount {
            detector,
            files: 1,
            findings,
        })
        .collect()
}

/// The columns of a [`FileRow`], in [`file_row`]'s order.
const FILE_COLUMNS: &str =
    "id, path, coalesce(exposure, 'local'), scanned_at, findings, top_confidence, detectors,
    (SELECT state FROM quarantine q WHERE q.path = files.path ORDER BY q.id DESC LIMIT 1)";

fn file_row(r: &rusqlite::Row) -> rusqlite::Result<FileRow> {
    Ok(FileRow {
        id: r.get(0)?,
        path: text_path(r.get(1)?),
        exposure: r.get(2)?,
        scanned_at: time(r.get(3)?),
        findings: r.get::<_, i64>(4)? as u64,
        confidence: confidence_of(r.get(5)?),
        detectors: detectors(r.get(6)?),
        quarantine: r.get(7)?,
    })
}

impl Views {
    /// Opens a query-only connection to the store at `db_path`.
    pub fn open(db_path: &Path) -> Result<Views, StoreError> {
        let open_err = |source| StoreError::Open {
            path: db_path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(
            db_path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(open_err)?;
        super::stable_plans(&conn).map_err(open_err)?;
        Ok(Views {
            conn,
            db_path: db_path.to_path_buf(),
            summary: None,
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sql {
            path: self.db_path.clone(),
            source,
        }
    }

    /// The overview's counts, in one read transaction.
    pub fn summary(&mut self, now: SystemTime) -> Result<Summary, StoreError> {
        let path = self.db_path.clone();
        let err = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let day_ms = 86_400_000;
        let today = unix_ms(now) / day_ms;
        // Changes by other connections since this one last looked.
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(err)?;
        if let Some((v, d, s)) = &self.summary
            && (*v, *d) == (version, today)
        {
            return Ok(s.clone());
        }
        let tx = self.conn.transaction().map_err(err)?;
        let mut s = Summary::default();
        let (scanned, newest): (i64, Option<i64>) = tx
            .query_row(
                "SELECT count(*), (SELECT max(id) FROM files WHERE findings > 0 AND gone_at IS NULL) FROM files",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(err)?;
        s.scanned = scanned as u64;
        s.newest_file = newest.unwrap_or(0);
        let first_day = today - (DAYS - 1);
        let mut per_day: Vec<Vec<Count>> = vec![Vec::new(); DAYS as usize];
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT scanned_at, findings, top_confidence, detectors, coalesce(exposure, 'local')
                     FROM files WHERE findings > 0 AND gone_at IS NULL",
                )
                .map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            let mut confidence = [0u64; 5];
            let mut tally = |r: &rusqlite::Row| -> rusqlite::Result<()> {
                let at: i64 = r.get(0)?;
                s.files_with_findings += 1;
                s.findings += r.get::<_, i64>(1)? as u64;
                let rank = r.get::<_, Option<i64>>(2)?.unwrap_or(1).clamp(1, 5);
                confidence[(5 - rank) as usize] += 1;
                add(&mut s.by_exposure, &r.get::<_, String>(4)?, 1);
                let day = at / day_ms - first_day;
                for d in detectors(r.get(3)?) {
                    if (0..DAYS).contains(&day) {
                        add(&mut per_day[day as usize], &d.detector, 1);
                    }
                    match s.by_detector.iter_mut().find(|x| x.detector == d.detector) {
                        Some(x) => {
                            x.files += 1;
                            x.findings += d.findings;
                        }
                        None => s.by_detector.push(d),
                    }
                }
                Ok(())
            };
            while let Some(r) = rows.next().map_err(err)? {
                tally(r).map_err(err)?;
            }
            s.by_confidence = CONFIDENCES
                .iter()
                .zip(confidence)
                .map(|(c, n)| Count {
                    name: c.as_str().to_string(),
                    files: n,
                })
                .collect();
        }
        s.by_detector.sort_by(|a, b| {
            b.findings
                .cmp(&a.findings)
                .then(a.detector.cmp(&b.detector))
        });
        s.per_day = per_day
            .into_iter()
            .enumerate()
            .map(|(i, detectors)| Day {
                day: crate::report::rfc3339(
                    UNIX_EPOCH + Duration::from_millis(((first_day + i as i64) * day_ms) as u64),
                )[..10]
                    .to_string(),
                detectors,
            })
            .collect();
        s.last_errors = tx
            .prepare_cached(
                "SELECT path, coalesce(error, ''), scanned_at FROM files WHERE status = 'failed'
                 ORDER BY scanned_at DESC LIMIT 5",
            )
            .and_then(|mut stmt| {
                stmt.query_map([], |r| {
                    Ok(ErrorRow {
                        path: text_path(r.get(0)?),
                        error: r.get(1)?,
                        at: time(r.get(2)?),
                    })
                })?
                .collect()
            })
            .map_err(err)?;
        drop(tx);
        self.summary = Some((version, today, s.clone()));
        Ok(s)
    }

    /// A page of files with findings.
    pub fn files(&self, f: &FileFilter, now: SystemTime) -> Result<FilesPage, StoreError> {
        let root = f.root.as_ref().map(|r| {
            let mut dir = r.as_os_str().as_bytes().to_vec();
            if !dir.ends_with(b"/") {
                dir.push(b'/');
            }
            dir
        });
        let since = f
            .max_age
            .map(|age| unix_ms(now.checked_sub(age).unwrap_or(UNIX_EPOCH)));
        let detector = f.detector.as_deref().map(detector_needle);
        let confidence = f.confidence.map(rank);
        let filter = "findings > 0 AND gone_at IS NULL
            AND (?1 IS NULL OR instr(detectors, ?1) > 0)
            AND (?2 IS NULL OR top_confidence >= ?2)
            AND (?3 IS NULL OR substr(path, 1, length(?3)) = ?3)
            AND (?4 IS NULL OR coalesce(exposure, 'local') = ?4)
            AND (?5 IS NULL OR scanned_at >= ?5)";
        let args = params![detector, confidence, root, f.exposure, since];
        let total: i64 = self
            .conn
            .prepare_cached(&format!("SELECT count(*) FROM files WHERE {filter}"))
            .and_then(|mut s| s.query_row(args, |r| r.get(0)))
            .map_err(self.err())?;
        let pages = (total as u64).div_ceil(PER_PAGE as u64).max(1) as u32;
        let page = f.page.clamp(1, pages);
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE {filter} ORDER BY {} LIMIT {PER_PAGE} OFFSET ?6",
            f.sort.order_by()
        );
        let offset = (page as i64 - 1) * PER_PAGE as i64;
        let files = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_map(
                    params![detector, confidence, root, f.exposure, since, offset],
                    file_row,
                )?
                .collect()
            })
            .map_err(self.err())?;
        Ok(FilesPage {
            total: total as u64,
            page,
            pages,
            per_page: PER_PAGE,
            files,
        })
    }
}

fn add(counts: &mut Vec<Count>, name: &str, n: u64) {
    match counts.iter_mut().find(|c| c.name == name) {
        Some(c) => c.files += n,
        None => counts.push(Count {
            name: name.to_string(),
            files: n,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ScannerConfig;
    use crate::engine::LocalEngine;
    use crate::finding::{FileReport, Finding, Outcome};

    fn findings(text: &str) -> Vec<Finding> {
        LocalEngine::new(&ScannerConfig::default()).scan_bytes(text.as_bytes())
    }

    fn report(path: &str, found: Vec<Finding>) -> FileReport {
        let mut r = FileReport::new(
            Path::new(path),
            "local",
            Outcome::Scanned { findings: found },
        );
        r.sha256 = Some("ab".into());
        r
    }

    #[test]
    fn detector_names_with_separators_survive_the_sums_column() {
        let name = "EU:9, \"q%";
        let needle = detector_needle(name);
        assert!(
            !needle[1..needle.len() - 1].contains([',', ':']),
            "{needle}"
        );
        let column = format!("{needle}9,");
        assert_eq!(detector_sums(&column), [(name.to_string(), 9)]);
    }

    #[test]
    fn a_files_sums_follow_its_rescans_and_growth_and_filters_use_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::store::queue::tests::store(dir.path());
        let cards = findings("card 5433-9502-3725-7862 and 4916-6734-7572-5015\n");
        let ssn = findings("ssn 536-22-1234\n");
        assert_eq!((cards.len(), ssn.len()), (2, 1));
        store
            .record(&[
                report("/r/a.csv", cards.clone()),
                report("/r/b.txt", ssn.clone()),
            ])
            .unwrap();
        let views = Views::open(&store.db_path).unwrap();
        let now = SystemTime::now();
        let all = FileFilter {
            page: 1,
            ..FileFilter::default()
        };
        let page = views.files(&all, now).unwrap();
        assert_eq!(page.total, 2);
        let a = page.files.iter().find(|f| f.path == "/r/a.csv").unwrap();
        assert_eq!((a.findings, a.detectors[0].findings), (2, 2));
        assert_eq!(a.detectors[0].detector, "CREDIT_CARD_NUMBER");

        // The file grew: its earlier findings stay and the new add up.
        let mut grown = report("/r/a.csv", ssn.clone());
        grown.grown_from = Some(10);
        store.record(&[grown]).unwrap();
        let only = |f: FileFilter| views.files(&f, now).unwrap();
        let a = &only(FileFilter {
            root: Some("/r/a.csv".into()),
            ..all.clone()
        });
        assert_eq!(a.total, 0, "a root is a directory, not a file");
        let detail = views.file(1).unwrap().unwrap();
        assert_eq!(detail.file.findings, 3);
        assert_eq!(detail.items.len(), 3);
        let ssn_files = only(FileFilter {
            detector: Some("US_SOCIAL_SECURITY_NUMBER".into()),
            ..all.clone()
        });
        assert_eq!(ssn_files.total, 2);
        // A rescan that finds nothing takes the file off the list.
        store.record(&[report("/r/b.txt", Vec::new())]).unwrap();
        assert_eq!(only(all.clone()).total, 1);
        assert_eq!(
            only(FileFilter {
                root: Some("/r".into()),
                sort: Sort::Findings,
                ..all.clone()
            })
            .files[0]
                .path,
            "/r/a.csv"
        );
        // Names show their control and bidi characters and stray bytes.
        assert_eq!(
            text_path(b"a\xffb\n\xe2\x80\xaec".to_vec()),
            "a\\xffb\\n\\u{202e}c"
        );
        // No masked value is ever the raw one.
        for item in &detail.items {
            assert!(item.masked.contains('*'), "{item:?}");
        }
        let mut views = views;
        let s = views.summary(now).unwrap();
        assert_eq!((s.files_with_findings, s.findings, s.scanned), (1, 3, 2));
        assert_eq!(s.per_day.last().unwrap().detectors.len(), 2);
    }
}

//! The real `dlpd run` under test: a temp tree with a watched root, the
//! daemon's stderr collected, and its SQLite store read from outside.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::wait_for;

pub const DEADLINE: Duration = Duration::from_secs(30);

/// A temp tree with a root to watch, a config, and the daemon's stderr.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub child: Option<Child>,
    pub log: Arc<Mutex<String>>,
    /// The thread copying the daemon's stderr into `log`.
    reader: Option<std::thread::JoinHandle<()>>,
    /// A command the daemon runs under (e.g. setpriv), if any.
    pub wrapper: Vec<String>,
    /// Environment variables the daemon gets (e.g. Nightfall secrets).
    pub env: Vec<(String, String)>,
}

impl Daemon {
    /// A config watching `root/`, with the state directory inside the root
    /// (dlpd must ignore its own files) and `extra` TOML appended.
    pub fn new(extra: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let config = dir.path().join("dlpd.toml");
        std::fs::write(
            &config,
            format!(
                "[output]\nstate_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n[watch]\npaths = [\"{}\"]\ndebounce_ms = 300\n{extra}",
                root.join(".dlpd").display(),
                root.display()
            ),
        )
        .unwrap();
        Daemon {
            dir,
            config,
            child: None,
            log: Arc::new(Mutex::new(String::new())),
            reader: None,
            wrapper: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Runs the daemon so that file modes bind it: as root, without the
    /// capabilities that read anything (a root daemon obeys modes then).
    pub fn obey_file_modes(&mut self) {
        if unsafe { libc::geteuid() } == 0 {
            self.wrapper = [
                "setpriv",
                "--bounding-set=-dac_override,-dac_read_search",
                "--",
            ]
            .map(String::from)
            .to_vec();
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn db(&self) -> PathBuf {
        self.root().join(".dlpd/dlpd.sqlite")
    }

    pub fn csv(&self) -> PathBuf {
        self.root().join(".dlpd/results.csv")
    }

    /// Starts `dlpd run` and waits until it watches.
    pub fn start(&mut self) {
        let mut cmd = match self.wrapper.split_first() {
            Some((prog, args)) => {
                let mut c = Command::new(prog);
                c.args(args)
                    .arg(super::bin())
                    .arg("--config")
                    .arg(&self.config);
                c.env_remove("RUST_LOG").env_remove("DLPD_CONFIG");
                c
            }
            None => super::cmd(&self.config),
        };
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child = cmd
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = self.log.clone();
        self.reader = Some(std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        }));
        let starts = self.log().matches("dlpd started").count() + 1;
        let mut exited = None;
        let started = wait_for(DEADLINE, || {
            exited = child.try_wait().ok().flatten();
            exited.is_some() || self.log().matches("dlpd started").count() >= starts
        });
        self.child = Some(child);
        assert!(
            started && exited.is_none(),
            "daemon did not start ({exited:?}):\n{}",
            self.log()
        );
    }

    /// The port `GET /metrics` is served on, from the log of the latest start.
    pub fn metrics_port(&self) -> u16 {
        self.port_of("serving GET /metrics")
    }

    /// The port of the listener (`[webhook] listen`), from the log of the
    /// latest start.
    pub fn listener_port(&self) -> u16 {
        self.port_of(" listening ")
    }

    /// The port in `listen=…` on the latest log line saying `message`.
    fn port_of(&self, message: &str) -> u16 {
        let said = |log: &str| {
            let line = log.lines().rev().find(|l| l.contains(message))?;
            let addr = line.split(' ').find_map(|w| w.strip_prefix("listen="))?;
            addr.rsplit(':').next()?.trim().parse::<u16>().ok()
        };
        assert!(
            wait_for(DEADLINE, || said(&self.log()).is_some()),
            "{}",
            self.log()
        );
        said(&self.log()).unwrap()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The running daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the daemon runs").id()
    }

    pub fn signal(&mut self, sig: i32) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().unwrap();
        // The log is complete once the reader has seen end of file.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        status
    }

    pub fn query<T: rusqlite::types::FromSql>(&self, sql: &str) -> T {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// A count from the store; 0 before the daemon has created it.
    pub fn count(&self, sql: &str) -> i64 {
        if self.db().exists() {
            self.query(sql)
        } else {
            0
        }
    }

    /// (times stored, findings) for a path, if it has a row.
    pub fn file(&self, path: &Path) -> Option<(i64, i64)> {
        if !self.db().exists() {
            return None;
        }
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.query_row(
            "SELECT scans, (SELECT count(*) FROM findings x WHERE x.file_id = f.id) FROM files f WHERE path = ?1",
            [path.to_str().unwrap().as_bytes()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    }

    pub fn wait_recorded(&self, path: &Path) -> (i64, i64) {
        assert!(
            wait_for(DEADLINE, || self.file(path).is_some()),
            "{} never recorded:\n{}",
            path.display(),
            self.log()
        );
        self.file(path).unwrap()
    }

    /// Waits until every change made before this call has been handled:
    /// writes a clean marker file (named `zz-settle-N.txt`), waits for its
    /// row, then for an empty queue. A change made earlier settles earlier,
    /// so once the marker is stored the earlier one has been queued too.
    /// Replaces "sleep and hope" before asserting that nothing happened.
    pub fn settle(&self) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let marker = self.root().join(format!("zz-settle-{n}.txt"));
        std::fs::write(&marker, "nothing to see\n").unwrap();
        self.wait_recorded(&marker);
        assert!(
            wait_for(DEADLINE, || self.count("SELECT count(*) FROM jobs") == 0),
            "the queue never drained:\n{}",
            self.log()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

//! Shared fixtures: a temp tree per test, a config pointing the store into
//! it, and the real `dlpd` binary run as a user would run it.

#![allow(dead_code)]

pub mod daemon;
pub mod docs;
pub mod jira;
pub mod nightfall;
pub mod pdf;
pub mod postgres;
pub mod quarantine;
pub mod sink;
pub mod slack;
pub mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The sample file from Nightfall's endpoint DLP tutorial.
pub const SAMPLE_PCI: &str = include_str!("../data/sample-pci.csv");

/// A temp directory with a config file whose state_dir lives inside it.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Env {
    /// A fresh tree with the default config plus `extra` TOML lines under
    /// `[output]`.
    pub fn new() -> Env {
        Env::with_config("")
    }

    /// A fresh tree; `extra` is appended to a config that sets state_dir.
    pub fn with_config(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("dlpd.toml");
        let state = dir.path().join("state");
        std::fs::write(
            &config,
            format!("[output]\nstate_dir = \"{}\"\n{extra}", state.display()),
        )
        .unwrap();
        Env { dir, config }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    /// Writes a file under the tree, creating parents.
    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }

    /// Runs dlpd with `args` and returns its output.
    pub fn run(&self, args: &[&str]) -> Run {
        dlpd(&self.config, args)
    }

    /// The same, with dlpd's address space held to `bytes` (a machine
    /// with less memory): a hostile file that makes dlpd itself allocate
    /// past it aborts the process.
    pub fn run_in(&self, bytes: u64, args: &[&str]) -> Run {
        use std::os::unix::process::CommandExt;
        let mut c = cmd(&self.config);
        c.args(args);
        // SAFETY: setrlimit is async-signal-safe; nothing else runs here.
        unsafe {
            c.pre_exec(move || {
                let r = libc::rlimit {
                    rlim_cur: bytes as libc::rlim_t,
                    rlim_max: bytes as libc::rlim_t,
                };
                match libc::setrlimit(libc::RLIMIT_AS, &r) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
        Run(c.output().unwrap())
    }

    /// `dlpd scan --format jsonl` of one file: each finding's (member,
    /// detector id), and stderr.
    pub fn scan_members(&self, path: &Path) -> (Vec<(String, String)>, String) {
        let run = self.run(&["scan", "--format", "jsonl", path.to_str().unwrap()]);
        let found = run
            .jsonl()
            .iter()
            .map(|v| {
                (
                    v["member"].as_str().unwrap_or("").to_string(),
                    v["detector"]["id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        (found, run.stderr())
    }
}

/// The README's example custom rule (a regex with a context rule and an
/// exclusion), shared by the rules tests and the engine benchmark.
pub const PROJECT_CODES_RULE: &str = include_str!("../data/project-codes-rule.toml");

/// `dlpd --config <config>`, with no inherited log or config settings.
pub fn cmd(config: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--config").arg(config);
    c.env_remove("RUST_LOG").env_remove("DLPD_CONFIG");
    c
}

/// Runs `dlpd --config <config> <args>` to the end.
pub fn dlpd(config: &Path, args: &[&str]) -> Run {
    Run(cmd(config).args(args).output().unwrap())
}

/// Runs `cmd` to the end with `input` on its stdin.
pub fn fed(mut cmd: Command, input: &[u8]) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that stops reading early is not this helper's failure.
    let _ = child.stdin.take().unwrap().write_all(input);
    Run(child.wait_with_output().unwrap())
}

/// Path to the built binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_dlpd"))
}

/// A finished run.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// stdout parsed as JSON lines.
    pub fn jsonl(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// The sample with the last digit of every card number changed, which
/// breaks each Luhn checksum.
pub fn sample_with_digits_changed() -> String {
    SAMPLE_PCI
        .lines()
        .map(|line| match line.rsplit_once(',') {
            Some((name, num)) if num.starts_with(|c: char| c.is_ascii_digit()) => {
                let mut b = num.as_bytes().to_vec();
                let last = b.last_mut().unwrap();
                *last = b'0' + (*last - b'0' + 1) % 10;
                format!("{name},{}\n", String::from_utf8(b).unwrap())
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

/// A minimal HTTP/1.1 client for requests no well-behaved client sends.
pub fn http(port: u16, head: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(format!("{head}Host: localhost\r\nConnection: close\r\n\r\n").as_bytes());
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

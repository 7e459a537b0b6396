//! A real PostgreSQL server for a test: Debian's `postgresql` package
//! (installed by `.ci/run`), a fresh cluster made by `initdb` in a temp
//! directory, started by `pg_ctl` on a private port of 127.0.0.1, with
//! password (SCRAM) authentication over TCP. As root it runs as `nobody`,
//! since PostgreSQL refuses to run as root. Stopped when dropped.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The user, password and database the tests use.
pub const USER: &str = "dlpd";
pub const PASSWORD: &str = "fleet-test-password";

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// Serving TLS with a certificate of its own for 127.0.0.1.
    tls: bool,
}

/// The directory holding `initdb` and `pg_ctl`: the newest installed.
fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    found.retain(|b| b.join("initdb").is_file());
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/initdb); apt-get install postgresql, as .ci/run does")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Postgres {
    /// A new cluster, started, with the test user and database.
    pub fn start() -> Postgres {
        Postgres::make(false)
    }

    /// The same, serving TLS too, with a self-signed certificate for
    /// 127.0.0.1 ([`Postgres::cert`]).
    pub fn start_tls() -> Postgres {
        Postgres::make(true)
    }

    /// The certificate of the CA that signed the server's (PEM), to trust
    /// as `fleet.ca_file`.
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    fn make(tls: bool) -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if unsafe { libc::geteuid() } == 0 {
            for p in [dir.path(), &data, &pwfile] {
                let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
                assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
            }
        }
        if tls {
            // A CA of its own, and the server's certificate from it.
            let d = dir.path();
            let openssl = |args: &[&str]| {
                let out = Command::new("openssl")
                    .current_dir(d)
                    .args(args)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "openssl {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=dlpd test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ]);
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ]);
            std::fs::write(
                d.join("san.ext"),
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n",
            )
            .unwrap();
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                "server.crt",
            ]);
            let key = d.join("server.key");
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            if unsafe { libc::geteuid() } == 0 {
                for f in ["server.key", "server.crt"] {
                    let c = std::ffi::CString::new(d.join(f).to_str().unwrap()).unwrap();
                    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
                }
            }
        }
        let pg = Postgres {
            dir,
            bin,
            port: 0,
            tls,
        };
        let out = pg
            .command("initdb")
            .args([
                "-D",
                data.to_str().unwrap(),
                "-U",
                USER,
                "--auth-local=trust",
            ])
            .args([
                "--auth-host=scram-sha-256",
                "--pwfile",
                pwfile.to_str().unwrap(),
            ])
            .args(["-E", "UTF8", "--no-instructions"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = pg;
        // A port taken between choosing and binding: choose again.
        for _ in 0..5 {
            pg.port = free_port();
            if pg.ctl_start() {
                pg.psql("postgres", &format!("CREATE DATABASE {USER}"));
                return pg;
            }
        }
        panic!("PostgreSQL did not start:\n{}", pg.server_log());
    }

    /// A command from the server's bin directory, run as the cluster's owner.
    fn command(&self, name: &str) -> Command {
        let exe = self.bin.join(name);
        let mut cmd = if unsafe { libc::geteuid() } == 0 {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
            c.arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.env_remove("PGPORT").env_remove("PGHOST");
        cmd
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn ctl_start(&self) -> bool {
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=300",
            self.port,
            self.dir.path().display()
        );
        if self.tls {
            opts.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={0}/server.crt -c ssl_key_file={0}/server.key",
                self.dir.path().display()
            ));
        }
        self.command("pg_ctl")
            .args(["-D", self.data().to_str().unwrap(), "-w", "-t", "60"])
            .args(["-l", self.dir.path().join("server.log").to_str().unwrap()])
            .args(["-o", &opts, "start"])
            .output()
            .unwrap()
            .status
            .success()
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the server (fast: open connections are cut).
    pub fn stop(&self) {
        let out = self
            .command("pg_ctl")
            .args([
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        assert!(
            self.ctl_start(),
            "PostgreSQL did not start again:\n{}",
            self.server_log()
        );
    }

    /// The URL a daemon connects with, password included.
    pub fn url(&self) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{USER}",
            self.port
        )
    }

    /// Writes the URL to a 0600 file for `fleet.postgres_url_file`.
    pub fn url_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join("fleet-url");
        std::fs::write(&path, self.url()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// Runs `sql` in `db` through psql on the Unix socket; returns its
    /// unaligned output, trimmed.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self
            .command("psql")
            .args([
                "-h",
                self.dir.path().to_str().unwrap(),
                "-p",
                &self.port.to_string(),
            ])
            .args([
                "-U",
                USER,
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-XAtq",
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A number from `sql` in the test database.
    pub fn count(&self, sql: &str) -> i64 {
        self.psql(USER, sql)
            .parse()
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args([
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
    }
}

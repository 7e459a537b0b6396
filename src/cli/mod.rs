//! The command line: arguments first, then one function per command that
//! returns the process exit code.
//!
//! Exit codes follow CI secret scanners: 0 = no findings, 1 = findings,
//! 2 = error (for `scan`: only when nothing at all could be scanned), 3 =
//! something went unseen (`scan`) or no daemon runs (`status`), 4 = a
//! path given to `scan` does not exist.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::report::{FindingWriter, Format};
use crate::store::{FindingQuery, Store};

mod fleet;
pub mod generated;
mod scan;
mod status;

pub use fleet::FleetCommand;
pub use scan::ScanArgs;

/// Exit code: nothing found.
pub const EXIT_CLEAN: u8 = 0;
/// Exit code: findings.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: an error.
pub const EXIT_ERROR: u8 = 2;
/// Exit code: nothing found, but a file or an archive member was skipped
/// for a limit or damage, so something went unseen. A CI gate fails closed.
pub const EXIT_UNSEEN: u8 = 3;
/// Exit code of `scan`: a path given does not exist (the others were
/// scanned and their findings printed). It outranks findings, so a typo in
/// a CI job cannot pass for a clean or a dirty tree.
pub const EXIT_NO_SUCH_PATH: u8 = 4;

/// dlpd finds card numbers, social security numbers and API keys in files.
#[derive(Debug, Parser)]
#[command(name = "dlpd", version, about, long_about = None)]
pub struct Cli {
    /// Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults).
    #[arg(long, global = true, env = "DLPD_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: watch, queue, scan, record; until SIGTERM or SIGINT (SIGHUP reloads).
    Run(RunArgs),
    /// Show the daemon's queue, counts, last error and uptime (reads the store); exit 3 when it is not running.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Scan files or directories once and print the findings.
    Scan(ScanArgs),
    /// Validate the config, run the doctor's checks, and print the effective config.
    CheckConfig,
    /// Check everything `dlpd run` needs (secrets, roots, state directory, listener, inotify, quarantine), each problem with its fix.
    Doctor,
    /// List the findings in the store.
    Findings(FindingsArgs),
    /// List quarantined files, or put one back.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// The fleet database every machine ships its events to.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Print the scanner.allow_values entry for a value read from stdin.
    HashValue,
    /// dlpd's own: parse a PDF from stdin in a limited child process.
    #[command(hide = true)]
    PdfText,
}

/// `dlpd quarantine`
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Every quarantined (and restored) file, with its id and original path.
    List,
    /// Put a quarantined file back where it was, with its mode and times.
    Restore {
        /// The id `dlpd quarantine list` shows.
        id: i64,
    },
}

/// `dlpd run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Detach from the terminal, for hosts without a service manager (needs log.file).
    #[arg(long)]
    pub daemonize: bool,
    /// Write the pid to this file, locked while dlpd runs.
    #[arg(long, value_name = "PATH")]
    pub pidfile: Option<PathBuf>,
}

/// `dlpd findings`
#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// Only this file, or the files under this directory.
    #[arg(long, value_name = "P")]
    pub path: Option<PathBuf>,
    /// Only files scanned since T: an RFC 3339 time, or a duration ago such as 2h or 7d.
    #[arg(long, value_name = "T", value_parser = parse_since)]
    pub since: Option<SystemTime>,
    /// Output format (default: table on a terminal, else jsonl).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// List the files dlpd gave up on, with the reason, instead of findings.
    #[arg(long, conflicts_with_all = ["path", "since"])]
    pub failed: bool,
}

fn parse_since(s: &str) -> Result<SystemTime, String> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t);
    }
    let ago = humantime::parse_duration(s).map_err(|_| {
        format!("`{s}` is neither an RFC 3339 time (2026-01-31T12:00:00Z) nor a duration (2h, 7d)")
    })?;
    SystemTime::now()
        .checked_sub(ago)
        .ok_or_else(|| format!("`{s}` reaches before the epoch"))
}

/// Runs the parsed command line; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    if let Command::PdfText = cli.command {
        return crate::engine::extract::pdf::child_main();
    }
    // PDFs are parsed in children of this binary, under limits; never in
    // this process, where nothing bounds the parser's memory. On Linux the
    // binary is the one running even once a package upgrade replaced it.
    let exe = match cfg!(target_os = "linux") {
        true => "/proc/self/exe".into(),
        // Not found: no child starts, and PDFs are skipped saying so.
        false => std::env::current_exe().unwrap_or_default(),
    };
    crate::engine::extract::pdf::isolate_with(exe);
    let (mut config, source) = match Config::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("dlpd: {e}");
            return EXIT_ERROR;
        }
    };
    // A one-off scan is quiet but for warnings, unless asked (-v, -q).
    if let Command::Scan(args) = &cli.command {
        config.log.level = args.log_level();
        config.log.also_info = (!args.quiet).then_some(scan::SUMMARY);
    }
    let log = match crate::logging::init(&config.log) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("dlpd: {e}");
            return EXIT_ERROR;
        }
    };
    // doctor and check-config list them with their other checks.
    if !matches!(cli.command, Command::Doctor | Command::CheckConfig) {
        for w in config.warnings() {
            tracing::warn!("{w}");
        }
    }
    let result = match cli.command {
        Command::CheckConfig => check_config(&config, &source),
        Command::Doctor => doctor(&config, &source),
        Command::Run(args) => {
            tracing::info!(config = %source, "dlpd {}", env!("CARGO_PKG_VERSION"));
            let opts = crate::service::RunOptions {
                daemonize: args.daemonize,
                pidfile: args.pidfile,
                config_path: cli.config.clone(),
            };
            crate::service::run(config, log, &opts).map(|()| EXIT_CLEAN)
        }
        Command::Status { json } => status::status(&config, json),
        Command::Scan(args) => scan::scan(&config, args),
        Command::Findings(args) => findings(&config, args),
        Command::Quarantine(cmd) => quarantine(&config, cmd),
        Command::Fleet(cmd) => fleet::fleet(&config, cmd),
        Command::HashValue => hash_value(),
        Command::PdfText => Ok(crate::engine::extract::pdf::child_main()),
    };
    result.unwrap_or_else(|e| {
        // The reader went away (`dlpd status | head -1`): nothing to say.
        if e.chain()
            .any(|c| c.downcast_ref::<io::Error>().is_some_and(is_broken_pipe))
        {
            return EXIT_CLEAN;
        }
        eprintln!("dlpd: {e:#}");
        EXIT_ERROR
    })
}

/// Prints the effective config; with the Nightfall engine, also checks
/// that its secrets can be read (without printing them).
fn check_config(config: &Config, source: &crate::config::Source) -> anyhow::Result<u8> {
    let mut out = io::stdout().lock();
    write!(
        out,
        "# dlpd effective config (from {source})\n{}",
        config.to_toml()
    )?;
    out.flush()?;
    // What `run` would refuse, or do differently from what is asked.
    let checks = crate::doctor::examine(config);
    let fine = crate::doctor::report(&checks, false, &mut io::stderr().lock())?;
    Ok(if fine { EXIT_CLEAN } else { EXIT_ERROR })
}

/// Every check with its outcome; exit 2 when one failed.
fn doctor(config: &Config, source: &crate::config::Source) -> anyhow::Result<u8> {
    let mut out = io::stdout().lock();
    writeln!(out, "config: {source}")?;
    let checks = crate::doctor::examine(config);
    let fine = crate::doctor::report(&checks, true, &mut out)?;
    out.flush()?;
    Ok(if fine { EXIT_CLEAN } else { EXIT_ERROR })
}

fn default_format() -> Format {
    if io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Jsonl
    }
}

/// Whether an output error is the reader going away (`| head`), which is
/// not a failure.
fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// Reads a value from stdin (one trailing newline is not part of it) and
/// prints its allowlist entry; the value itself is never echoed.
fn hash_value() -> anyhow::Result<u8> {
    use std::io::Read;
    let mut raw = Vec::new();
    io::stdin().read_to_end(&mut raw)?;
    if raw.ends_with(b"\n") {
        raw.pop();
        if raw.ends_with(b"\r") {
            raw.pop();
        }
    }
    if raw.is_empty() {
        anyhow::bail!("no value on stdin; try: echo -n VALUE | dlpd hash-value");
    }
    let mut out = io::stdout().lock();
    writeln!(out, "\"sha256:{}\"", crate::engine::allow::hash_value(&raw))?;
    out.flush()?;
    Ok(EXIT_CLEAN)
}

fn quarantine(config: &Config, cmd: QuarantineCommand) -> anyhow::Result<u8> {
    // Listing only reads; a restore writes, and may be the store's first use.
    let mut store = match cmd {
        QuarantineCommand::List => Store::open_existing(&config.output)?,
        QuarantineCommand::Restore { .. } => Store::open(&config.output)?,
    };
    // A restore is news to the fleet and the events file.
    if let (QuarantineCommand::Restore { .. }, Some((settings, consumers))) =
        (&cmd, crate::fleet::event_settings(config)?)
    {
        store.set_events(Some(settings), &consumers)?;
    }
    let q = crate::quarantine::Quarantine::new(
        config.remediation.quarantine_dir(&config.output),
        config.remediation.stub,
        config.watch.paths.clone(),
    );
    match cmd {
        QuarantineCommand::List => {
            let list = store.quarantine_list(None)?;
            let mut out = io::stdout().lock();
            writeln!(
                out,
                "{:>4}  {:<11}  {:<20}  {:>10}  {:<28}  PATH",
                "ID", "STATE", "AT", "BYTES", "FINDINGS"
            )?;
            for r in list {
                writeln!(
                    out,
                    "{:>4}  {:<11}  {:<20}  {:>10}  {:<28}  {}",
                    r.id,
                    format!("{:?}", r.state).to_lowercase(),
                    crate::report::rfc3339(r.at),
                    r.size,
                    r.detectors,
                    r.path.display()
                )?;
            }
            Ok(EXIT_CLEAN)
        }
        QuarantineCommand::Restore { id } => {
            let path = q.restore(&mut store, id)?;
            eprintln!("dlpd: restored {}", path.display());
            Ok(EXIT_CLEAN)
        }
    }
}

fn failed_files(store: &Store, format: Format) -> anyhow::Result<u8> {
    if format == Format::Sarif {
        anyhow::bail!("--failed lists files, not findings: use --format jsonl, csv or table");
    }
    let failed = store.failed_files()?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut buf = Vec::new();
    if format == Format::Csv {
        crate::report::csv_row(&mut buf, &["failed_at", "path", "error"]);
    }
    for f in &failed {
        let (at, path) = (crate::report::rfc3339(f.at), f.path.to_string_lossy());
        match format {
            Format::Jsonl => {
                serde_json::to_writer(
                    &mut buf,
                    &serde_json::json!({"path": path, "error": f.error, "failedAt": at}),
                )?;
                buf.push(b'\n');
            }
            Format::Csv => crate::report::csv_row(&mut buf, &[at.as_str(), &path, &f.error]),
            Format::Table => {
                buf.extend_from_slice(format!("{path}  {}  ({at})\n", f.error).as_bytes())
            }
            Format::Sarif => {} // refused above
        }
    }
    match out.write_all(&buf).and_then(|()| out.flush()) {
        Err(e) if !is_broken_pipe(&e) => return Err(e.into()),
        _ => {}
    }
    Ok(if failed.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}

fn findings(config: &Config, args: FindingsArgs) -> anyhow::Result<u8> {
    let store = Store::open_existing(&config.output)?;
    if args.failed {
        return failed_files(&store, args.format.unwrap_or_else(default_format));
    }
    let records = store.findings(&FindingQuery {
        path: args.path,
        since: args.since,
    })?;
    let mut out = FindingWriter::new(
        io::BufWriter::new(io::stdout().lock()),
        args.format.unwrap_or_else(default_format),
    )
    .fit(&records);
    for r in &records {
        match out.write(r) {
            Err(e) if is_broken_pipe(&e) => return Ok(EXIT_FINDINGS),
            other => other?,
        }
    }
    match out.finish() {
        Err(e) if !is_broken_pipe(&e) => return Err(e.into()),
        _ => {}
    }
    Ok(if records.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}

//! The man page and shell completions, generated from the command line's
//! own definition so they cannot drift from it. The files shipped in
//! `packaging/share/` are these bytes; a test regenerates and compares
//! them (`DLPD_BLESS=1 cargo test --test packaging` rewrites them).

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// Each shell dlpd ships a completion for, and the file's name.
pub const COMPLETIONS: &[(Shell, &str)] = &[
    (Shell::Bash, "dlpd.bash"),
    (Shell::Zsh, "_dlpd"),
    (Shell::Fish, "dlpd.fish"),
];

/// The man pages, as git has them: `dlpd.1`, and one per command
/// (`dlpd-scan.1`, `dlpd-quarantine-restore.1`), in roff.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let mut cli = Cli::command();
    // Gives each command its display name (`dlpd-scan`).
    cli.build();
    let mut pages = Vec::new();
    add_pages(&cli, &mut pages);
    pages
}

fn add_pages(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) {
    if cmd.is_hide_set() {
        return;
    }
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .expect("rendering into memory cannot fail");
    pages.push((format!("{name}.1"), out));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        add_pages(sub, pages);
    }
}

/// The completion script for `shell`.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "dlpd", &mut out);
    out
}

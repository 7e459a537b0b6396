//! The `dlpd` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    ExitCode::from(dlpd::cli::run(dlpd::cli::Cli::parse()))
}

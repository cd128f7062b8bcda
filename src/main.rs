//! The `trailsift` command: parse arguments, run, exit with the documented status.

use std::process::ExitCode;

use clap::Parser;
use trailsift::cli::Args;
use trailsift::problems::{EXIT_FATAL, printable};

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_FATAL as u8 } else { 0 });
        }
    };
    let status = trailsift::Options::from_args(args).and_then(|opts| trailsift::run(&opts));
    match status {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => {
            eprintln!("trailsift: error: {}", printable(&format!("{err:#}")));
            ExitCode::from(EXIT_FATAL as u8)
        }
    }
}

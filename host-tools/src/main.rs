//! `rackctl`: talk to rackloop controllers: a board on a serial port, the firmware in QEMU, or
//! the simulator (`racksim serve`).
//!
//! Exit codes: 0 done; 1 the device refused (its reason and the allowed range are printed);
//! 2 bad usage or input; 3 no answer within the timeout; 4 the device could not be reached.
#![allow(clippy::print_stdout)] // a command-line tool prints

/// Prints a line on stdout; when the reader has gone (`rackctl log | head -1`), rackctl ends
/// quietly instead of panicking, as Unix tools do.
macro_rules! out {
    ($($t:tt)*) => { $crate::print_text(format_args!("{}\n", format_args!($($t)*))) };
}

mod cli;
mod commands;
mod discover;
mod firmware;
mod keys;
mod render;
mod watch;

use rack_host::{link, units};

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use link::{Link, LinkError, Target};
use serde_json::json;

use cli::Cli;

/// Why a command failed, and its exit code.
pub(crate) enum Failure {
    Refused(String),
    Usage(String),
    Link(LinkError),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Refused(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Link(LinkError::Connect(_)) => 4,
            Failure::Link(_) => 3,
        }
    }
}

impl From<LinkError> for Failure {
    fn from(e: LinkError) -> Self {
        Failure::Link(e)
    }
}

/// Writes `text` to stdout; a closed pipe ends the process with success (what the reader
/// wanted it has), any other write error with exit code 74 (`EX_IOERR`).
pub(crate) fn print_text(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("rackctl: cannot write the output: {e}");
        std::process::exit(74);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let text = failure_text(&f);
            // A refusal has printed its own JSON (with the device's reason and range).
            if cli.json && !matches!(f, Failure::Refused(_)) {
                out!("{}", json!({ "error": text, "exit_code": f.code() }));
            }
            eprintln!("rackctl: {text}");
            ExitCode::from(f.code())
        }
    }
}

/// What a failure says to the user.
pub(crate) fn failure_text(f: &Failure) -> String {
    match f {
        Failure::Refused(t) | Failure::Usage(t) => t.clone(),
        Failure::Link(e) => e.to_string(),
    }
}

fn target(cli: &Cli) -> Result<Target, Failure> {
    if let Some(c) = &cli.connect {
        return Ok(Target::Tcp(c.clone()));
    }
    if let Some(p) = &cli.port {
        return Ok(Target::Serial(p.clone(), cli.baud));
    }
    if let Ok(c) = std::env::var("RACKCTL_CONNECT") {
        return Ok(Target::Tcp(c));
    }
    if let Ok(p) = std::env::var("RACKCTL_PORT") {
        let baud = std::env::var("RACKCTL_BAUD")
            .ok()
            .and_then(|b| b.parse().ok())
            .unwrap_or(cli.baud);
        return Ok(Target::Serial(p, baud));
    }
    let path = keys::config_path();
    if let Ok(text) = std::fs::read_to_string(&path) {
        let v: toml::Table = toml::from_str(&text)
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        if let Some(c) = v.get("connect").and_then(toml::Value::as_str) {
            return Ok(Target::Tcp(c.to_owned()));
        }
        if let Some(p) = v.get("port").and_then(toml::Value::as_str) {
            let baud = v
                .get("baud")
                .and_then(toml::Value::as_integer)
                .and_then(|b| u32::try_from(b).ok());
            return Ok(Target::Serial(p.to_owned(), baud.unwrap_or(cli.baud)));
        }
    }
    Err(Failure::Usage(
        "no device given: use --connect HOST:PORT or --port DEVICE (or RACKCTL_CONNECT / RACKCTL_PORT)".into(),
    ))
}

pub(crate) fn open(cli: &Cli) -> Result<Link, Failure> {
    let key = keys::key(cli)?;
    Ok(Link::open(
        &target(cli)?,
        Duration::from_millis(cli.timeout),
        cli.retries,
    )?
    .with_key(key))
}

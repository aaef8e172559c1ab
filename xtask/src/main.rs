//! `cargo xtask`: the one test command and the build chores around it.
//!
//! `cargo xtask test` runs, in order, and stops at the first failure with a non-zero exit:
//! toolchain set-up (targets and components `rust-toolchain.toml` names, added with rustup
//! when missing, since rustup here does not add them on a cargo call), `cargo fmt --check`,
//! `cargo clippy --all-targets -D warnings`, every host test of the workspace, and a build of
//! every `no_std` crate for the firmware target, which proves they need no `std`.
//!
//! Written with the standard library alone: it runs before anything else is built, so it
//! should compile in seconds and depend on nothing that could itself fail to build.
#![allow(clippy::print_stdout)] // printing what it does is this program's job

use std::process::{Command, ExitCode};
use std::time::Instant;

/// The firmware target every `no_std` crate must build for (STM32G4 and QEMU's mps2-an386).
const FIRMWARE_TARGET: &str = "thumbv7em-none-eabihf";
/// Components the test command uses.
const COMPONENTS: &[&str] = &["rustfmt", "clippy"];
/// Crates that must stay `no_std`: the firmware's own and what it depends on.
const NO_STD_CRATES: &[&str] = &["rack-protocol", "rack-control", "rack-node"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("setup") => setup(),
        None | Some("help" | "--help" | "-h") => {
            print_help();
            Ok(())
        }
        Some(other) => Err(format!(
            "unknown xtask command `{other}`; the commands are: test, setup, help"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_help() {
    println!(
        "cargo xtask <command>\n\n\
         commands:\n  \
         test   every check CI runs: fmt, clippy, host tests, no_std builds for {FIRMWARE_TARGET}\n  \
         setup  add the rustup targets and components the project needs\n  \
         help   this text"
    );
}

/// The README's test command.
fn test() -> Result<(), String> {
    let started = Instant::now();
    setup()?;
    let cargo = cargo();
    step("format", &cargo, &["fmt", "--all", "--", "--check"])?;
    step(
        "clippy",
        &cargo,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step(
        "host tests",
        &cargo,
        &["test", "--workspace", "--locked", "--no-fail-fast"],
    )?;
    let mut build = vec![
        "build",
        "--locked",
        "--release",
        "--target",
        FIRMWARE_TARGET,
    ];
    for krate in NO_STD_CRATES {
        build.extend(["--package", krate]);
    }
    step(
        &format!("no_std build for {FIRMWARE_TARGET}"),
        &cargo,
        &build,
    )?;
    println!(
        "xtask: all checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Adds the firmware target and the components when the pinned toolchain lacks them.
fn setup() -> Result<(), String> {
    let installed = output("rustup", &["target", "list", "--installed"])?;
    if !installed.lines().any(|line| line.trim() == FIRMWARE_TARGET) {
        step(
            "add firmware target",
            "rustup",
            &["target", "add", FIRMWARE_TARGET],
        )?;
    }
    let components = output("rustup", &["component", "list", "--installed"])?;
    for component in COMPONENTS {
        let present = components
            .lines()
            .any(|line| line.split('-').next() == Some(component));
        if !present {
            step(
                &format!("add component {component}"),
                "rustup",
                &["component", "add", component],
            )?;
        }
    }
    Ok(())
}

/// The cargo that runs this xtask (so the pinned toolchain is used throughout).
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs one named step, printing what it does and how long it took.
fn step(name: &str, program: &str, args: &[&str]) -> Result<(), String> {
    println!("xtask: == {name}: {program} {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|error| format!("{name}: could not start `{program}`: {error}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if status.success() {
        println!("xtask: ok {name} ({seconds:.1} s)");
        Ok(())
    } else {
        Err(format!("{name} failed ({status}) after {seconds:.1} s"))
    }
}

/// Runs a program and returns its standard output.
fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|error| format!("could not start `{program}`: {error}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

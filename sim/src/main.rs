//! `racksim`: runs rackloop's controllers closed-loop against the plant models.
//!
//! `racksim run sim/scenarios/load-step.toml --compare baseline --out target/report`
//! prints the KPI table and the checks, exits 0 when every check passes, 1 when one fails,
//! 2 when the input (a scenario file, a flag) is bad.
#![allow(clippy::print_stdout)] // a command-line tool prints

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rack_sim::scenario::Scenario;

/// rackloop's plant simulator: runs the real controllers against a row of liquid-cooled racks.
#[derive(Debug, Parser)]
#[command(name = "racksim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run a scenario file and report its KPIs and checks.
    Run {
        /// The scenario, a TOML file (see sim/scenarios/).
        scenario: PathBuf,
        /// Also run a conventional CDU control and print both KPI sets with their ratios.
        #[arg(long, value_enum)]
        compare: Option<Baseline>,
        /// Write trace.csv, summary.json and plots.png into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print the summary as JSON on stdout instead of the table.
        #[arg(long)]
        json: bool,
        /// Processor in the loop: the controller's ARM binary in QEMU drives the plant, the
        /// host build of the same controller beside it must agree bit for bit.
        #[arg(long, value_enum, conflicts_with = "compare")]
        pil: Option<PilTarget>,
        /// The firmware image for --pil (default: what `cargo xtask firmware` built).
        #[arg(long, value_name = "ELF", requires = "pil")]
        firmware: Option<PathBuf>,
    },
    /// Run a live row whose devices speak the wire protocol on TCP ports (for rackctl).
    ///
    /// Port BASE is the CDU's coolant controller; BASE+1+r is rack r's power controller.
    Serve {
        /// A scenario to run live (default: the built-in practice row, with a pump trip at
        /// 5 min and a leak at 10 min of simulated time).
        scenario: Option<PathBuf>,
        /// Simulated seconds per wall-clock second.
        #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
        speed: f64,
        /// First TCP port (loopback only).
        #[arg(long, default_value_t = 7700)]
        base_port: u16,
    },
}

fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.01..=1000.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is outside the allowed 0.01..=1000")),
        Err(_) => Err(format!("`{text}` is not a number (allowed 0.01..=1000)")),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PilTarget {
    /// The coolant controller (CDU) image.
    Coolant,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Baseline {
    /// Feedback-only PI on the valve (SIMC-tuned from a bump test), constant-speed pumps.
    Baseline,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run {
            scenario,
            out,
            json,
            pil: Some(PilTarget::Coolant),
            firmware,
            ..
        } => pil(&scenario, firmware, out, json),
        Cmd::Run {
            scenario,
            compare,
            out,
            json,
            pil: None,
            ..
        } => run(&scenario, compare.is_some(), out, json),
        Cmd::Serve {
            scenario,
            speed,
            base_port,
        } => serve(scenario.as_deref(), speed, base_port),
    }
}

fn pil(
    path: &std::path::Path,
    firmware: Option<PathBuf>,
    out: Option<PathBuf>,
    json: bool,
) -> ExitCode {
    let scenario = match Scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("racksim: bad scenario: {e}");
            return ExitCode::from(2);
        }
    };
    let image = firmware.unwrap_or_else(|| rack_sim::pil::default_image("coolant-controller"));
    let outcome = match rack_sim::run_pil(&scenario, &image, |_| {}) {
        Ok((o, log)) => {
            if !json {
                print!("firmware log:\n{log}");
            }
            o
        }
        Err(e) => {
            eprintln!("racksim: processor in the loop: {e}");
            return ExitCode::from(2);
        }
    };
    report(&outcome, out, json)
}

fn serve(path: Option<&std::path::Path>, speed: f64, base_port: u16) -> ExitCode {
    let scenario = match path {
        Some(p) => Scenario::load(p),
        None => Scenario::parse(
            std::path::Path::new("<built-in practice row>"),
            rack_sim::PRACTICE_ROW,
        ),
    };
    let scenario = match scenario {
        Ok(s) => s,
        Err(e) => {
            eprintln!("racksim: bad scenario: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let result = rack_sim::serve(&scenario, base_port, speed, &stop, |ports| {
        println!("racksim serve: {} at {speed}x real time", scenario.name);
        if let Some((cdu, racks)) = ports.split_first() {
            println!("  coolant controller (CDU): 127.0.0.1:{cdu}");
            for (r, port) in racks.iter().enumerate() {
                println!("  rack {r} power controller: 127.0.0.1:{port}");
            }
        }
        println!("  try: rackctl --connect 127.0.0.1:{base_port} status");
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("racksim: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(path: &std::path::Path, compare: bool, out: Option<PathBuf>, json: bool) -> ExitCode {
    let scenario = match Scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("racksim: bad scenario: {e}");
            return ExitCode::from(2);
        }
    };
    let bar = if std::io::stderr().is_terminal() && !json {
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {percent:>3}% {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!(
            "{} ({} s simulated)",
            scenario.name, scenario.duration_s
        ));
        Some(bar)
    } else {
        None
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // fraction in 0..=1
    let outcome = rack_sim::run_scenario(&scenario, compare, |f| {
        if let Some(bar) = &bar {
            bar.set_position((f.clamp(0.0, 1.0) * 1000.0) as u64);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("racksim: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    report(&outcome, out, json)
}

/// Prints an outcome (table or JSON), writes its files, and gives the exit status.
fn report(outcome: &rack_sim::Outcome, out: Option<PathBuf>, json: bool) -> ExitCode {
    if json {
        match serde_json::to_string_pretty(&outcome.summary) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("racksim: cannot encode the summary: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", rack_sim::report::table(&outcome.summary));
        print!(
            "  events:\n{}",
            rack_sim::report::markers_text(&outcome.run.markers)
        );
    }
    if let Some(dir) = out {
        if let Err(e) = rack_sim::report::write_outputs(
            &dir,
            &outcome.summary,
            &outcome.run,
            outcome.baseline.as_ref(),
        ) {
            eprintln!("racksim: {e}");
            return ExitCode::from(2);
        }
        if !json {
            println!(
                "  wrote {}/{{summary.json, trace.csv, plots.png}}",
                dir.display()
            );
        }
    }
    if outcome.summary.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

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
        /// The keys the devices accept signed writes from: a file of `ID ROLE SECRET` lines
        /// (made with a fresh maintenance key 1 and operator key 2 if it does not exist; give
        /// it to rackctl as --key-file). Without it every write is refused.
        #[arg(long, value_name = "FILE")]
        keys: Option<PathBuf>,
        /// Clients per device; more are turned away.
        #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u16).range(1..=4096))]
        max_clients: u16,
        /// Drop a client silent for this many seconds.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        idle_timeout: u64,
    },
    /// Load a live row (`racksim serve`, loopback only) with misbehaving clients for a while,
    /// and report whether it kept its speed and how fast a probe was answered.
    Load {
        /// The device's port, HOST:PORT (a loopback address).
        #[arg(long, default_value = "127.0.0.1:7700")]
        connect: std::net::SocketAddr,
        /// Clients that flood requests.
        #[arg(long, default_value_t = 1)]
        flood: usize,
        /// Clients that connect and say nothing.
        #[arg(long, default_value_t = 200)]
        idle: usize,
        /// Clients that send half a frame and stall.
        #[arg(long, default_value_t = 100)]
        half: usize,
        /// Clients that subscribe, ask for more, and never read.
        #[arg(long, default_value_t = 20)]
        deaf: usize,
        /// Seconds the load lasts (at most 600).
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Monte Carlo over the plant's uncertainty: each sample a plant drawn from the file's
    /// `[uncertainty]` (else the default set in sim/uncertainty/), which the controllers know
    /// only by its nameplate, run with rackloop and with the baseline (each commissioned by a
    /// bump test on that plant). Prints each KPI's median, 95th percentile and maximum for
    /// both, their per-sample ratio and how often rackloop is no worse; writes the worst
    /// sample as a scenario file that reruns it.
    Sweep {
        /// The scenario, a TOML file (see sim/scenarios/).
        scenario: PathBuf,
        /// Plants to sample.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        samples: u64,
        /// Seed of the draws (the same seed gives the same sweep on any thread count).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the report as JSON on stdout instead of the table.
        #[arg(long)]
        json: bool,
        /// Write sweep.json, distributions.png and worst.toml into this directory (else the
        /// worst sample goes to target/sweep/<scenario>-worst.toml).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Threads (default: one per core).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
        threads: Option<u64>,
    },
    /// Run a whole campus: every row's CDU and every rack's power controller, in parallel.
    ///
    /// Prints campus input power, its ramps and the energy of its swings from 0.1 Hz to the
    /// 100 ms control step's Nyquist frequency (5 Hz), pump energy, throttle time, alarms by
    /// kind, the speed and the peak memory.
    Campus {
        /// A campus file (default: the built-in 4.5 GW campus, sim/campus/campus-4.5gw.toml).
        campus: Option<PathBuf>,
        /// Keep only the rows of the first N racks (quick runs): whole rows of 8 racks, N
        /// rounded up; scheduled faults in the rows cut off are dropped (each said on stderr).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        racks: Option<u64>,
        /// Also run the campus without the racks' grid smoothing and report the ratio.
        #[arg(long)]
        compare: bool,
        /// Threads (default: one per core).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
        threads: Option<u64>,
        /// Measure the speed of the campus over this many simulated seconds (no warm-up),
        /// print it as a multiple of real time with the peak memory, and write nothing.
        #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "10", value_parser = parse_bench)]
        bench: Option<f64>,
        /// Write summary.json, campus.csv and campus.png into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print the summary as JSON on stdout instead of the table.
        #[arg(long)]
        json: bool,
    },
}

fn parse_bench(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.1..=3600.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} s is outside the allowed 0.1..=3600")),
        Err(_) => Err(format!(
            "`{text}` is not a number of seconds (allowed 0.1..=3600)"
        )),
    }
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
        Cmd::Load {
            connect,
            flood,
            idle,
            half,
            deaf,
            seconds,
            json,
        } => load(connect, flood, idle, half, deaf, seconds, json),
        Cmd::Serve {
            scenario,
            speed,
            base_port,
            keys,
            max_clients,
            idle_timeout,
        } => serve(
            scenario.as_deref(),
            speed,
            base_port,
            keys.as_deref(),
            rack_sim::run::serve::ServeLimits {
                max_clients: usize::from(max_clients),
                idle_timeout: std::time::Duration::from_secs(idle_timeout),
                ..rack_sim::run::serve::ServeLimits::default()
            },
        ),
        Cmd::Campus {
            campus,
            racks,
            compare,
            threads,
            bench,
            out,
            json,
        } => campus_cmd(campus.as_deref(), racks, compare, threads, bench, out, json),
        Cmd::Sweep {
            scenario,
            samples,
            seed,
            json,
            out,
            threads,
        } => sweep(&scenario, samples, seed, json, out.as_deref(), threads),
    }
}

/// Reads a scenario file; a bad one is said on stderr and is the user's error (exit 2).
fn load_scenario(path: &std::path::Path) -> Result<Scenario, ExitCode> {
    Scenario::load(path).map_err(|e| {
        eprintln!("racksim: bad scenario: {e}");
        ExitCode::from(2)
    })
}

/// Sets the number of worker threads; an error is the user's (exit 2).
fn set_threads(threads: Option<u64>) -> Result<(), ExitCode> {
    if let Some(n) = threads {
        let n = usize::try_from(n).unwrap_or(1);
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
        {
            eprintln!("racksim: cannot start {n} threads: {e}");
            return Err(ExitCode::from(2));
        }
    }
    Ok(())
}

fn sweep(
    path: &std::path::Path,
    samples: u64,
    seed: u64,
    json: bool,
    out: Option<&std::path::Path>,
    threads: Option<u64>,
) -> ExitCode {
    let scenario = match load_scenario(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Err(code) = set_threads(threads) {
        return code;
    }
    if let Some(dir) = &out
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("racksim: cannot create {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let bar = (std::io::stderr().is_terminal() && !json).then(|| {
        let bar = ProgressBar::new(samples);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} sweep [{bar:40}] {pos}/{len} samples {elapsed} (eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let outcomes = match rack_sim::sweep::run(&scenario, samples, seed, || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    }) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("racksim: sweep failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let worst = out.as_ref().map_or_else(
        || PathBuf::from(format!("target/sweep/{}-worst.toml", scenario.name)),
        |d| d.join("worst.toml"),
    );
    let report = rack_sim::sweep::report(&scenario, seed, &outcomes, &worst.display().to_string());
    if let Err(e) = rack_sim::sweep::write_files(&report, &outcomes, &worst, out) {
        eprintln!("racksim: {e}");
        return ExitCode::FAILURE;
    }
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("racksim: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", rack_sim::sweep::table(&report));
    }
    ExitCode::SUCCESS
}

#[allow(clippy::fn_params_excessive_bools)] // the command's flags
fn campus_cmd(
    path: Option<&std::path::Path>,
    racks: Option<u64>,
    compare: bool,
    threads: Option<u64>,
    bench: Option<f64>,
    out: Option<PathBuf>,
    json: bool,
) -> ExitCode {
    use rack_sim::report::campus as report;
    use rack_sim::scenario::campus::Campus;
    let loaded = match path {
        Some(p) => Campus::load(p),
        None => Campus::builtin(),
    };
    let mut c = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("racksim: bad campus: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(n) = racks {
        for note in c.cut_to_racks(usize::try_from(n).unwrap_or(usize::MAX)) {
            eprintln!("racksim: note: {note}");
        }
    }
    if let Some(seconds) = bench {
        c.file.duration_s = seconds;
        c.file.warmup_s = 0.0;
    }
    if let Err(code) = set_threads(threads) {
        return code;
    }
    // Under `mpirun` (a build with the `mpi` feature), this process is one rank of the run.
    #[cfg(feature = "mpi")]
    let Some(universe) = mpi::initialize() else {
        eprintln!("racksim: MPI was already initialised");
        return ExitCode::from(1);
    };
    #[cfg(feature = "mpi")]
    let exchange = rack_sim::run::exchange::Mpi::new(&universe);
    #[cfg(not(feature = "mpi"))]
    let exchange = rack_sim::run::exchange::Alone;
    let (run, unsmoothed) = run_campus(&c, compare, json, &exchange);
    if !rack_sim::run::exchange::Exchange::reports(&exchange) {
        // Every rank has the results; the first reports them.
        return ExitCode::SUCCESS;
    }
    let summary = report::summarize(&c, &run, unsmoothed.as_ref());
    campus_report(
        &summary,
        &run,
        unsmoothed.as_ref(),
        bench.is_some(),
        out,
        json,
    )
}

/// Runs the campus (and without smoothing when comparing), with a progress bar on a terminal.
fn run_campus(
    c: &rack_sim::scenario::campus::Campus,
    compare: bool,
    json: bool,
    exchange: &dyn rack_sim::run::exchange::Exchange,
) -> (
    rack_sim::report::campus::CampusRun,
    Option<rack_sim::report::campus::CampusRun>,
) {
    use rack_sim::run::campus;
    let runs = if compare { 2 } else { 1 };
    let total_rows = (c.file.rows * runs) as u64;
    let bar = (std::io::stderr().is_terminal() && !json && exchange.reports()).then(|| {
        let bar = ProgressBar::new(total_rows);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} rows {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let started = std::time::Instant::now();
    let sim_per_row = c.file.duration_s + c.file.warmup_s;
    let offset = std::sync::atomic::AtomicU64::new(0);
    let progress = |done: usize| {
        if let Some(bar) = &bar {
            let done = done as u64 + offset.load(std::sync::atomic::Ordering::Relaxed);
            bar.set_position(done);
            #[allow(clippy::cast_precision_loss)] // counts are small
            let simulated = done as f64 * sim_per_row / c.file.rows as f64;
            let speed = simulated / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "{simulated:.0} s of {} rows simulated, {speed:.2}x real time",
                c.file.rows
            ));
        }
    };
    let run = campus::run_with(c, true, &progress, exchange);
    offset.store(c.file.rows as u64, std::sync::atomic::Ordering::Relaxed);
    let unsmoothed = compare.then(|| campus::run_with(c, false, &progress, exchange));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    (run, unsmoothed)
}

/// Prints the campus's report (the speed line for `--bench`, else the table or JSON) and
/// writes its files.
fn campus_report(
    summary: &rack_sim::report::campus::CampusSummary,
    run: &rack_sim::report::campus::CampusRun,
    unsmoothed: Option<&rack_sim::report::campus::CampusRun>,
    bench: bool,
    out: Option<PathBuf>,
    json: bool,
) -> ExitCode {
    use rack_sim::report::campus as report;
    if bench {
        println!(
            "racksim campus --bench: {} ({} racks, {} rows), {} s simulated in {:.1} s on {}: {:.2}x real time, peak memory {:.0} MiB",
            summary.campus,
            summary.racks,
            summary.rows,
            summary.duration_s,
            run.wall_s + unsmoothed.map_or(0.0, |u| u.wall_s),
            report::threads(summary.threads),
            summary.speed_x_real_time,
            summary.peak_memory_mib
        );
        return ExitCode::SUCCESS;
    }
    if json {
        match serde_json::to_string_pretty(summary) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("racksim: cannot encode the summary: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", report::table(summary));
    }
    if let Some(dir) = out {
        if let Err(e) = report::write_outputs(&dir, summary, run, unsmoothed) {
            eprintln!("racksim: {e}");
            return ExitCode::from(2);
        }
        if !json {
            println!(
                "  wrote {}/{{summary.json, campus.csv, facility.csv, campus.png}}",
                dir.display()
            );
        }
    }
    ExitCode::SUCCESS
}

fn pil(
    path: &std::path::Path,
    firmware: Option<PathBuf>,
    out: Option<PathBuf>,
    json: bool,
) -> ExitCode {
    let scenario = match load_scenario(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let image = firmware.unwrap_or_else(|| rack_sim::run::pil::default_image("coolant-controller"));
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

#[allow(clippy::too_many_arguments)] // the command's flags
fn load(
    connect: std::net::SocketAddr,
    flood: usize,
    idle: usize,
    half: usize,
    deaf: usize,
    seconds: f64,
    json: bool,
) -> ExitCode {
    if !(seconds > 0.0 && seconds <= 600.0) {
        eprintln!("racksim: --seconds {seconds} is outside the allowed 0 < s <= 600");
        return ExitCode::from(2);
    }
    let plan = rack_sim::run::load::LoadPlan {
        flood,
        idle,
        half,
        deaf,
        duration: std::time::Duration::from_secs_f64(seconds),
    };
    match rack_sim::run::load::run_load(connect, plan) {
        Ok(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "clients": { "flood": flood, "idle": idle, "half": half, "deaf": deaf,
                                     "connected": r.connected, "deaf_dropped": r.deaf_dropped },
                        "wall_s": r.wall_s, "device_s": r.device_s, "speed": r.speed,
                        "probes": r.probes, "probes_lost": r.probes_lost,
                        "probe_ms": { "p50": r.probe_p50_ms, "p99": r.probe_p99_ms, "max": r.probe_max_ms },
                        "flood_bytes": r.flood_bytes,
                    })
                );
            } else {
                println!(
                    "racksim load on {connect}: {} clients connected ({flood} flooding, {idle} idle, \
                     {half} half frames, {deaf} not reading)",
                    r.connected
                );
                println!(
                    "  row speed {:.3}x real time ({:.1} device s in {:.1} wall s)",
                    r.speed, r.device_s, r.wall_s
                );
                println!(
                    "  probe (identity, 4/s): {} answered, {} lost; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                    r.probes, r.probes_lost, r.probe_p50_ms, r.probe_p99_ms, r.probe_max_ms
                );
                println!(
                    "  flood sent {:.1} MB; {} of {deaf} non-reading clients dropped by the server",
                    r.flood_bytes as f64 / 1e6,
                    r.deaf_dropped
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("racksim: load: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(
    path: Option<&std::path::Path>,
    speed: f64,
    base_port: u16,
    keys_path: Option<&std::path::Path>,
    limits: rack_sim::run::serve::ServeLimits,
) -> ExitCode {
    let keys = match keys_path.map(rack_sim::run::serve::load_or_create_keys) {
        None => Vec::new(),
        Some(Ok((keys, created))) => {
            if created && let Some(p) = keys_path {
                println!(
                    "racksim serve: made {} with a new maintenance key (1) and operator key (2)",
                    p.display()
                );
            }
            keys
        }
        Some(Err(e)) => {
            eprintln!("racksim: --keys: {e}");
            return ExitCode::from(2);
        }
    };
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
    let no_keys = keys.is_empty();
    let options = rack_sim::run::serve::ServeOptions { keys, limits };
    let result = rack_sim::serve(&scenario, base_port, speed, options, &stop, |ports| {
        println!("racksim serve: {} at {speed}x real time", scenario.name);
        if no_keys {
            println!("  no --keys: reads only, every write is refused");
        }
        if let Some((cdu, racks)) = ports.split_first() {
            println!("  coolant controller (CDU): 127.0.0.1:{cdu}");
            for (r, port) in racks.iter().enumerate() {
                println!("  rack {r} power controller: 127.0.0.1:{port}");
            }
        }
        println!("  try: rackctl --connect 127.0.0.1:{base_port} status");
    });
    match result {
        Ok(c) => {
            println!(
                "racksim serve: {} clients served; turned away {} (over the cap), dropped {} \
                 (not reading) and {} (idle)",
                c.accepted, c.over_cap, c.too_slow, c.idle
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("racksim: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(path: &std::path::Path, compare: bool, out: Option<PathBuf>, json: bool) -> ExitCode {
    let scenario = match load_scenario(path) {
        Ok(s) => s,
        Err(code) => return code,
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
        if let Err(e) = rack_sim::report::files::write_outputs(
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

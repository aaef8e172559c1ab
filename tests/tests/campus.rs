//! `racksim campus` as a process: the same campus with one and with two threads writes the same
//! summary (but for the speed, memory and thread count it reports) and the same CSV, byte for
//! byte; and a rerun with the same seed is the same again. Built with MPI and run under
//! `mpirun` on 1, 2 and 3 processes (an uneven split of the rows), the same again: the rows are
//! coupled through the water plant every second, and the sums are integers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

const CAMPUS: &str = r#"
name = "e2e"
rows = 5
duration_s = 30
warmup_s = 10
seed = 11

[[jobs]]
rows = [0.0, 0.6]
workload = { shape = { kind = "oscillation", low = 0.3, high = 1.0, periods_s = [3], each_s = 100 }, jitter = 0.05, time_jitter_s = 0.3 }

[faults]
pump_trip_per_row_h = 30
psu_fail_per_rack_h = 10

[[scheduled]]
row = 2
at_s = 5
fault = { kind = "leak", zone = 1, detector = "float" }
"#;

/// Runs the campus with `threads` and returns its summary (without what depends on the
/// machine) and its CSV.
fn run(racksim: &Path, file: &Path, threads: &str, out: &Path) -> (serde_json::Value, Vec<u8>) {
    run_under(&[], racksim, file, threads, out)
}

/// [`run`], the command started by `launcher` (e.g. `mpirun -np 2`).
fn run_under(
    launcher: &[&str],
    racksim: &Path,
    file: &Path,
    threads: &str,
    out: &Path,
) -> (serde_json::Value, Vec<u8>) {
    let mut command = match launcher.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(racksim);
            c
        }
        None => Command::new(racksim),
    };
    let status = command
        // Open MPI as root (CI's containers) and more ranks than cores (2 here).
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .args([
            "campus",
            file.to_str().unwrap(),
            "--threads",
            threads,
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let object = summary.as_object_mut().unwrap();
    for machine in [
        "speed_x_real_time",
        "peak_memory_mib",
        "threads",
        "ranks",
        "exchange_ms_per_facility_step",
    ] {
        assert!(object.remove(machine).is_some(), "{machine} reported");
    }
    let mut csv = std::fs::read(out.join("campus.csv")).unwrap();
    csv.extend(std::fs::read(out.join("facility.csv")).unwrap());
    (summary, csv)
}

/// `racksim` built with the `mpi` feature, in this test's profile (`target/mpi`; cargo makes
/// it or finds it up to date).
fn racksim_mpi() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let exe = std::env::current_exe().unwrap();
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let target = root.join("target/mpi");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(root)
        .args([
            "build",
            "--locked",
            "-p",
            "rack-sim",
            "--features",
            "mpi",
            "--bin",
            "racksim",
        ])
        .arg("--target-dir")
        .arg(&target);
    if profile == "release" {
        cargo.arg("--release");
    }
    let status = cargo.status().unwrap();
    assert!(
        status.success(),
        "building racksim with MPI (cargo xtask test installs Open MPI and libclang)"
    );
    target.join(profile).join("racksim")
}

#[test]
fn the_campus_on_mpi_is_the_same_bits_on_any_number_of_processes() {
    let racksim = rack_tests::binary("rack-sim", "racksim").unwrap();
    let mpi = racksim_mpi();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("campus-mpi");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The e2e campus on a water plant with no spare, half of it tripping: the rows' water warms
    // with the heat of every process's rows. Mains of 7 s each way: the 40 s run is five
    // exchanges of 7 facility steps and one of 5, and the heat makes the round trip in it.
    let file = dir.join("campus.toml");
    std::fs::write(
        &file,
        format!(
            "{CAMPUS}\n[water_plant]\nchillers = 10\ncapacity_margin = 1.0\ntransit_s = 7\n\n\
             [[chiller_trips]]\nat_s = 5\nunits = 5\n"
        ),
    )
    .unwrap();
    let (alone, csv_alone) = run(&racksim, &file, "2", &dir.join("threads"));
    let warmest = alone["facility_supply_max_c"].as_f64().unwrap();
    assert!(warmest > 25.1, "the trip warms the water: {warmest}");
    for np in ["1", "2", "3"] {
        let (ranked, csv) = run_under(
            &["mpirun", "-np", np],
            &mpi,
            &file,
            "1",
            &dir.join(format!("np{np}")),
        );
        assert_eq!(
            ranked, alone,
            "summary: -np {np} against the threads-only build"
        );
        assert!(
            csv == csv_alone,
            "campus.csv and facility.csv: -np {np} differ"
        );
    }
}

#[test]
fn the_campus_is_the_same_for_any_thread_count_and_run() {
    let racksim = rack_tests::binary("rack-sim", "racksim").unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("campus-e2e");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("campus.toml");
    std::fs::write(&file, CAMPUS).unwrap();
    let (one, csv_one) = run(&racksim, &file, "1", &dir.join("one"));
    let (two, csv_two) = run(&racksim, &file, "2", &dir.join("two"));
    let (again, csv_again) = run(&racksim, &file, "2", &dir.join("again"));
    assert!(one["faults"].as_u64().unwrap() >= 1, "{one}");
    assert!(
        one["events"].as_array().is_some_and(|e| !e.is_empty()),
        "{one}"
    );
    assert_eq!(one, two, "1 thread and 2 threads");
    assert_eq!(csv_one, csv_two, "campus.csv, 1 thread and 2 threads");
    assert_eq!(two, again, "the same seed twice");
    assert_eq!(csv_two, csv_again);
}

//! `racksim` as a user runs it: exit codes, the JSON summary, the files `--out` writes, and
//! the errors a bad scenario file gets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

mod common;
use common::{racksim, temp_dir};

#[test]
fn json_summary_has_the_documented_keys_and_a_passing_run_exits_zero() {
    let out = racksim(&["run", "scenarios/low-reservoir.toml", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["scenario"], "low-reservoir");
    assert_eq!(v["passed"], true);
    for kpi in [
        "max_gpu_temp_c",
        "throttle_s",
        "supply_temp_max_dev_c",
        "supply_temp_settle_s",
        "pump_energy_kwh",
        "energy_balance_error_pct",
    ] {
        assert!(v["kpis"][kpi].is_number(), "missing KPI {kpi}: {v}");
    }
    assert!(v["checks"].as_array().is_some_and(|c| !c.is_empty()));
}

#[test]
fn compare_baseline_adds_its_kpis_ratios_and_tuning() {
    let dir = temp_dir("compare");
    let out = racksim(&[
        "run",
        "scenarios/low-reservoir.toml",
        "--compare",
        "baseline",
        "--json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["baseline"]["kpis"]["max_gpu_temp_c"].is_number(), "{v}");
    assert!(
        v["baseline"]["tuning"]["kc_pct_per_k"]
            .as_f64()
            .is_some_and(|k| k > 0.0),
        "{v}"
    );
    for file in [
        "summary.json",
        "trace.csv",
        "trace_baseline.csv",
        "plots.png",
    ] {
        let len = std::fs::metadata(dir.join(file))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 100, "{file} missing or empty");
    }
    let png = std::fs::read(dir.join("plots.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let csv = std::fs::read_to_string(dir.join("trace.csv")).unwrap();
    assert!(csv.starts_with("t_s,supply_c,setpoint_c"));
    assert!(csv.lines().count() > 100);
}

#[test]
fn a_failing_check_exits_one() {
    let dir = temp_dir("fail");
    let path = dir.join("impossible.toml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/low-reservoir.toml"),
    )
    .unwrap();
    std::fs::write(
        &path,
        format!("{text}\n[[checks]]\nkpi = \"max_gpu_temp_c\"\nmax = -100\n"),
    )
    .unwrap();
    let out = racksim(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL") && stdout.contains("max_gpu_temp_c <= -100"),
        "{stdout}"
    );
}

#[test]
fn a_bad_scenario_file_is_named_with_line_field_and_reason_and_exits_two() {
    let dir = temp_dir("bad");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "name = \"bad\"\nduration_s = 60\n[workload]\nshape = { kind = \"constant\", level = 1.0 }\n[[faults]]\nat_s = 5\nfault = { kind = \"pump_trip\", pump = 9 }\n",
    )
    .unwrap();
    let out = racksim(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:7: faults[0].fault.pump = 9: allowed 0..=1 (the row's pumps)"),
        "{stderr}"
    );

    std::fs::write(
        &path,
        "name = \"bad\"\nduration_s = 60\n[workload]\nshape = { kind = \"sawtooth\" }\n",
    )
    .unwrap();
    let out = racksim(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:4") && stderr.contains("sawtooth") && stderr.contains("constant"),
        "{stderr}"
    );
}

#[test]
fn a_missing_file_and_a_bad_flag_are_refused() {
    let out = racksim(&["run", "scenarios/no-such.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such.toml: cannot read"));
    let out = racksim(&["run", "scenarios/steady.toml", "--compare", "magic"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("baseline"));
}

#[test]
fn campus_runs_a_quick_cut_and_reports_json_and_files() {
    let dir = std::env::temp_dir().join(format!("racksim-campus-{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_racksim"))
        .args(["campus", "--racks", "16", "--compare", "--json", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["racks"], 16);
    assert_eq!(summary["rows"], 2);
    let ratio = summary["band_energy_ratio"].as_f64().unwrap();
    assert!(
        ratio > 0.0 && ratio < 0.5,
        "smoothing must damp the swings: {ratio}"
    );
    for f in ["summary.json", "campus.csv", "campus.png"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let csv = std::fs::read_to_string(dir.join("campus.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 3000,
        "one line per 100 ms step of 300 s"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn campus_refuses_bad_flags_and_files_with_exit_2() {
    for args in [
        vec!["campus", "--racks", "0"],
        vec!["campus", "--bench", "-3"],
        vec!["campus", "/nonexistent/campus.toml"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_racksim"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: says what was wrong");
    }
}

//! `racksim sweep` as a user runs it: the same seed gives the same sweep on any thread count,
//! the JSON has the documented keys, the worst sample reruns as a scenario file, and a bad
//! uncertainty spec is refused naming its field.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::float_cmp
)]

mod common;
use common::{racksim, temp_dir};

/// A short load step: the sweep's machinery, not the controller's figures.
const SHORT: &str = r#"name = "short-step"
duration_s = 120
warmup_s = 60

[workload]
shape = { kind = "step", from = 0.2, to = 1.0, at_s = 30, ramp_s = 1 }
jitter = 0.02

[kpi]
window_start_s = 30
disturbance_at_s = 30

[[checks]]
kpi = "throttle_s"
max = 0
"#;

/// `racksim sweep FILE --samples 6 --seed SEED [--threads N] --json --out OUT`.
fn sweep(file: &str, seed: &str, threads: Option<&str>, out: &str) -> std::process::Output {
    let mut args = vec![
        "sweep",
        file,
        "--samples",
        "6",
        "--seed",
        seed,
        "--json",
        "--out",
        out,
    ];
    if let Some(n) = threads {
        args.extend(["--threads", n]);
    }
    racksim(&args)
}

/// Spreads every sampled row can be commissioned with (its bump test is never refused).
const SPREADS: &str = r#"
[uncertainty]
valve_stroke_s = { between = [9, 150] }
hx_ua_design_w_per_k = { scale = [0.9, 1.1] }
supply_sensor_lag_s = { between = [0.5, 5] }
"#;

#[test]
fn a_sweep_is_the_same_on_one_thread_and_two_and_its_worst_sample_reruns() {
    let dir = temp_dir("threads");
    let file = dir.join("short.toml");
    std::fs::write(&file, format!("{SHORT}{SPREADS}")).unwrap();
    let file = file.to_str().unwrap();
    let a = dir.join("a");
    let a = a.to_str().unwrap();
    let one = sweep(file, "5", Some("1"), a);
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let two = sweep(file, "5", Some("2"), a);
    assert_eq!(one.stdout, two.stdout, "1 thread and 2 threads");
    let v: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(v["samples"], 6);
    assert_eq!(v["seed"], 5);
    for key in [
        "checks_pass_fraction",
        "throttle_only_rackloop",
        "shutdown_only_rackloop",
        "not_commissioned",
        "worst",
    ] {
        assert!(!v[key].is_null(), "{key}");
    }
    let dev = &v["kpis"]["supply_temp_max_dev_c"];
    for side in ["rackloop", "baseline"] {
        for stat in ["median", "p95", "max"] {
            assert!(dev[side][stat].as_f64().unwrap() > 0.0, "{side} {stat}");
        }
    }
    assert!(dev["ratio"]["median"].as_f64().is_some());
    let frac = dev["no_worse_fraction"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&frac));
    assert!(dir.join("a/distributions.png").exists());
    // samples.csv: a header and a line per sample, with the sampled plant and both
    // controllers' supply deviation (the worst's matches the JSON's p95 below).
    let csv = std::fs::read_to_string(dir.join("a/samples.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    for name in [
        "supply_dev_ratio",
        "rackloop_supply_dev_in_authority_c",
        "baseline_throttle_s",
    ] {
        assert!(header.contains(&name), "{name}: {csv}");
    }
    assert!(
        lines.iter().all(|l| l.split(',').count() == header.len()),
        "{csv}"
    );
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let ratio_col = col("supply_dev_ratio");
    let csv_max = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(ratio_col).unwrap().parse::<f64>().unwrap())
        .fold(f64::MIN, f64::max);

    // Another seed draws other plants.
    let b = dir.join("b");
    let other = sweep(file, "6", None, b.to_str().unwrap());
    assert_ne!(one.stdout, other.stdout);

    // The worst sample, rerun as a scenario, gives the sweep's figures for it.
    let worst = v["worst"].as_str().unwrap();
    let text = std::fs::read_to_string(worst).unwrap();
    assert!(text.contains("[plant]"), "{text}");
    let rerun = racksim(&["run", worst, "--compare", "baseline", "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&rerun.stdout).unwrap();
    let ratio = r["baseline"]["ratios"]["supply_temp_max_dev_c"]
        .as_f64()
        .unwrap();
    // Every check held, so the worst is the largest ratio, which for 6 samples is the p95
    // (nearest rank): the rerun reproduces it bit for bit.
    assert_eq!(v["checks_pass_fraction"], 1.0, "{v}");
    assert_eq!(v["not_commissioned"], 0);
    assert_eq!(ratio, dev["ratio"]["p95"].as_f64().unwrap());
    assert_eq!(csv_max, ratio, "samples.csv's largest ratio is the worst's");
}

#[test]
fn a_bad_uncertainty_spec_is_refused_naming_its_field() {
    let dir = temp_dir("bad");
    for (extra, expect) in [
        (
            "[uncertainty]\nracks = { between = [4, 8] }\n",
            "uncertainty.racks",
        ),
        (
            "[uncertainty]\nvalve_stroke_s = { between = [9, 900] }\n",
            "uncertainty.valve_stroke_s",
        ),
        (
            "[uncertainty]\nhx_ua_design_w_per_k = { scale = [1.1, 0.7] }\n",
            "low <= high",
        ),
    ] {
        let file = dir.join("bad.toml");
        std::fs::write(&file, format!("{SHORT}\n{extra}")).unwrap();
        let out = racksim(&["sweep", file.to_str().unwrap(), "--samples", "2"]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{err}");
    }
}

/// CI's small sweep of the four scenarios the robust-control goal names (16 plants each from
/// the default uncertainty set): on every commissioned plant, rackloop never throttles a GPU
/// or shuts one down where the baseline does not. (The supply-deviation figures on 200 samples
/// are in the README.)
#[test]
fn small_sweeps_rackloop_never_throttles_or_shuts_down_where_the_baseline_does_not() {
    for name in [
        "load-step",
        "pump-failure",
        "training-oscillation",
        "diurnal",
    ] {
        let out = racksim(&[
            "sweep",
            &format!("scenarios/{name}.toml"),
            "--samples",
            "16",
            "--seed",
            "11",
            "--json",
            "--out",
            temp_dir(&format!("ci-{name}")).to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["samples"], 16, "{name}");
        assert_eq!(v["throttle_only_rackloop"], 0, "{name}: {v}");
        assert_eq!(v["shutdown_only_rackloop"], 0, "{name}: {v}");
        assert!(
            v["not_commissioned"].as_u64().unwrap() < 16,
            "{name}: no plant commissioned"
        );
    }
}

//! Scenario files that must be refused before any simulation, naming the file, the line, the
//! field, the value and what is allowed: each case a user tried and the simulator once ran
//! (a NaN energy balance reported as PASS, a setpoint past the controller's own range, GPUs
//! colder than their water), and a KPI that is NaN failing its check.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::float_cmp
)]

use std::path::Path;
use std::process::Command;

use rack_sim::scenario::Scenario;

/// A valid scenario with a `[power]` section: each case edits one line or adds a section.
const BASE: &str = r#"name = "base"
duration_s = 60

[row]
racks = 8

[controller]
feed_forward = true

[workload]
shape = { kind = "oscillation", low = 0.3, high = 1.0, periods_s = [20], each_s = 60 }
jitter = 0.02

[kpi]
settle_band_c = 0.5

[power]
cold_start = false
"#;

/// Parses `text` and returns its error as the user sees it.
fn refused(text: &str) -> String {
    match Scenario::parse(Path::new("bad.toml"), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn with_row(extra: &str) -> String {
    BASE.replace("[row]\n", &format!("[row]\n{extra}\n"))
}

#[test]
fn the_base_file_is_accepted() {
    Scenario::parse(Path::new("base.toml"), BASE).unwrap();
}

#[test]
fn each_bad_file_fails_with_file_line_field_value_and_range() {
    // (the file, the error's start `file:line: field = value: allowed ...`, then a word of why)
    let cases: Vec<(String, &str, &str)> = vec![
        (
            with_row("manifold_segments = 0"),
            "bad.toml:5: row.manifold_segments = 0: allowed 1..=64",
            "transport delay",
        ),
        (
            BASE.replace("feed_forward = true", "supply_setpoint_c = 60"),
            "bad.toml:8: controller.supply_setpoint_c = 60: allowed 10..=35",
            "coolant controller's own range",
        ),
        (
            BASE.replace(
                "shape = { kind = \"oscillation\", low = 0.3, high = 1.0, periods_s = [20], each_s = 60 }",
                "shape = { kind = \"constant\", level = -1 }",
            ),
            "bad.toml:11: workload.shape.level = -1: allowed 0..=1.5",
            "fraction of design power",
        ),
        (
            with_row("trays_per_rack = 24"),
            "bad.toml:5: row.trays_per_rack = 24: allowed 1..=18",
            "power controller drives at most 18 trays",
        ),
        (
            BASE.replace("jitter = 0.02", "jitter = 2"),
            "bad.toml:12: workload.jitter = 2: allowed 0..=0.5",
            "each rack's level",
        ),
        (
            BASE.replace("periods_s = [20]", "periods_s = []"),
            "bad.toml:11: workload.shape.periods_s = []: allowed one or more periods",
            "played in turn",
        ),
        (
            BASE.replace("settle_band_c = 0.5", "settle_band_c = -0.5"),
            "bad.toml:15: kpi.settle_band_c = -0.5: allowed 0.01..=10",
            "K either side",
        ),
        (
            with_row("hx_ua_design_w_per_k = 0"),
            "bad.toml:5: row.hx_ua_design_w_per_k = 0: allowed 1000..=10000000",
            "W/K at design flows",
        ),
        (
            BASE.replace("feed_forward = true", "supply_setpoint_c = nan"),
            "bad.toml:8: controller.supply_setpoint_c = NaN: allowed 10..=35",
            "coolant controller's own range",
        ),
        (
            BASE.replace("feed_forward = true", "running_pumps = 3"),
            "bad.toml:8: controller.running_pumps = 3: allowed 1..=2",
            "the row's pumps that may run at once",
        ),
        (
            with_row("secondary_density_kg_per_l = 0"),
            "bad.toml:5: row.secondary_density_kg_per_l = 0: allowed 0.8..=1.3",
            "PG25",
        ),
        (
            with_row("rack_design_power_w = 0"),
            "bad.toml:5: row.rack_design_power_w = 0: allowed 5000..=400000",
            "W at 100 % load",
        ),
        (
            with_row("gpus_per_tray = 0"),
            "bad.toml:5: row.gpus_per_tray = 0: allowed 1..=16",
            "cold plates",
        ),
        (
            with_row("pump_shutoff_kpa = 127.5\ncdu_internal_dp_design_kpa = 62.5"),
            "bad.toml:5: row.pump_shutoff_kpa = 127.5: allowed > 134.9",
            "cannot deliver design flow",
        ),
        (
            BASE.replace("cold_start = false", "cold_start = false\nbudget_w = 500"),
            "bad.toml:19: power.budget_w = 500: allowed ",
            "power controller's own range",
        ),
        (
            format!("{BASE}\n[[faults]]\nat_s = 5\nfault = {{ kind = \"tray_fault\", rack = 1, tray = 17, factor = 2 }}\n")
                .replace("[row]\n", "[row]\ntrays_per_rack = 12\n"),
            "bad.toml:23: faults[0].fault.tray = 17: allowed 0..=11",
            "the rack's trays",
        ),
    ];
    for (text, starts, why) in cases {
        let e = refused(&text);
        assert!(e.starts_with(starts), "expected `{starts}...`, got `{e}`");
        assert!(e.contains(why), "`{e}` does not say why (`{why}`)");
    }
}

#[test]
fn every_scenario_shipped_is_inside_the_ranges() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 20, "found only {n} scenarios");
}

#[test]
fn racksim_refuses_a_bad_file_before_simulating_and_exits_two() {
    let dir = std::env::temp_dir().join(format!("racksim-bad-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, with_row("manifold_segments = 0")).unwrap();
    // `--compare` would run the baseline too; nothing runs at all.
    let out = Command::new(env!("CARGO_BIN_EXE_racksim"))
        .args(["run", path.to_str().unwrap(), "--compare", "baseline"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:5: row.manifold_segments = 0: allowed 1..=64"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no report for a refused file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_nan_or_infinite_kpi_fails_every_check_on_it() {
    use rack_sim::report::{Kpis, evaluate};
    use rack_sim::scenario::Check;
    let check = |min, max, ratio| Check {
        kpi: "energy_balance_error_pct".into(),
        min,
        max,
        max_ratio_to_baseline: ratio,
    };
    let checks = [
        check(None, Some(0.5), None),
        check(Some(-1.0), None, None),
        check(None, None, Some(1.0)),
    ];
    let finite: Kpis = [("energy_balance_error_pct".to_owned(), 0.1)].into();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let kpis: Kpis = [("energy_balance_error_pct".to_owned(), bad)].into();
        for result in evaluate(&checks, &kpis, Some(&finite)) {
            assert!(!result.passed, "{bad} passed `{}`", result.rule);
        }
        // A NaN baseline fails the ratio check too.
        let ratio = evaluate(&checks[2..], &finite, Some(&kpis));
        assert!(!ratio[0].passed, "baseline {bad} passed the ratio");
    }
    assert!(
        evaluate(&checks, &finite, Some(&finite))
            .iter()
            .all(|r| r.passed)
    );
}

fn with_plant(extra: &str) -> String {
    format!("{BASE}\n[plant]\n{extra}\n")
}

#[test]
fn a_plant_apart_from_its_nameplate_is_checked_and_kept_from_the_controller() {
    use rack_sim::scenario::commissioning::{Control, controller_config};
    let text = with_plant("hx_ua_design_w_per_k = 122500\nvalve_stroke_s = 120");
    let s = Scenario::parse(Path::new("plant.toml"), &text).unwrap();
    let truth = s.plant_params().unwrap();
    assert_eq!(truth.hx_ua_design_w_per_k, 122_500.0);
    assert_eq!(truth.valve_stroke_s, 120.0);
    assert_eq!(truth.racks, s.row.racks);
    let pid = rack_control::coolant::CoolantConfig::default().temp_pid;
    let c = controller_config(&s, Control::Rackloop, pid);
    assert_eq!(
        c.hx.ua_design_w_per_k, 175_000.0,
        "the nameplate, not the truth"
    );
    assert!(
        (c.temp_pid.slew_per_s - 100.0 / 30.0).abs() < 1e-4,
        "the nameplate's valve"
    );

    for (extra, start, why) in [
        (
            "valve_stroke_s = 500",
            "bad.toml:21: plant.valve_stroke_s = 500: allowed 1..=300",
            "electric actuators",
        ),
        (
            "racks = 4",
            "bad.toml:21: plant.racks = 4: allowed not in [plant]",
            "structure",
        ),
        (
            "valve_strok_s = 90",
            "bad.toml:21: plant.valve_strok_s = 90: allowed a [row] parameter",
            "valve_stroke_s",
        ),
        (
            "valve_stroke_s = \"slow\"",
            "bad.toml:21: plant.valve_stroke_s = \"slow\": allowed a float",
            "30",
        ),
    ] {
        let e = refused(&with_plant(extra));
        assert!(e.starts_with(start), "{e}");
        assert!(e.contains(why), "{e}");
    }
}

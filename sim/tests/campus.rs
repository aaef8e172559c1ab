//! `racksim campus`: the same results for any thread count and seed, faults drawn from rates,
//! the swing-band measure, and clear errors for bad campus files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::float_cmp,
    clippy::cast_precision_loss
)]

use std::path::Path;

use rack_sim::report::campus::{self as report, CampusRun, FacilityPoint};
use rack_sim::run::campus;
use rack_sim::scenario::campus::Campus;

const SMALL: &str = r#"
name = "small"
rows = 5
duration_s = 20
warmup_s = 5
seed = 7

[[jobs]]
rows = [0.0, 0.5]
workload = { shape = { kind = "oscillation", low = 0.3, high = 1.0, periods_s = [2], each_s = 100 }, jitter = 0.05, time_jitter_s = 0.3 }

[faults]
pump_trip_per_row_h = 60
psu_fail_per_rack_h = 20

[[scheduled]]
row = 3
at_s = 4
fault = { kind = "leak", zone = 2, detector = "moisture" }
"#;

fn small(seed: u64) -> Campus {
    let text = SMALL.replace("seed = 7", &format!("seed = {seed}"));
    Campus::parse(Path::new("small.toml"), &text).unwrap()
}

fn run_on(threads: usize, c: &Campus) -> CampusRun {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| campus::run(c, true, &|_| {}))
}

#[test]
fn results_are_identical_for_any_thread_count() {
    let c = small(7);
    let one = run_on(1, &c);
    let two = run_on(2, &c);
    let three = run_on(3, &c);
    assert_eq!(one.grid_w.len(), 200);
    assert!(one.grid_w.iter().all(|w| *w > 0.0));
    for other in [&two, &three] {
        assert_eq!(
            one.grid_w, other.grid_w,
            "campus power differs with the thread count"
        );
        assert_eq!(one.totals.pump_energy_kwh, other.totals.pump_energy_kwh);
        assert_eq!(one.totals.throttle_s, other.totals.throttle_s);
        assert_eq!(one.totals.alarms, other.totals.alarms);
        assert_eq!(one.totals.faults, other.totals.faults);
        assert_eq!(one.facility, other.facility, "the water plant differs");
    }
    assert!(
        one.totals.faults > 0,
        "the rates draw faults in 20 s at these rates"
    );
}

#[test]
fn the_seed_decides_the_faults_and_jitter() {
    let a = run_on(2, &small(7));
    let b = run_on(2, &small(8));
    assert_ne!(a.grid_w, b.grid_w);
    let again = run_on(2, &small(7));
    assert_eq!(a.grid_w, again.grid_w);
}

#[test]
fn rows_differ_by_job_and_jitter() {
    let c = small(7);
    let r0 = c.row_scenario(0, true);
    let r1 = c.row_scenario(1, true);
    let r4 = c.row_scenario(4, true);
    assert_eq!(
        r0.workload.shape, r1.workload.shape,
        "rows 0 and 1 are in the job"
    );
    assert_ne!(
        r0.workload.shape, r4.workload.shape,
        "row 4 runs the row scenario's workload"
    );
    assert_ne!(
        r0.workload.rack_level(0, 3.0),
        r1.workload.rack_level(0, 3.0)
    );
    assert_eq!(r0.power.as_ref().unwrap().smoothing, Some(true));
    assert_eq!(
        c.row_scenario(0, false).power.unwrap().smoothing,
        Some(false)
    );
}

#[test]
fn the_campus_file_sets_every_rows_facility_water() {
    let c = small(7);
    assert_eq!(
        c.row_scenario(2, true).facility,
        c.row.facility,
        "the row scenario's without a [facility]"
    );
    let text = SMALL.replace(
        "[faults]",
        "[facility]\nsupply_c = 27.5\nflow_profile = [[0, 1.0], [10, 0.6]]\n\n[faults]",
    );
    let c = Campus::parse(Path::new("warm.toml"), &text).unwrap();
    for r in 0..c.file.rows {
        let f = c.row_scenario(r, true).facility;
        assert_eq!(f.supply_at(3.0), 27.5);
        assert!((f.flow_at(20.0) - 0.6).abs() < 1e-12);
    }
    // And the rows feel it: water 1 K under the supply setpoint at half flow leaves the CDUs
    // little headroom to broadcast, so the racks' power controllers cap the campus below what
    // the same campus draws on 25 degC water.
    let mean = |r: &CampusRun| r.grid_w.iter().sum::<f64>() / r.grid_w.len() as f64;
    let cool = run_on(2, &small(7));
    let text = SMALL.replace(
        "[faults]",
        "[facility]\nsupply_c = 29.0\nflow_profile = [[0, 0.5]]\n\n[faults]",
    );
    let warm = run_on(2, &Campus::parse(Path::new("warm.toml"), &text).unwrap());
    assert!(
        mean(&warm) < 0.95 * mean(&cool),
        "{} W vs {} W",
        mean(&warm),
        mean(&cool)
    );
}

#[test]
fn racks_cut_the_campus_to_whole_rows() {
    let mut c = Campus::builtin().unwrap();
    assert_eq!(c.file.rows, 3500);
    assert_eq!(c.racks(), 28_000);
    let notes = c.cut_to_racks(20);
    assert_eq!(c.file.rows, 3);
    assert_eq!(
        notes[0],
        "--racks 20: a row has 8 racks, so 3 rows of 8 racks (24 racks) will run"
    );
    // The built-in campus schedules a pump trip in row 17 and a leak in row 42.
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(notes[1].contains("pump_trip in row 17"), "{notes:?}");
    let mut whole = small(7);
    assert!(
        whole.cut_to_racks(32).is_empty(),
        "whole rows that keep every scheduled fault need no word"
    );
}

#[test]
fn a_cut_says_which_scheduled_faults_it_drops() {
    let mut c = small(7);
    assert_eq!(c.file.scheduled.len(), 1);
    let notes = c.cut_to_racks(5);
    assert_eq!(c.file.rows, 1);
    assert!(c.file.scheduled.is_empty(), "the fault in row 3 cannot run");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("1 row of 8 racks (8 racks)"), "{notes:?}");
    assert_eq!(
        notes[1],
        "--racks 5: scheduled[0] (leak in row 3 at 4 s) is in a row past the cut and will not run"
    );
    let mut c = small(7);
    let notes = c.cut_to_racks(1_000);
    assert_eq!(c.file.rows, 5);
    assert_eq!(
        notes,
        ["--racks 1000: the campus has 40 racks (5 rows); running all of them"]
    );
}

#[test]
fn band_energy_keeps_the_band_and_drops_the_rest() {
    let dt = 0.1;
    let n = 6000;
    let wave = |f: f64, a: f64| {
        (0..n).map(move |k| a * (2.0 * std::f64::consts::PI * f * f64::from(k) * dt).sin())
    };
    let in_band: Vec<f64> = wave(1.0, 2.0).map(|x| x + 100.0).collect();
    let slow: Vec<f64> = wave(0.01, 2.0).collect();
    // A sine of amplitude 2 has a mean square of 2.
    assert!((report::band_energy(&in_band, dt, 0.1, 5.0) - 2.0).abs() < 1e-6);
    assert!(report::band_energy(&slow, dt, 0.1, 5.0) < 1e-6);
    assert!((report::max_ramp(&[0.0, 1.0, 3.0, 3.0], 1.0, 1.0) - 2.0).abs() < 1e-12);
}

#[test]
fn bad_campus_files_name_the_field_and_what_is_allowed() {
    let cases = [
        (
            SMALL.replace("rows = 5", "rows = 0"),
            "rows",
            "allowed 1..=100000",
        ),
        (
            SMALL.replace("rows = [0.0, 0.5]", "rows = [0.5, 0.2]"),
            "rows",
            "0 <= from < to <= 1",
        ),
        (
            SMALL.replace("pump_trip_per_row_h = 60", "pump_trip_per_row_h = -1"),
            "pump_trip_per_row_h",
            "allowed 0..=100",
        ),
        (
            SMALL.replace("duration_s = 20", "duration_s = \"long\""),
            "duration_s",
            "invalid type",
        ),
        (
            SMALL.replace("each_s = 100", "each_s = 100, duty = 2"),
            "jobs[0].workload.shape.duty = 2",
            "allowed 0..=1",
        ),
        (
            SMALL.replace("zone = 2", "zone = 12"),
            "scheduled[0].fault.zone = 12",
            "allowed 0..=8",
        ),
        (
            SMALL.replace("row = 3", "row = 9"),
            "scheduled[0].row = 9",
            "allowed 0..=4",
        ),
        (
            SMALL.replace("[faults]", "[facility]\nsupply_c = 90\n\n[faults]"),
            "facility.supply_c",
            "allowed 0..=60",
        ),
        (
            SMALL.replace(
                "[faults]",
                "[facility]\nflow_profile = [[0, 1.0], [60, 1.4]]\n\n[faults]",
            ),
            "facility.flow_profile[1][1] = 1.4",
            "allowed 0..=1",
        ),
        (
            SMALL.replace(
                "[faults]",
                "[facility]\nprofile = [[100, 25.0], [50, 30.0]]\n\n[faults]",
            ),
            "facility.profile[1][0] = 50",
            "allowed 100..=",
        ),
    ];
    // An unknown key is named with its own line.
    let text = format!("{SMALL}\nbogus = 1\n");
    let line = text.lines().position(|l| l.starts_with("bogus")).unwrap() + 1;
    let e = Campus::parse(Path::new("bad.toml"), &text)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with(&format!("bad.toml:{line}:")), "{e}");
    assert!(e.contains("unknown field `bogus`"), "{e}");
    for (text, field, allowed) in cases {
        let e = Campus::parse(Path::new("bad.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bad.toml:"), "{e}");
        assert!(e.contains(field) && e.contains(allowed), "{e}");
    }
}

/// The small campus on a water plant of ten chillers with no spare, and five of them tripping
/// at `trip_s` (none when `None`), with a longer run for the water to warm and a warm-up that
/// brings the racks to their load.
fn on_chillers(trip_s: Option<f64>) -> Campus {
    // Every row busy (80 %): the heat is well past five chillers' worth.
    let mut text = SMALL
        .replace("duration_s = 20", "duration_s = 300")
        .replace("warmup_s = 5", "warmup_s = 60")
        .replace("rows = [0.0, 0.5]", "rows = [0.0, 1.0]")
        .replace(
            r#"shape = { kind = "oscillation", low = 0.3, high = 1.0, periods_s = [2], each_s = 100 }"#,
            r#"shape = { kind = "constant", level = 0.8 }"#,
        )
        .replace("pump_trip_per_row_h = 60", "pump_trip_per_row_h = 0")
        .replace("psu_fail_per_rack_h = 20", "psu_fail_per_rack_h = 0");
    text.push_str("\n[water_plant]\nchillers = 10\ncapacity_margin = 1.0\n");
    if let Some(at) = trip_s {
        text.push_str(&format!("\n[[chiller_trips]]\nat_s = {at}\nunits = 5\n"));
    }
    Campus::parse(Path::new("chillers.toml"), &text).unwrap()
}

#[test]
fn a_chiller_trip_warms_every_rows_water_and_takes_the_cdus_headroom() {
    let calm = run_on(2, &on_chillers(None));
    let tripped = run_on(2, &on_chillers(Some(10.0)));
    let last = |r: &CampusRun| *r.facility.last().unwrap();
    // Untripped, the chillers hold the supply at the facility setpoint (25 degC).
    assert!(
        calm.facility
            .iter()
            .all(|f| (f.supply_c - 25.0).abs() < 1e-9)
    );
    // Tripped: five chillers of ten for a campus drawing 80 % of its design power.
    let before = tripped.facility.iter().find(|f| f.t_s >= 9.0).unwrap();
    let after = last(&tripped);
    assert_eq!((before.chillers_running, after.chillers_running), (10, 5));
    assert!(after.heat_mw > after.capacity_mw, "{before:?} {after:?}");
    assert!(after.supply_c > 26.0, "the loop warms: {after:?}");
    // Every row's CDU sees the warmer water: its headroom goes to nothing, so the racks'
    // power controllers hold their power where it is, and the CDUs say they cannot hold the
    // supply setpoint; on the calm plant, none of it.
    assert!(
        after.headroom_mw < 0.05 * last(&calm).headroom_mw,
        "{after:?}"
    );
    let cannot_hold = |r: &CampusRun| r.totals.alarms.get("CannotHoldSetpoint").copied();
    assert_eq!(cannot_hold(&calm), None);
    assert!(
        cannot_hold(&tripped) >= Some(1),
        "{:?}",
        tripped.totals.alarms
    );
    assert!(
        tripped
            .totals
            .events
            .iter()
            .any(|e| e.device == "water plant" && e.label == "5 chillers trip")
    );
    // And the same on one thread as on two.
    assert_eq!(
        tripped.facility,
        run_on(1, &on_chillers(Some(10.0))).facility
    );
}

#[test]
fn the_rows_see_the_trip_only_when_its_water_has_come_through_the_mains() {
    // The default mains take 60 s each way: the rows see the water that left the plant 60 s
    // before, so they see the trip's warmer water 60 s after the plant supplied it.
    // When the plant's supply first differs from the calm run's, and when the heat that comes
    // back to it first does: until the warmer water has gone to the rows and their heat has come
    // back, every row ran on the same water as in the calm run, to the bit.
    let first = |calm: &CampusRun, tripped: &CampusRun, what: fn(&FacilityPoint) -> f64| {
        calm.facility
            .iter()
            .zip(&tripped.facility)
            .find(|(a, b)| what(a) != what(b))
            .map(|(a, _)| a.t_s)
            .unwrap()
    };
    let round_trip = |calm: &CampusRun, tripped: &CampusRun| {
        first(calm, tripped, |f| f.heat_mw) - first(calm, tripped, |f| f.supply_c)
    };
    let calm = run_on(2, &on_chillers(None));
    let tripped = run_on(2, &on_chillers(Some(10.0)));
    assert_eq!(round_trip(&calm, &tripped), 120.0);
    // With the mains 30 s each way, 60 s.
    let short = |trip: Option<f64>| {
        let mut c = on_chillers(trip);
        c.file.water_plant.transit_s = 30.0;
        run_on(2, &c)
    };
    assert_eq!(round_trip(&short(None), &short(Some(10.0))), 60.0);
}

#[test]
fn a_chiller_trip_of_more_units_than_installed_is_refused_by_name() {
    let text =
        format!("{SMALL}\n[water_plant]\nchillers = 4\n\n[[chiller_trips]]\nat_s = 3\nunits = 5\n");
    let e = Campus::parse(Path::new("bad.toml"), &text)
        .unwrap_err()
        .to_string();
    assert!(e.contains("chiller_trips[0].units"), "{e}");
    assert!(e.contains("1..=4"), "{e}");
    let text = format!("{SMALL}\n[water_plant]\nloop_volume_l_per_kw = 0\n");
    let e = Campus::parse(Path::new("bad.toml"), &text)
        .unwrap_err()
        .to_string();
    assert!(e.contains("water_plant.loop_volume_l_per_kw"), "{e}");
    let text = format!("{SMALL}\n[water_plant]\ntransit_s = 3600\n");
    let e = Campus::parse(Path::new("bad.toml"), &text)
        .unwrap_err()
        .to_string();
    assert!(e.contains("water_plant.transit_s"), "{e}");
    assert!(e.contains("0..=1800"), "{e}");
}

//! Every scenario in `sim/scenarios/` runs closed-loop with the real coolant controller and
//! must pass its own checks (those comparing with the baseline run it too). One test per
//! scenario, so they run in parallel and a failure names its scenario and prints its table.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use rack_sim::scenario::Scenario;

fn scenario_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

fn run(name: &str) {
    let path = scenario_dir().join(format!("{name}.toml"));
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let outcome = rack_sim::run_scenario(&scenario, false, |_| {}).unwrap();
    if scenario.power.is_some() {
        // With rack power controllers, heat into the liquid follows their caps: the ledger
        // must still close, and no rack may lose its bus or trip its breaker.
        assert_eq!(
            outcome.summary.kpis.get("breaker_trips").copied(),
            Some(0.0),
            "{name}: a breaker tripped"
        );
    }
    let table = rack_sim::report::table(&outcome.summary);
    assert!(outcome.summary.passed, "{name} failed:\n{table}");
    assert!(!outcome.summary.checks.is_empty(), "{name} has no checks");
    let balance = outcome.summary.kpis["energy_balance_error_pct"];
    assert!(
        balance < 0.5,
        "{name}: energy balance error {balance} %\n{table}"
    );
}

macro_rules! scenarios {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                run($name);
            }
        )*

        /// A scenario file without a test here would never run in CI.
        #[test]
        fn every_scenario_file_has_a_test() {
            let tested = [$($name),*];
            for entry in std::fs::read_dir(scenario_dir()).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "toml") {
                    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                    assert!(tested.contains(&stem.as_str()), "{} has no test in sim/tests/scenarios.rs", path.display());
                }
            }
        }
    };
}

scenarios! {
    steady => "steady",
    load_step => "load-step",
    training_oscillation => "training-oscillation",
    pump_failure => "pump-failure",
    supply_sensor_stuck => "supply-sensor-stuck",
    all_supply_sensors_lost => "all-supply-sensors-lost",
    rack_leak => "rack-leak",
    facility_excursion => "facility-excursion",
    low_reservoir => "low-reservoir",
    row_bus_silence => "row-bus-silence",
    diurnal => "diurnal",
    power_on_sequence => "power-on-sequence",
    over_budget => "over-budget",
    thermal_derate => "thermal-derate",
    psu_failure => "psu-failure",
    overcurrent => "overcurrent",
    ac_loss => "ac-loss",
    grid_smoothing => "grid-smoothing",
    leak_isolation => "leak-isolation",
    valve_stuck => "valve-stuck",
    reservoir_drain => "reservoir-drain",
    ac_sag => "ac-sag",
    pump_trip_during_load_step => "pump-trip-during-load-step",
    valve_stuck_during_load_step => "valve-stuck-during-load-step",
    facility_flow_cut => "facility-flow-cut",
    slow_valve_load_step => "slow-valve-load-step",
    row_4_racks => "row-4-racks",
    row_16_racks => "row-16-racks",
    cooling_loss_gpu_protection => "cooling-loss-gpu-protection",
    close_approach => "close-approach",
    controller_reset => "controller-reset",
    power_controller_reset => "power-controller-reset",
}

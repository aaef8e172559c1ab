//! A short `racksim load` against a live row served in this process: the row keeps real time
//! and answers a probe promptly while clients flood, idle, stall on half frames and stop
//! reading. (The long run and its figures: README, "A live row no client can stall".)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod live_row;

use std::time::Duration;

use rack_sim::run::load::{LoadPlan, run_load};
use rack_sim::run::serve::ServeOptions;

#[test]
fn misbehaving_clients_neither_slow_the_row_nor_delay_an_answer() {
    let row = live_row::LiveRow::start(1.0, ServeOptions::default());
    let port = row.port;
    let plan = LoadPlan {
        flood: 1,
        idle: 60,
        half: 30,
        deaf: 6,
        duration: Duration::from_secs(6),
    };
    let report = run_load(format!("127.0.0.1:{port}").parse().unwrap(), plan).unwrap();
    let counters = row.stop();
    assert_eq!(report.connected, 97, "{report:?}");
    assert_eq!(report.probes_lost, 0, "{report:?}");
    assert!(report.probe_max_ms < 500.0, "{report:?}");
    assert!(report.speed > 0.9, "{report:?}");
    assert!(report.flood_bytes > 0, "{report:?}");
    assert!(counters.accepted >= 98, "{counters:?}");
    // Not a loopback address: refused before anything is sent.
    assert!(run_load("192.0.2.1:7700".parse().unwrap(), plan).is_err());
}

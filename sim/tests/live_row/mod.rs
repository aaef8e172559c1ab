//! What the `racksim serve` tests share: a CDU-only row served live in a thread of the test.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rack_sim::run::serve::{ServeCounters, ServeOptions};
use rack_sim::scenario::Scenario;

/// A coolant row at 80 % load, an hour long (the tests stop it sooner).
const ROW: &str = r#"
name = "live-row"
duration_s = 3600
warmup_s = 30
[workload]
shape = { kind = "constant", level = 0.8 }
"#;

/// The row, served until dropped or stopped.
pub struct LiveRow {
    /// The CDU's port on 127.0.0.1.
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<ServeCounters>>,
}

impl LiveRow {
    /// Serves the row at `speed` x real time with `options`.
    pub fn start(speed: f64, options: ServeOptions) -> Self {
        let scenario = Scenario::parse(Path::new("live-row.toml"), ROW).expect("the row parses");
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            rack_sim::serve(&scenario, 0, speed, options, &flag, |ports| {
                let _ = tx.send(ports.first().copied().unwrap_or(0));
            })
            .expect("the row serves")
        });
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the row listens");
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the row; what its server counted.
    pub fn stop(mut self) -> ServeCounters {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("the server thread ends"))
            .unwrap_or_default()
    }
}

impl Drop for LiveRow {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

//! What the host tools' end-to-end tests share: a row served live by `racksim serve`'s server
//! in a thread of the test, with a fresh keys file (maintenance key 1, operator key 2).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// A live row, served until stopped or dropped.
pub struct Row {
    /// Its devices' ports on 127.0.0.1: the CDU's, then each rack's.
    pub ports: Vec<u16>,
    /// Its keys file.
    pub keys: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Row {
    /// Serves `scenario` (a scenario file's text) at `speed` x real time, its keys file made
    /// afresh in the directory `dir` (created, emptied).
    pub fn start(scenario: &str, speed: f64, dir: &Path) -> Self {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("the test's directory");
        let scenario = rack_sim::scenario::Scenario::parse(Path::new("row.toml"), scenario)
            .expect("the row parses");
        let keys_path = dir.join("row.keys");
        let (keys, created) =
            rack_sim::run::serve::load_or_create_keys(&keys_path).expect("the keys file");
        assert!(created, "a fresh keys file");
        let options = rack_sim::run::serve::ServeOptions {
            keys,
            ..Default::default()
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            rack_sim::serve(&scenario, 0, speed, options, &flag, |ports| {
                let _ = tx.send(ports.to_vec());
            })
            .expect("the row serves");
        });
        let ports = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the row listens");
        Self {
            ports,
            keys: keys_path,
            stop,
            thread: Some(thread),
        }
    }

    /// The CDU's port.
    pub fn port(&self) -> u16 {
        self.ports.first().copied().unwrap_or(0)
    }

    /// Stops the row (its devices stop answering).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Row {
    fn drop(&mut self) {
        self.stop();
    }
}

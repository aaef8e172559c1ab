//! The PCA9555 16-bit I/O expanders both images use (leak detectors and rack valves on the
//! CDU, tray and PSU enables on a rack), driven by `rack_node::drivers::Pca9555` (tested on the
//! host), and the count of the bus errors they meet (reported in the log when it grows).

pub use rack_node::drivers::Pca9555;

/// Bus errors met, with the count last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BusErrors {
    count: u32,
    reported: u32,
}

impl BusErrors {
    /// `result`'s value, counting its error.
    pub fn note<T, E>(&mut self, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(_) => {
                self.count = self.count.saturating_add(1);
                None
            }
        }
    }

    /// Errors so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Logs the count once it has grown since the last report.
    pub fn report(&mut self, bus: &str) {
        if self.count != self.reported {
            defmt::warn!("{}: {} errors", bus, self.count);
            self.reported = self.count;
        }
    }
}

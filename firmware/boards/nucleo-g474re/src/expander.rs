//! The PCA9555 16-bit I/O expanders both images use (leak detectors and rack valves on the
//! CDU, tray and PSU enables on a rack), against embedded-hal 1.0's `I2c`, and the count of
//! the bus errors they meet (reported in the log when it grows).
//!
//! The chip is four register pairs: input (0, 1), output (2, 3), polarity (4, 5) and
//! configuration (6, 7, a 0 bit is an output). Writing here is three bytes; no maintained
//! crate drives it against embedded-hal 1.0's blocking `I2c`.

use embedded_hal::i2c::I2c;

/// Input port 0 (port 1 follows).
const INPUT: u8 = 0x00;
/// Output port 0 (port 1 follows).
const OUTPUT: u8 = 0x02;
/// Configuration port 0 (port 1 follows); a 0 bit makes the pin an output.
const CONFIG: u8 = 0x06;

/// One PCA9555 at its bus address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pca9555 {
    /// 7-bit bus address (0x20..=0x27 by its strap pins).
    pub addr: u8,
}

impl Pca9555 {
    /// Drives every pin: the outputs set to `level` first, then the pins made outputs, so
    /// that no pin glitches to another level on the way.
    pub fn make_outputs<B: I2c>(self, bus: &mut B, level: u16) -> Result<(), B::Error> {
        self.write(bus, level)?;
        bus.write(self.addr, &[CONFIG, 0, 0])
    }

    /// Makes every pin an output at the level its latch holds, writing no level: after the
    /// MCU's reset the expander (not reset with it) still holds what the last controller set,
    /// and after the expander's own power-on its latches read all ones, which the boards wire
    /// as every load off (docs/failsafe.md).
    pub fn keep_outputs<B: I2c>(self, bus: &mut B) -> Result<(), B::Error> {
        bus.write(self.addr, &[CONFIG, 0, 0])
    }

    /// Sets the 16 outputs (bit n is pin n).
    pub fn write<B: I2c>(self, bus: &mut B, level: u16) -> Result<(), B::Error> {
        let [lo, hi] = level.to_le_bytes();
        bus.write(self.addr, &[OUTPUT, lo, hi])
    }

    /// Reads the 16 inputs (bit n is pin n).
    pub fn read<B: I2c>(self, bus: &mut B) -> Result<u16, B::Error> {
        let mut b = [0u8; 2];
        bus.write_read(self.addr, &[INPUT], &mut b)?;
        Ok(u16::from_le_bytes(b))
    }
}

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

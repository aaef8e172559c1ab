//! The PCA9555 16-bit I/O expander: leak detectors and rack valves on the CDU, tray and PSU
//! enables on a rack.
//!
//! The chip is four register pairs: input (0, 1), output (2, 3), polarity (4, 5) and
//! configuration (6, 7, a 0 bit is an output); a write names the first register and the chip
//! steps to its pair. No maintained crate drives it against embedded-hal 1.0's blocking `I2c`
//! (the `pca9555` crates found target embedded-hal 0.2 or an async bus), and it is three-byte
//! writes: written here.

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
        self.keep_outputs(bus)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    extern crate std;
    use std::vec;

    use embedded_hal::i2c::ErrorKind;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    use super::*;

    const CHIP: Pca9555 = Pca9555 { addr: 0x22 };

    #[test]
    fn outputs_are_set_before_the_pins_become_outputs() {
        let expected = [
            Transaction::write(0x22, vec![0x02, 0x34, 0x12]),
            Transaction::write(0x22, vec![0x06, 0x00, 0x00]),
        ];
        let mut bus = Mock::new(&expected);
        CHIP.make_outputs(&mut bus, 0x1234).unwrap();
        bus.done();
    }

    #[test]
    fn keeping_the_outputs_writes_no_level() {
        let expected = [Transaction::write(0x22, vec![0x06, 0x00, 0x00])];
        let mut bus = Mock::new(&expected);
        CHIP.keep_outputs(&mut bus).unwrap();
        bus.done();
    }

    #[test]
    fn inputs_read_both_ports_low_byte_first() {
        let expected = [Transaction::write_read(0x22, vec![0x00], vec![0xfe, 0x7f])];
        let mut bus = Mock::new(&expected);
        assert_eq!(CHIP.read(&mut bus).unwrap(), 0x7ffe);
        bus.done();
    }

    #[test]
    fn a_bus_error_is_returned_not_hidden() {
        let expected =
            [Transaction::write_read(0x22, vec![0x00], vec![0, 0]).with_error(ErrorKind::Other)];
        let mut bus = Mock::new(&expected);
        assert_eq!(CHIP.read(&mut bus), Err(ErrorKind::Other));
        bus.done();
    }
}

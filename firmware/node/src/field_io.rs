//! Field signals to engineering units, for the boards: 4-20 mA transmitter loops read by an
//! ADC across a shunt, and pump tachometer pulses counted over a window. Kept here, without
//! hardware, so that the conversions are tested on the host.

use rack_control::Instant;
use rack_control::sensor::Reading;

/// A 4-20 mA transmitter loop read as a voltage across a shunt by an ADC.
///
/// Loop currents outside NAMUR NE 43's measuring range (3.8..=20.5 mA) are failures (a broken
/// wire reads 0 mA, a shorted transmitter over 21 mA): the reading keeps its last good time,
/// so the controller's stale-sensor check sees the fault, and its value is never invented.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurrentLoop {
    /// Engineering value at 4 mA.
    pub at_4ma: f32,
    /// Engineering value at 20 mA.
    pub at_20ma: f32,
}

/// Shunt the loops are read across, ohms (20 mA -> 3.0 V, inside a 3.3 V ADC's range).
pub const SHUNT_OHM: f32 = 150.0;
/// ADC reference, volts.
pub const ADC_VREF: f32 = 3.3;
/// ADC full scale, counts (12 bits).
pub const ADC_FULL_SCALE: f32 = 4095.0;

impl CurrentLoop {
    /// Loop current, mA, for an ADC reading.
    pub fn milliamps(counts: u16) -> f32 {
        f32::from(counts) / ADC_FULL_SCALE * ADC_VREF / SHUNT_OHM * 1000.0
    }

    /// The engineering value for a loop current, or `None` outside NE 43's measuring range.
    pub fn value(&self, ma: f32) -> Option<f32> {
        (3.8..=20.5).contains(&ma).then(|| {
            // Between 3.8 and 4 mA (and above 20) the transmitter is saturated: clamp.
            let x = ((ma - 4.0) / 16.0).clamp(0.0, 1.0);
            self.at_4ma + x * (self.at_20ma - self.at_4ma)
        })
    }

    /// Updates `reading` from an ADC sample taken at `now`: a good sample replaces it; a
    /// failed loop leaves it (and its time) as it was.
    pub fn update(&self, reading: &mut Reading, counts: u16, now: Instant) {
        if let Some(value) = self.value(Self::milliamps(counts)) {
            *reading = Reading { value, at: now };
        }
    }
}

/// Pump speed from tachometer pulses: the count of edges over a sliding window of control
/// steps. A stopped pump gives no edges and reads 0 rpm within one window, which is what the
/// controller's tach-lost check needs (a period capture would hold its last value).
#[derive(Debug, Clone)]
pub struct TachCounter<const N: usize> {
    counts: [u32; N],
    times: [Instant; N],
    next: usize,
    filled: usize,
    /// Pulses per revolution.
    pub pulses_per_rev: u32,
}

impl<const N: usize> TachCounter<N> {
    /// A counter averaging over the last `N` samples (`N` >= 2).
    pub fn new(pulses_per_rev: u32) -> Self {
        Self {
            counts: [0; N],
            times: [Instant(0); N],
            next: 0,
            filled: 0,
            pulses_per_rev: pulses_per_rev.max(1),
        }
    }

    /// Takes the running edge count (wrapping) at `now`; returns the speed over the window,
    /// rpm (0 until two samples are in).
    pub fn sample(&mut self, now: Instant, count: u32) -> f32 {
        if let (Some(c), Some(t)) = (
            self.counts.get_mut(self.next),
            self.times.get_mut(self.next),
        ) {
            *c = count;
            *t = now;
        }
        self.next = (self.next + 1) % N;
        self.filled = (self.filled + 1).min(N);
        if self.filled < 2 {
            return 0.0;
        }
        // After the write, the oldest sample sits where the next one will go (once full).
        let oldest = if self.filled < N { 0 } else { self.next };
        let (Some(c0), Some(t0)) = (self.counts.get(oldest), self.times.get(oldest)) else {
            return 0.0;
        };
        let seconds = now.secs_since(*t0);
        if seconds <= 0.0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)] // pulse counts per window are small
        let pulses = count.wrapping_sub(*c0) as f32;
        #[allow(clippy::cast_precision_loss)]
        let ppr = self.pulses_per_rev as f32;
        pulses / ppr / seconds * 60.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts_for(ma: f32) -> u16 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let c = libm::roundf(ma / 1000.0 * SHUNT_OHM / ADC_VREF * ADC_FULL_SCALE) as u16;
        c
    }

    #[test]
    fn a_loop_maps_4_to_20_ma_onto_its_range() {
        let dp = CurrentLoop {
            at_4ma: 0.0,
            at_20ma: 400.0,
        };
        for (ma, kpa) in [(4.0, 0.0), (12.0, 200.0), (20.0, 400.0)] {
            let v = dp.value(CurrentLoop::milliamps(counts_for(ma))).unwrap();
            assert!((v - kpa).abs() < 0.5, "{ma} mA -> {v} kPa, not {kpa}");
        }
    }

    #[test]
    fn a_broken_or_shorted_loop_keeps_the_last_good_reading_and_its_time() {
        let t = CurrentLoop {
            at_4ma: 0.0,
            at_20ma: 100.0,
        };
        let mut r = Reading {
            value: 0.0,
            at: Instant(0),
        };
        t.update(&mut r, counts_for(8.0), Instant(100));
        assert!((r.value - 25.0).abs() < 0.1);
        assert_eq!(r.at, Instant(100));
        // Open wire (0 mA) and a short (22 mA, past what the shunt can show) change nothing.
        t.update(&mut r, 0, Instant(200));
        t.update(&mut r, counts_for(21.5), Instant(300));
        assert!((r.value - 25.0).abs() < 0.1);
        assert_eq!(
            r.at,
            Instant(100),
            "the controller must see the reading age"
        );
    }

    #[test]
    fn tach_speed_comes_from_pulses_over_the_window_and_a_stopped_pump_reads_zero() {
        let mut tach = TachCounter::<5>::new(2);
        // 3000 rpm at 2 pulses per revolution: 100 pulses/s, 10 per 100 ms step.
        let mut count = u32::MAX - 25; // the hardware counter wraps
        let mut rpm = 0.0;
        for step in 0..10u64 {
            rpm = tach.sample(Instant(step * 100), count);
            count = count.wrapping_add(10);
        }
        assert!((rpm - 3000.0).abs() < 1.0, "{rpm}");
        // The pump stops: no more edges.
        for step in 10..15u64 {
            rpm = tach.sample(Instant(step * 100), count);
        }
        assert_eq!(rpm, 0.0);
    }
}

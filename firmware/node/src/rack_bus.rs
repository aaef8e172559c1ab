//! The rack's internal CAN bus, for a power controller on a board: the trays' management
//! controllers report their GPUs' power demand and hottest temperature, the PSU shelves their
//! fitted and faulted supplies and AC status, the battery backup its state of charge; the
//! controller sends each tray its cap and floor and the battery its power command.
//!
//! Classic 8-byte CAN frames, little-endian, 11-bit identifiers:
//!
//! | id | from | bytes |
//! |---|---|---|
//! | 0x200 + t | tray t | demand W u32, hottest GPU 0.01 degC i16, - |
//! | 0x240 + s | shelf s | fitted mask u8, faulted mask u8, AC good u8 |
//! | 0x260 | BBU | state of charge 0.1 % u16 |
//! | 0x280 + t | controller | tray t: cap W u32, floor W u32 |
//! | 0x2C0 | controller | BBU power W i32 (positive: discharge), smoothing u8 |
//!
//! The tray and shelf interfaces of real racks differ by vendor (IPMB, `PMBus`, Modbus); this
//! is the board's stand-in for them, with every field a real one carries.

use rack_control::Instant;
use rack_control::power::{PSUS_PER_SHELF, PowerInputs, PowerOutputs, SHELVES, TRAYS};

/// A tray's report, tray 0.
pub const ID_TRAY: u16 = 0x200;
/// A shelf's status, shelf 0.
pub const ID_SHELF: u16 = 0x240;
/// The battery backup's state of charge.
pub const ID_BBU: u16 = 0x260;
/// A tray's cap and floor, tray 0.
pub const ID_TRAY_CAP: u16 = 0x280;
/// The battery's power command.
pub const ID_BBU_CMD: u16 = 0x2C0;
/// A tray report older than this leaves its demand at zero and its GPU at the limit, ms.
pub const TRAY_REPORT_TIMEOUT_MS: u64 = 1_000;

fn u32_at(d: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(i..i + 4)?.try_into().ok()?))
}

fn i16_at(d: &[u8], i: usize) -> Option<i16> {
    Some(i16::from_le_bytes(d.get(i..i + 2)?.try_into().ok()?))
}

/// What the rack bus has told the controller, with when.
#[derive(Debug, Clone)]
pub struct RackBus {
    tray_demand_w: [f32; TRAYS],
    tray_gpu_c: [f32; TRAYS],
    tray_heard: [Option<Instant>; TRAYS],
    psu_present: [[bool; PSUS_PER_SHELF]; SHELVES],
    psu_fault: [[bool; PSUS_PER_SHELF]; SHELVES],
    ac_good: [bool; SHELVES],
    bbu_soc: f32,
    /// Frames that were too short or named no tray or shelf.
    pub rejected: u32,
}

impl Default for RackBus {
    fn default() -> Self {
        Self::new()
    }
}

impl RackBus {
    /// Nothing heard: no PSU fitted, AC not known good, battery empty (the safe assumptions).
    pub fn new() -> Self {
        Self {
            tray_demand_w: [0.0; TRAYS],
            tray_gpu_c: [0.0; TRAYS],
            tray_heard: [None; TRAYS],
            psu_present: [[false; PSUS_PER_SHELF]; SHELVES],
            psu_fault: [[false; PSUS_PER_SHELF]; SHELVES],
            ac_good: [false; SHELVES],
            bbu_soc: 0.0,
            rejected: 0,
        }
    }

    /// Takes in one received frame; frames of other identifiers are ignored.
    pub fn receive(&mut self, now: Instant, id: u16, data: &[u8]) {
        let ok = match id {
            _ if (ID_TRAY..ID_TRAY + 0x40).contains(&id) => {
                let t = usize::from(id - ID_TRAY);
                match (u32_at(data, 0), i16_at(data, 4), t < TRAYS) {
                    (Some(demand), Some(gpu), true) => {
                        #[allow(clippy::cast_precision_loss)] // watts below 2^24 are exact
                        let demand = demand as f32;
                        if let (Some(d), Some(g), Some(h)) = (
                            self.tray_demand_w.get_mut(t),
                            self.tray_gpu_c.get_mut(t),
                            self.tray_heard.get_mut(t),
                        ) {
                            *d = demand;
                            *g = f32::from(gpu) / 100.0;
                            *h = Some(now);
                        }
                        true
                    }
                    _ => false,
                }
            }
            _ if (ID_SHELF..ID_SHELF + 0x20).contains(&id) => {
                let s = usize::from(id - ID_SHELF);
                match (data.get(..3), s < SHELVES) {
                    (Some(&[fitted, faulted, ac]), true) => {
                        if let (Some(p), Some(f), Some(a)) = (
                            self.psu_present.get_mut(s),
                            self.psu_fault.get_mut(s),
                            self.ac_good.get_mut(s),
                        ) {
                            for (i, (p, f)) in p.iter_mut().zip(f.iter_mut()).enumerate() {
                                *p = fitted >> i & 1 == 1;
                                *f = faulted >> i & 1 == 1;
                            }
                            *a = ac != 0;
                        }
                        true
                    }
                    _ => false,
                }
            }
            ID_BBU => match data.get(..2) {
                Some(&[lo, hi]) => {
                    self.bbu_soc =
                        (f32::from(u16::from_le_bytes([lo, hi])) / 1000.0).clamp(0.0, 1.0);
                    true
                }
                _ => false,
            },
            _ => true,
        };
        if !ok {
            self.rejected = self.rejected.saturating_add(1);
        }
    }

    /// Fills the rack-bus part of the controller's inputs at `now`. A tray not heard within
    /// [`TRAY_REPORT_TIMEOUT_MS`] asks for nothing and reads as hot as `gpu_limit_c`, so the
    /// thermal budget treats it conservatively.
    pub fn fill(&self, now: Instant, gpu_limit_c: f32, inputs: &mut PowerInputs) {
        for t in 0..TRAYS {
            let fresh = self.tray_heard.get(t).copied().flatten().is_some_and(|at| {
                now.as_millis().saturating_sub(at.as_millis()) <= TRAY_REPORT_TIMEOUT_MS
            });
            if let (Some(d), Some(g), Some(sd), Some(sg)) = (
                inputs.tray_demand_w.get_mut(t),
                inputs.tray_hottest_gpu_c.get_mut(t),
                self.tray_demand_w.get(t),
                self.tray_gpu_c.get(t),
            ) {
                *d = if fresh { *sd } else { 0.0 };
                *g = if fresh { *sg } else { gpu_limit_c };
            }
        }
        inputs.psu_present = self.psu_present;
        inputs.psu_fault = self.psu_fault;
        inputs.ac_present = self.ac_good.iter().any(|a| *a);
        inputs.bbu_soc = self.bbu_soc;
    }
}

/// The controller's inputs before anything is heard: AC not known good, no PSU, no demand,
/// every GPU counted at `gpu_limit_c`, no battery charge, no headroom.
pub fn initial_inputs(gpu_limit_c: f32) -> PowerInputs {
    PowerInputs {
        ac_present: false,
        input_power_w: 0.0,
        feed_current_a: 0.0,
        psu_present: [[false; PSUS_PER_SHELF]; SHELVES],
        psu_fault: [[false; PSUS_PER_SHELF]; SHELVES],
        tray_demand_w: [0.0; TRAYS],
        tray_power_w: [0.0; TRAYS],
        tray_hottest_gpu_c: [gpu_limit_c; TRAYS],
        bbu_soc: 0.0,
        headroom: None,
        isolation_requested: false,
    }
}

/// The frames the controller sends after a step: each tray's cap and floor, then the
/// battery's command.
pub fn commands(outputs: &PowerOutputs, mut send: impl FnMut(u16, [u8; 8])) {
    let w = |x: f32| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped, >= 0
        let v = libm::roundf(x.clamp(0.0, 4.0e9)) as u32;
        v
    };
    for (t, (cap, floor)) in outputs
        .tray_cap_w
        .iter()
        .zip(&outputs.tray_floor_w)
        .enumerate()
    {
        let mut d = [0u8; 8];
        d[..4].copy_from_slice(&w(*cap).to_le_bytes());
        d[4..].copy_from_slice(&w(*floor).to_le_bytes());
        #[allow(clippy::cast_possible_truncation)] // t < 18
        send(ID_TRAY_CAP + t as u16, d);
    }
    let mut d = [0u8; 8];
    #[allow(clippy::cast_possible_truncation)] // clamped to the i32 range
    let bbu = libm::roundf(outputs.bbu_power_w.clamp(-2.0e9, 2.0e9)) as i32;
    d[..4].copy_from_slice(&bbu.to_le_bytes());
    d[4] = u8::from(outputs.smoothing);
    send(ID_BBU_CMD, d);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rack_control::power::{PowerConfig, PowerController};

    fn inputs() -> PowerInputs {
        initial_inputs(0.0)
    }

    #[test]
    fn tray_shelf_and_battery_frames_fill_the_inputs() {
        let mut bus = RackBus::new();
        let mut tray = [0u8; 8];
        tray[..4].copy_from_slice(&7_200u32.to_le_bytes());
        tray[4..6].copy_from_slice(&7_125i16.to_le_bytes());
        bus.receive(Instant(1_000), ID_TRAY + 17, &tray);
        bus.receive(Instant(1_000), ID_SHELF + 2, &[0b11_1111, 0b00_0100, 1]);
        bus.receive(Instant(1_000), ID_BBU, &850u16.to_le_bytes());
        let mut i = inputs();
        bus.fill(Instant(1_500), 80.0, &mut i);
        assert_eq!(i.tray_demand_w[17], 7_200.0);
        assert_eq!(i.tray_hottest_gpu_c[17], 71.25);
        assert_eq!(
            i.tray_demand_w[0], 0.0,
            "a tray never heard asks for nothing"
        );
        assert_eq!(i.tray_hottest_gpu_c[0], 80.0, "and counts as hot");
        assert_eq!(i.psu_present[2], [true; 6]);
        assert_eq!(i.psu_fault[2], [false, false, true, false, false, false]);
        assert_eq!(i.psu_present[0], [false; 6]);
        assert!(i.ac_present);
        assert!((i.bbu_soc - 0.85).abs() < 1e-6);
        // The tray goes silent: its report lapses.
        bus.fill(Instant(1_000 + TRAY_REPORT_TIMEOUT_MS + 1), 80.0, &mut i);
        assert_eq!(i.tray_demand_w[17], 0.0);
        assert_eq!(bus.rejected, 0);
    }

    #[test]
    fn short_frames_and_unknown_trays_are_counted_and_change_nothing() {
        let mut bus = RackBus::new();
        bus.receive(Instant(0), ID_TRAY + 3, &[1, 2, 3]);
        bus.receive(Instant(0), ID_TRAY + 18, &[0; 8]);
        bus.receive(Instant(0), ID_SHELF + 8, &[0xff, 0, 1]);
        bus.receive(Instant(0), ID_BBU, &[1]);
        assert_eq!(bus.rejected, 4);
        let mut i = inputs();
        bus.fill(Instant(0), 80.0, &mut i);
        assert!(!i.ac_present);
        assert_eq!(i.tray_demand_w, [0.0; TRAYS]);
    }

    #[test]
    fn commands_carry_every_tray_cap_and_the_battery_power() {
        let c = PowerController::new(PowerConfig::default());
        let mut o = *c.outputs();
        o.tray_cap_w[4] = 6_500.4;
        o.tray_floor_w[4] = 5_200.0;
        o.bbu_power_w = -3_000.0;
        let mut sent: heapless::Vec<(u16, [u8; 8]), 32> = heapless::Vec::new();
        commands(&o, |id, d| sent.push((id, d)).unwrap());
        assert_eq!(sent.len(), TRAYS + 1);
        let (id, d) = sent[4];
        assert_eq!(id, ID_TRAY_CAP + 4);
        assert_eq!(u32::from_le_bytes(d[..4].try_into().unwrap()), 6_500);
        assert_eq!(u32::from_le_bytes(d[4..].try_into().unwrap()), 5_200);
        let (id, d) = sent[TRAYS];
        assert_eq!(id, ID_BBU_CMD);
        assert_eq!(i32::from_le_bytes(d[..4].try_into().unwrap()), -3_000);
    }
}

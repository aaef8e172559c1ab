//! The power controller's alarms, set once a step from what the parts found: AC loss (on
//! battery), power capped, thermal derate (the thermal budget is what caps the rack), BBU low,
//! each shed tray and each faulted PSU. Every raise and clear is logged.

use crate::Instant;

use super::trays::bits;
use super::{Annunciator, PSUS_PER_SHELF, PowerAlarm};

/// What the alarms are set from this step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct AlarmInputs {
    pub on_battery: bool,
    pub capped: bool,
    pub thermal_derate: bool,
    pub bbu_low: bool,
    /// The shed trays, a bit per tray.
    pub shed: u32,
    /// The faulted PSUs, a bit per shelf x `PSUS_PER_SHELF` + PSU.
    pub psus_faulted: u64,
}

/// Which tray-shed and PSU-fault instances were last set present.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct PowerAlarms {
    shed_set: u32,
    psu_set: u64,
}

impl PowerAlarms {
    pub fn update(&mut self, now: Instant, a: AlarmInputs, annunciator: &mut Annunciator) {
        let mut set = |alarm, instance, critical, present| {
            annunciator.set(now, alarm, instance, critical, present);
        };
        set(PowerAlarm::AcLoss, 0, true, a.on_battery);
        set(PowerAlarm::PowerCapped, 0, false, a.capped);
        set(PowerAlarm::ThermalDerate, 0, false, a.thermal_derate);
        set(PowerAlarm::BbuLow, 0, false, a.bbu_low);
        // Setting a condition absent when it was last set absent changes nothing (an alarm is
        // then unlisted or already cleared), so only instances present now or last time are set,
        // in the same order: the calls that matter, without 66 table searches a step.
        // Trays past `config.trays` are never shed (they are never enabled).
        for t in bits(a.shed | self.shed_set) {
            #[allow(clippy::cast_possible_truncation)] // < TRAYS
            set(PowerAlarm::TrayShed, t as u8, true, a.shed & (1 << t) != 0);
        }
        self.shed_set = a.shed;
        let mut psus = a.psus_faulted | self.psu_set;
        while psus != 0 {
            let i = psus.trailing_zeros() as usize;
            psus &= psus - 1;
            let (s, p) = (i / PSUS_PER_SHELF, i % PSUS_PER_SHELF);
            #[allow(clippy::cast_possible_truncation)] // < 64
            set(
                PowerAlarm::PsuFault,
                (s * 8 + p) as u8,
                false,
                a.psus_faulted & (1 << i) != 0,
            );
        }
        self.psu_set = a.psus_faulted;
    }
}

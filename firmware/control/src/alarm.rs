//! Alarms: a condition becomes an alarm only after it has held for its delay, clears only after
//! it has fallen back past a hysteresis band, and can be inhibited (for example while a loop
//! starts up). Raised alarms are latched until acknowledged once their condition is gone.
//!
//! [`DelayedLevel`] turns an analog value into an alarm condition (Coolcentric: +/-2 degC from
//! setpoint held 2 min, 1 degC hysteresis); [`AlarmTable`] holds the raised alarms.

use crate::Instant;

/// A level alarm with a delay and hysteresis: `Inactive -> Pending -> Active -> Inactive`.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DelayedLevel {
    /// How long the condition must hold before the alarm is raised, s.
    pub delay_s: f32,
    /// How far back past the threshold the value must go to clear, in its unit.
    pub hysteresis: f32,
    pending_since: Option<Instant>,
    active: bool,
}

impl DelayedLevel {
    /// A level alarm.
    pub const fn new(delay_s: f32, hysteresis: f32) -> Self {
        Self {
            delay_s,
            hysteresis,
            pending_since: None,
            active: false,
        }
    }

    /// Updates with `excess`: how far the value is past its threshold (positive = beyond).
    /// Returns whether the alarm is active.
    pub fn update(&mut self, now: Instant, excess: f32) -> bool {
        if self.active {
            if excess < -self.hysteresis {
                self.active = false;
                self.pending_since = None;
            }
        } else if excess > 0.0 {
            let since = *self.pending_since.get_or_insert(now);
            if now.secs_since(since) >= self.delay_s {
                self.active = true;
            }
        } else {
            self.pending_since = None;
        }
        self.active
    }

    /// Whether the alarm is active.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Forgets any pending or active state (used while inhibited).
    pub fn reset(&mut self) {
        self.pending_since = None;
        self.active = false;
    }
}

/// One alarm in the table.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alarm<C> {
    /// Which alarm.
    pub code: C,
    /// Which instance (sensor, pump, rack, ...).
    pub instance: u8,
    /// Critical (true) or warning.
    pub critical: bool,
    /// The condition is present.
    pub active: bool,
    /// Acknowledged by a technician.
    pub acknowledged: bool,
    /// When it was raised.
    pub raised_at: Instant,
}

/// What changed in the table during an update.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmChange {
    /// Newly raised.
    Raised,
    /// Condition cleared (the alarm stays listed until acknowledged).
    Cleared,
    /// Removed (cleared and acknowledged).
    Removed,
    /// No change.
    None,
}

/// The raised alarms: up to `N`, latched until acknowledged after they clear.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone)]
pub struct AlarmTable<C, const N: usize> {
    alarms: heapless::Vec<Alarm<C>, N>,
    dropped: u32,
}

impl<C: Copy + PartialEq, const N: usize> Default for AlarmTable<C, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Copy + PartialEq, const N: usize> AlarmTable<C, N> {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            alarms: heapless::Vec::new(),
            dropped: 0,
        }
    }

    /// Sets whether the condition of (`code`, `instance`) is present.
    pub fn set(
        &mut self,
        now: Instant,
        code: C,
        instance: u8,
        critical: bool,
        present: bool,
    ) -> AlarmChange {
        let found = self
            .alarms
            .iter()
            .position(|a| a.code == code && a.instance == instance);
        match (found, present) {
            (None, false) => AlarmChange::None,
            (None, true) => {
                let alarm = Alarm {
                    code,
                    instance,
                    critical,
                    active: true,
                    acknowledged: false,
                    raised_at: now,
                };
                if self.alarms.push(alarm).is_err() {
                    self.dropped = self.dropped.saturating_add(1);
                }
                AlarmChange::Raised
            }
            (Some(i), present) => {
                let Some(alarm) = self.alarms.get_mut(i) else {
                    return AlarmChange::None;
                };
                if present && !alarm.active {
                    // Came back before being removed: raise it again.
                    alarm.active = true;
                    alarm.acknowledged = false;
                    alarm.raised_at = now;
                    AlarmChange::Raised
                } else if !present && alarm.active {
                    alarm.active = false;
                    if alarm.acknowledged {
                        remove_in_order(&mut self.alarms, i);
                        AlarmChange::Removed
                    } else {
                        AlarmChange::Cleared
                    }
                } else {
                    AlarmChange::None
                }
            }
        }
    }

    /// Acknowledges (`code`, `instance`); an inactive alarm is removed. False if not listed.
    pub fn acknowledge(&mut self, code: C, instance: u8) -> bool {
        let Some(i) = self
            .alarms
            .iter()
            .position(|a| a.code == code && a.instance == instance)
        else {
            return false;
        };
        if let Some(alarm) = self.alarms.get_mut(i) {
            alarm.acknowledged = true;
            if !alarm.active {
                remove_in_order(&mut self.alarms, i);
            }
        }
        true
    }

    /// Acknowledges every alarm.
    pub fn acknowledge_all(&mut self) {
        let mut i = 0;
        while let Some(alarm) = self.alarms.get_mut(i) {
            alarm.acknowledged = true;
            if alarm.active {
                i += 1;
            } else {
                remove_in_order(&mut self.alarms, i);
            }
        }
    }

    /// Whether (`code`, `instance`) is listed and active.
    pub fn is_active(&self, code: C, instance: u8) -> bool {
        self.alarms
            .iter()
            .any(|a| a.code == code && a.instance == instance && a.active)
    }

    /// Whether any instance of `code` is listed and active.
    pub fn any_active(&self, code: C) -> bool {
        self.alarms.iter().any(|a| a.code == code && a.active)
    }

    /// The listed alarms.
    pub fn iter(&self) -> impl Iterator<Item = &Alarm<C>> {
        self.alarms.iter()
    }

    /// Alarms that could not be listed because the table was full.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

/// Removes entry `i` of `list`, the others keeping their order, by swapping it to the end:
/// `Vec::remove` and `retain` shift with `ptr::copy`, which links a general `memmove` (1.5 KiB
/// of flash, measured) into the images for lists of a few entries. `None` past the end.
pub fn remove_in_order<T, const N: usize>(list: &mut heapless::Vec<T, N>, i: usize) -> Option<T> {
    for j in i..list.len().saturating_sub(1) {
        list.swap(j, j + 1);
    }
    if i < list.len() { list.pop() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_alarm_waits_for_its_delay_and_clears_past_its_hysteresis() {
        let mut alarm = DelayedLevel::new(120.0, 1.0);
        assert!(!alarm.update(Instant(0), 0.5));
        assert!(!alarm.update(Instant(119_000), 0.5));
        assert!(alarm.update(Instant(120_000), 0.5));
        assert!(
            alarm.update(Instant(121_000), -0.5),
            "inside the hysteresis band"
        );
        assert!(!alarm.update(Instant(122_000), -1.5));
    }

    #[test]
    fn a_condition_that_drops_out_restarts_the_delay() {
        let mut alarm = DelayedLevel::new(10.0, 1.0);
        alarm.update(Instant(0), 1.0);
        alarm.update(Instant(9_000), -0.1);
        assert!(!alarm.update(Instant(12_000), 1.0));
        assert!(alarm.update(Instant(22_000), 1.0));
    }

    #[test]
    fn alarms_latch_until_acknowledged() {
        let mut table: AlarmTable<u8, 4> = AlarmTable::new();
        assert_eq!(table.set(Instant(0), 7, 1, true, true), AlarmChange::Raised);
        assert_eq!(
            table.set(Instant(1), 7, 1, true, false),
            AlarmChange::Cleared
        );
        assert_eq!(table.iter().count(), 1, "latched");
        assert!(table.acknowledge(7, 1));
        assert_eq!(table.iter().count(), 0);
        assert!(!table.acknowledge(7, 1));
    }

    #[test]
    fn an_entry_removed_leaves_the_others_in_their_order() {
        let mut list: heapless::Vec<u8, 8> = heapless::Vec::from_slice(&[1, 2, 3, 4, 5]).unwrap();
        assert_eq!(remove_in_order(&mut list, 1), Some(2));
        assert_eq!(list.as_slice(), &[1, 3, 4, 5]);
        assert_eq!(remove_in_order(&mut list, 3), Some(5));
        assert_eq!(remove_in_order(&mut list, 0), Some(1));
        assert_eq!(list.as_slice(), &[3, 4]);
        assert_eq!(remove_in_order(&mut list, 2), None);
        assert_eq!(list.as_slice(), &[3, 4]);
    }

    #[test]
    fn acknowledging_every_alarm_removes_the_cleared_and_keeps_the_order_of_the_rest() {
        let mut table: AlarmTable<u8, 8> = AlarmTable::new();
        for code in 1..=5 {
            table.set(Instant(u64::from(code)), code, 0, false, true);
        }
        for code in [2, 4] {
            table.set(Instant(10), code, 0, false, false);
            assert!(table.iter().any(|a| a.code == code && !a.active));
        }
        table.acknowledge_all();
        let left: heapless::Vec<u8, 8> = table.iter().map(|a| a.code).collect();
        assert_eq!(left.as_slice(), &[1, 3, 5]);
        assert!(table.iter().all(|a| a.acknowledged && a.active));
    }
}

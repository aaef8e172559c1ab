//! What both controllers share around their control laws, written once: the alarm table whose
//! every raise and clear is logged ([`Annunciator`]), the state machine's table lookup
//! ([`transition`]), and the step's clock ([`StepClock`]: the time since the last step).
//!
//! A controller's events are its own enum; it says how an alarm change reads in it by
//! implementing [`AlarmEvent`], so a rack's `rackctl log` shows AC-loss history as the CDU's
//! shows a pump fault.

use crate::Instant;
use crate::alarm::{AlarmChange, AlarmTable};
use crate::events::EventLog;

pub use crate::CONTROL_PERIOD_MS;

/// An event enum that can record an alarm's raise and clear.
pub trait AlarmEvent<A>: Copy {
    /// `alarm`'s `instance` was raised.
    fn raised(alarm: A, instance: u8) -> Self;
    /// `alarm`'s `instance` cleared (or was removed, cleared and acknowledged).
    fn cleared(alarm: A, instance: u8) -> Self;
}

/// A controller's alarm table and event log: every alarm change is logged.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone)]
pub struct Annunciator<A, E, const NA: usize, const NE: usize> {
    alarms: AlarmTable<A, NA>,
    events: EventLog<E, NE>,
}

impl<A: Copy + PartialEq, E: AlarmEvent<A>, const NA: usize, const NE: usize>
    Annunciator<A, E, NA, NE>
{
    /// No alarms, an empty log.
    pub const fn new() -> Self {
        Self {
            alarms: AlarmTable::new(),
            events: EventLog::new(),
        }
    }

    /// Sets whether `alarm`'s `instance` is present, logging a raise or a clear.
    pub fn set(&mut self, now: Instant, alarm: A, instance: u8, critical: bool, present: bool) {
        match self.alarms.set(now, alarm, instance, critical, present) {
            AlarmChange::Raised => {
                self.events.push(now, E::raised(alarm, instance));
            }
            AlarmChange::Cleared | AlarmChange::Removed => {
                self.events.push(now, E::cleared(alarm, instance));
            }
            AlarmChange::None => {}
        }
    }

    /// Logs `event`.
    pub fn log(&mut self, now: Instant, event: E) {
        self.events.push(now, event);
    }

    /// The alarm table.
    pub fn alarms(&self) -> &AlarmTable<A, NA> {
        &self.alarms
    }

    /// The alarm table, to acknowledge.
    pub fn alarms_mut(&mut self) -> &mut AlarmTable<A, NA> {
        &mut self.alarms
    }

    /// The event log.
    pub fn events(&self) -> &EventLog<E, NE> {
        &self.events
    }
}

impl<A: Copy + PartialEq, E: AlarmEvent<A>, const NA: usize, const NE: usize> Default
    for Annunciator<A, E, NA, NE>
{
    fn default() -> Self {
        Self::new()
    }
}

/// The state `trigger` moves `state` to in `table` (rows `(from, trigger, to)`), if any: a
/// move that is not in the table does not happen.
pub fn transition<S: Copy + PartialEq, T: Copy + PartialEq>(
    table: &[(S, T, S)],
    state: S,
    trigger: T,
) -> Option<S> {
    table
        .iter()
        .find(|(from, t, _)| *from == state && *t == trigger)
        .map(|&(_, _, to)| to)
}

/// The step's clock: how long since the last step, clamped to 0..=1 s (a late or repeated
/// call never makes a loop's step huge or negative); the control period on the first step.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepClock {
    last: Option<Instant>,
}

impl StepClock {
    /// A clock that has seen no step.
    pub const fn new() -> Self {
        Self { last: None }
    }

    /// The time since the last step at `now`, s, and whether this is the first step.
    pub fn tick(&mut self, now: Instant, period_ms: u32) -> (f32, bool) {
        let period_s = period_ms as f32 / 1000.0;
        let first = self.last.is_none();
        let dt = self
            .last
            .map_or(period_s, |last| now.secs_since(last).clamp(0.0, 1.0));
        self.last = Some(now);
        (dt, first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Event {
        Raised(u8, u8),
        Cleared(u8, u8),
        Other,
    }

    impl AlarmEvent<u8> for Event {
        fn raised(alarm: u8, instance: u8) -> Self {
            Self::Raised(alarm, instance)
        }
        fn cleared(alarm: u8, instance: u8) -> Self {
            Self::Cleared(alarm, instance)
        }
    }

    #[test]
    fn every_raise_and_clear_is_logged_and_nothing_else() {
        let mut a: Annunciator<u8, Event, 4, 8> = Annunciator::new();
        a.set(Instant(0), 3, 1, true, false);
        a.set(Instant(1), 3, 1, true, true);
        a.set(Instant(2), 3, 1, true, true);
        a.log(Instant(3), Event::Other);
        a.set(Instant(4), 3, 1, true, false);
        let logged: heapless::Vec<Event, 8> = a.events().iter().map(|r| r.event).collect();
        assert_eq!(
            logged.as_slice(),
            &[Event::Raised(3, 1), Event::Other, Event::Cleared(3, 1)]
        );
        assert!(a.alarms_mut().acknowledge(3, 1));
        assert_eq!(a.alarms().iter().count(), 0);
    }

    #[test]
    fn only_moves_in_the_table_happen() {
        let table = [(0u8, 'a', 1u8), (1, 'b', 2)];
        assert_eq!(transition(&table, 0, 'a'), Some(1));
        assert_eq!(transition(&table, 0, 'b'), None);
        assert_eq!(transition(&table, 1, 'b'), Some(2));
    }

    #[test]
    fn the_clock_gives_the_period_first_then_the_clamped_gap() {
        let mut clock = StepClock::new();
        assert_eq!(clock.tick(Instant(5_000), 100), (0.1, true));
        assert_eq!(clock.tick(Instant(5_250), 100), (0.25, false));
        assert_eq!(clock.tick(Instant(9_000), 100), (1.0, false));
        assert_eq!(clock.tick(Instant(8_000), 100), (0.0, false));
    }
}

//! A fixed-size event log: a ring of records with sequence numbers.
//!
//! Sequence numbers start at 1 and count up without gaps. When the ring is full the oldest
//! record is overwritten and counted in `overwritten`: a reader that asks from a sequence
//! number the ring no longer holds is told how many it lost, never silently skipped.

use heapless::Deque;

use crate::Instant;

/// One record.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record<E> {
    /// Sequence number.
    pub seq: u32,
    /// When.
    pub at: Instant,
    /// What.
    pub event: E,
}

/// A ring of the last `N` records.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone)]
pub struct EventLog<E, const N: usize> {
    ring: Deque<Record<E>, N>,
    next_seq: u32,
    overwritten: u32,
}

impl<E: Copy, const N: usize> Default for EventLog<E, N> {
    fn default() -> Self {
        Self::new()
    }
}

/// What a read from a sequence number returns besides the records.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadInfo {
    /// Requested records the ring had already overwritten.
    pub lost: u32,
    /// The sequence number to read from next.
    pub next_seq: u32,
    /// More records wait after those returned.
    pub more: bool,
}

impl<E: Copy, const N: usize> EventLog<E, N> {
    /// An empty log.
    pub const fn new() -> Self {
        Self {
            ring: Deque::new(),
            next_seq: 1,
            overwritten: 0,
        }
    }

    /// Appends a record and returns its sequence number.
    pub fn push(&mut self, at: Instant, event: E) -> u32 {
        let seq = self.next_seq;
        if self.ring.is_full() {
            self.ring.pop_front();
            self.overwritten = self.overwritten.saturating_add(1);
        }
        // Cannot fail: a slot was freed above when full.
        let _ = self.ring.push_back(Record { seq, at, event });
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        seq
    }

    /// The sequence number the next record will get.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Records overwritten since creation.
    pub fn overwritten(&self) -> u32 {
        self.overwritten
    }

    /// The records held, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Record<E>> {
        self.ring.iter()
    }

    /// Calls `emit` for up to `max` records with `seq >= from_seq`, oldest first.
    pub fn read_from(
        &self,
        from_seq: u32,
        max: usize,
        mut emit: impl FnMut(&Record<E>),
    ) -> ReadInfo {
        let oldest = self.ring.front().map_or(self.next_seq, |r| r.seq);
        let lost = oldest.saturating_sub(from_seq);
        let mut next_seq = from_seq.max(oldest);
        for record in self.ring.iter().filter(|r| r.seq >= from_seq).take(max) {
            emit(record);
            next_seq = record.seq + 1;
        }
        ReadInfo {
            lost,
            next_seq,
            more: next_seq < self.next_seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_gets_every_record_once_and_is_told_what_it_lost() {
        let mut log: EventLog<u8, 4> = EventLog::new();
        for i in 0..6 {
            log.push(Instant(u64::from(i)), i);
        }
        assert_eq!(log.overwritten(), 2);
        let mut seen = heapless::Vec::<u32, 8>::new();
        let info = log.read_from(1, 3, |r| {
            let _ = seen.push(r.seq);
        });
        assert_eq!(info.lost, 2);
        assert_eq!(&seen[..], &[3, 4, 5]);
        assert!(info.more);
        let info = log.read_from(info.next_seq, 3, |r| {
            let _ = seen.push(r.seq);
        });
        assert_eq!(&seen[..], &[3, 4, 5, 6]);
        assert_eq!(
            info,
            ReadInfo {
                lost: 0,
                next_seq: 7,
                more: false
            }
        );
    }
}

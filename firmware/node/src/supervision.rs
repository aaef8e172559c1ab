//! The firmware's supervision, board-independent: which tasks have checked in within their
//! deadlines (the watchdog is fed, and the fail-safe relay's heartbeat toggled, only while
//! all have), and the record a board keeps in RAM that survives a reset (not a power cycle):
//! the task the watchdog was starved for and a saved fault, read back at the next boot to say
//! why the device reset.

use rack_control::Instant;
use rack_protocol::types::{FaultRecord, ResetCause, TaskId};

/// The tasks a board watches, each with its deadline (`None`: the board has no such task).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskMonitor {
    deadline_ms: [Option<u32>; 4],
    last: [Option<Instant>; 4],
    started: Option<Instant>,
}

fn index(task: TaskId) -> usize {
    match task {
        TaskId::Control => 0,
        TaskId::HostLink => 1,
        TaskId::RowBus => 2,
        TaskId::FieldIo => 3,
    }
}

impl TaskMonitor {
    /// Watches the tasks with a deadline, ms (`[control, host link, row bus, field I/O]`).
    pub const fn new(deadline_ms: [Option<u32>; 4]) -> Self {
        Self {
            deadline_ms,
            last: [None; 4],
            started: None,
        }
    }

    /// Starts the clock: from `now`, a task that has not checked in within its deadline is
    /// late.
    pub fn start(&mut self, now: Instant) {
        self.started = Some(now);
    }

    /// Whether [`TaskMonitor::start`] was called.
    pub fn started(&self) -> bool {
        self.started.is_some()
    }

    /// `task` is alive at `now`.
    pub fn check_in(&mut self, task: TaskId, now: Instant) {
        if let Some(slot) = self.last.get_mut(index(task)) {
            *slot = Some(now);
        }
    }

    /// The first task (in [`TaskId::ALL`] order) whose last check-in (or the start) is older
    /// than its deadline at `now`; none before the start.
    pub fn late(&self, now: Instant) -> Option<TaskId> {
        let started = self.started?;
        TaskId::ALL.into_iter().find(|&task| {
            let i = index(task);
            let (Some(Some(deadline)), Some(last)) = (self.deadline_ms.get(i), self.last.get(i))
            else {
                return false;
            };
            let since = last.unwrap_or(started);
            now.as_millis().saturating_sub(since.as_millis()) > u64::from(*deadline)
        })
    }
}

/// Words of a [`BootRecord`] in RAM.
pub const BOOT_RECORD_WORDS: usize = 7;
/// The word that names the task in the watchdog's way.
pub const STARVING_WORD: usize = 1;

/// The record's word for the task in the watchdog's way (0: none).
pub fn starving_word(task: Option<TaskId>) -> u32 {
    task.map_or(0, |t| {
        #[allow(clippy::cast_possible_truncation)] // one of four
        let i = TaskId::ALL.iter().position(|x| *x == t).unwrap_or(0) as u32;
        i + 1
    })
}

/// Set in a record's first word by a firmware that has booted: a reset that finds it and no
/// cause of the hardware's was a reset from outside (the pin, a debugger).
const BOOTED: u32 = 0x5241_434b;
/// Set in the fault word when the fault record holds one.
const FAULT_SAVED: u32 = 0x4641_4c54;

/// The starving word of a record whose firmware reset itself (no task has this number).
const SOFTWARE_RESET: u32 = 0x5057_5253;

/// What a board keeps in RAM across a reset: kept as raw words (RAM after a reset holds
/// anything; a record is believed only with its magic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootRecord {
    words: [u32; BOOT_RECORD_WORDS],
}

impl BootRecord {
    /// The record in `words`, as RAM holds it after a reset.
    pub const fn from_words(words: [u32; BOOT_RECORD_WORDS]) -> Self {
        Self { words }
    }

    /// The words to write back.
    pub const fn words(&self) -> [u32; BOOT_RECORD_WORDS] {
        self.words
    }

    /// At boot: why the device reset, the task the watchdog was starved for, and a fault saved
    /// before it. `hardware`: the cause the chip's reset flags give (none on a board without
    /// them). Without hardware flags: a record that says the watchdog was being starved means a
    /// watchdog reset, one that holds a fault a fault reset, one that says only that a
    /// firmware ran a reset from outside; no record, power-on. Then the record is reset for
    /// this boot.
    pub fn boot(
        &mut self,
        hardware: Option<ResetCause>,
    ) -> (ResetCause, Option<TaskId>, Option<FaultRecord>) {
        let [magic, starving, fault_magic, pc, lr, cfsr, hfsr] = self.words;
        let valid = magic == BOOTED;
        let task = if valid {
            starving
                .checked_sub(1)
                .and_then(|i| TaskId::ALL.get(i as usize).copied())
        } else {
            None
        };
        let fault =
            (valid && fault_magic == FAULT_SAVED).then_some(FaultRecord { pc, lr, cfsr, hfsr });
        let cause = match hardware {
            // The fault handler resets by software: the fault is the cause.
            Some(ResetCause::Software) | None if fault.is_some() => ResetCause::Fault,
            Some(cause) => cause,
            None if task.is_some() => ResetCause::Watchdog,
            None if valid && starving == SOFTWARE_RESET => ResetCause::Software,
            None if valid => ResetCause::Pin,
            None => ResetCause::PowerOn,
        };
        // A starved task is only news after a watchdog reset.
        let task = task.filter(|_| cause == ResetCause::Watchdog);
        self.words = [BOOTED, 0, 0, 0, 0, 0, 0];
        (cause, task, fault)
    }

    /// Notes that the firmware resets itself now (an update's swap, a trial run out), for a
    /// board without reset flags to tell it from a reset from outside.
    pub fn reset_by_software(&mut self) {
        if let Some(slot) = self.words.get_mut(STARVING_WORD) {
            *slot = SOFTWARE_RESET;
        }
    }

    /// Notes the task the watchdog is being starved for (none: it is being fed).
    pub fn starving(&mut self, task: Option<TaskId>) {
        if let Some(slot) = self.words.get_mut(STARVING_WORD) {
            *slot = starving_word(task);
        }
    }

    /// Saves a fault for the next boot (from the fault handler).
    pub fn save_fault(&mut self, fault: FaultRecord) {
        let [magic, starving, ..] = self.words;
        self.words = [
            magic,
            starving,
            FAULT_SAVED,
            fault.pc,
            fault.lr,
            fault.cfsr,
            fault.hfsr,
        ];
    }
}

/// Defines, in a board crate, the boot record's home in RAM that a reset keeps (cortex-m-rt's
/// `.uninit`, which startup does not zero) and `read_boot_record` / `write_boot_record` to use
/// it. The board crate must allow `unsafe` (a volatile access to a static is what it is).
#[macro_export]
macro_rules! boot_record_in_ram {
    () => {
        /// The boot record's words, in RAM a reset keeps.
        #[unsafe(link_section = ".uninit.rackloop_boot")]
        static mut BOOT_RECORD: core::mem::MaybeUninit<
            [u32; $crate::supervision::BOOT_RECORD_WORDS],
        > = core::mem::MaybeUninit::uninit();

        /// Reads the boot record (whatever RAM holds: it is believed only with its magic).
        pub fn read_boot_record() -> $crate::supervision::BootRecord {
            let mut words = [0u32; $crate::supervision::BOOT_RECORD_WORDS];
            let base = core::ptr::addr_of_mut!(BOOT_RECORD).cast::<u32>();
            for (i, w) in words.iter_mut().enumerate() {
                // SAFETY: the words lie inside the static; every bit pattern is a valid u32;
                // accesses are single volatile words, so an interrupt between them sees a
                // record that is at worst half old, never torn words.
                *w = unsafe { core::ptr::read_volatile(base.add(i)) };
            }
            $crate::supervision::BootRecord::from_words(words)
        }

        /// Names the task in the watchdog's way in the record in RAM (one word written: the
        /// control task calls it at every phase).
        #[inline(never)]
        pub fn write_in_the_way(task: Option<rack_protocol::types::TaskId>) {
            let base = core::ptr::addr_of_mut!(BOOT_RECORD).cast::<u32>();
            // SAFETY: as in `read_boot_record`; the word lies inside the record.
            unsafe {
                core::ptr::write_volatile(
                    base.add($crate::supervision::STARVING_WORD),
                    $crate::supervision::starving_word(task),
                );
            }
        }

        /// Writes the boot record back.
        pub fn write_boot_record(record: &$crate::supervision::BootRecord) {
            let base = core::ptr::addr_of_mut!(BOOT_RECORD).cast::<u32>();
            for (i, w) in record.words().into_iter().enumerate() {
                // SAFETY: as in `read_boot_record`.
                unsafe { core::ptr::write_volatile(base.add(i), w) };
            }
        }
    };
}

/// The stack budget painting watches: what the smallest STM32G4 (32 KiB of RAM) leaves the
/// stack beside the image's static RAM.
pub const STACK_RAM_BYTES: u32 = 32 * 1024;
/// What painting fills the unused stack with.
pub const STACK_PAINT: u32 = 0x5354_4b21;

/// The deepest use of a painted stack: `words` from the bottom of the painted window up,
/// the first that is not paint marks how far the stack has reached. Returns the bytes used of
/// the window's `window_bytes`.
pub fn stack_used(words: impl Iterator<Item = u32>, window_bytes: u32) -> u32 {
    let untouched = words.take_while(|w| *w == STACK_PAINT).count();
    #[allow(clippy::cast_possible_truncation)] // a count of words in a 32 KiB window
    let untouched_bytes = (untouched as u32).saturating_mul(4);
    window_bytes.saturating_sub(untouched_bytes)
}

/// The stack window painting watches, as addresses: the stack's top, the RAM's physical
/// start and the end of static RAM (`__sheap`). The stack may use [`STACK_RAM_BYTES`] less
/// static RAM below its top, never past static RAM (below it, as cortex-m-rt lays RAM out) or
/// the RAM's start (statics above it, as flip-link lays it out). Returns the window's lowest
/// address.
pub fn stack_window_bottom(top: usize, ram_start: usize, static_end: usize) -> usize {
    let (statics, floor) = if static_end <= top {
        (static_end.saturating_sub(ram_start), static_end)
    } else {
        (static_end.saturating_sub(top), ram_start)
    };
    let budget = (STACK_RAM_BYTES as usize).saturating_sub(statics);
    top.saturating_sub(budget).max(floor).min(top)
}

/// Defines, in a board crate, stack painting over the stack budget ([`STACK_RAM_BYTES`] less
/// the image's static RAM, below the stack's top): `paint_stack()`, called first thing at
/// boot, fills what the stack has not used yet; `stack_peak()` gives the deepest the stack
/// has reached since and the budget, in bytes. Takes the RAM's physical start (flip-link
/// moves the linker's `RAM` region above the stack); needs cortex-m-rt's `_stack_start` and
/// `__sheap` symbols and a crate that allows `unsafe`.
#[macro_export]
macro_rules! stack_painting {
    ($ram_origin:expr) => {
        unsafe extern "C" {
            static _stack_start: u32;
            static __sheap: u32;
        }

        /// The painted window: its lowest word and its length in words.
        fn stack_window() -> (*mut u32, usize) {
            let top = core::ptr::addr_of!(_stack_start) as usize;
            let bottom = $crate::supervision::stack_window_bottom(
                top,
                $ram_origin,
                core::ptr::addr_of!(__sheap) as usize,
            );
            (bottom as *mut u32, (top - bottom) / 4)
        }

        /// Paints the stack's unused part (from the window's bottom to 256 bytes below where
        /// the stack stands now).
        #[inline(never)]
        pub fn paint_stack() {
            let (bottom, _) = stack_window();
            let here = cortex_m::register::msp::read() as usize;
            let end = here.saturating_sub(256);
            let mut at = bottom;
            while (at as usize) < end {
                // SAFETY: below the live stack and above static RAM: memory no one uses yet.
                unsafe {
                    core::ptr::write_volatile(at, $crate::supervision::STACK_PAINT);
                    at = at.add(1);
                }
            }
        }

        /// The deepest the stack has reached since [`paint_stack`], and its budget, bytes.
        pub fn stack_peak() -> (u32, u32) {
            let (bottom, words) = stack_window();
            let read = (0..words).map(|i| {
                // SAFETY: inside the stack window, word-aligned.
                unsafe { core::ptr::read_volatile(bottom.add(i)) }
            });
            #[allow(clippy::cast_possible_truncation)] // at most 32 KiB
            let budget = (words * 4) as u32;
            ($crate::supervision::stack_used(read, budget), budget)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_that_misses_its_deadline_is_named_and_unwatched_tasks_never_are() {
        let mut m = TaskMonitor::new([Some(200), Some(500), None, Some(1_000)]);
        assert_eq!(
            m.late(Instant(10_000)),
            None,
            "nothing is late before the start"
        );
        m.start(Instant(0));
        m.check_in(TaskId::Control, Instant(100));
        m.check_in(TaskId::HostLink, Instant(100));
        m.check_in(TaskId::FieldIo, Instant(100));
        assert_eq!(m.late(Instant(300)), None);
        assert_eq!(m.late(Instant(301)), Some(TaskId::Control));
        m.check_in(TaskId::Control, Instant(300));
        m.check_in(TaskId::HostLink, Instant(1_000));
        m.check_in(TaskId::Control, Instant(1_100));
        assert_eq!(
            m.late(Instant(1_101)),
            Some(TaskId::FieldIo),
            "the row bus has no deadline on this board"
        );
    }

    #[test]
    fn a_task_that_never_checks_in_is_late_a_deadline_after_the_start() {
        let mut m = TaskMonitor::new([None, None, None, Some(1_000)]);
        m.start(Instant(5_000));
        assert_eq!(m.late(Instant(6_000)), None);
        assert_eq!(m.late(Instant(6_001)), Some(TaskId::FieldIo));
    }

    #[test]
    fn the_stack_used_is_what_the_paint_no_longer_covers() {
        let window = [STACK_PAINT, STACK_PAINT, 7, STACK_PAINT, 1, 2];
        assert_eq!(stack_used(window.into_iter(), 24), 16);
        assert_eq!(stack_used([STACK_PAINT; 6].into_iter(), 24), 0);
    }

    #[test]
    fn the_window_is_the_budget_below_the_top_and_never_crosses_static_ram() {
        let ram = 0x2000_0000;
        // cortex-m-rt: 9 KiB of statics, stack at the end of 4 MiB: 23 KiB below the top.
        let top = ram + 4 * 1024 * 1024;
        assert_eq!(
            stack_window_bottom(top, ram, ram + 9 * 1024),
            top - 23 * 1024
        );
        // 30 KiB of RAM in all: the window stops at static RAM.
        assert_eq!(
            stack_window_bottom(ram + 30 * 1024, ram, ram + 9 * 1024),
            ram + 9 * 1024
        );
        // flip-link: the stack below the statics, its top 16 KiB into RAM.
        assert_eq!(
            stack_window_bottom(ram + 16 * 1024, ram, ram + 25 * 1024),
            ram
        );
    }

    #[test]
    fn the_record_tells_power_on_pin_watchdog_and_fault_resets_apart() {
        // Power-on: RAM holds anything but the magic.
        let mut r = BootRecord::from_words([0xdead_beef, 3, 0, 0, 0, 0, 0]);
        assert_eq!(r.boot(None), (ResetCause::PowerOn, None, None));
        // A reset from outside while the firmware ran.
        assert_eq!(r.boot(None), (ResetCause::Pin, None, None));
        // Starving the watchdog for the field I/O, then reset.
        r.starving(Some(TaskId::FieldIo));
        assert_eq!(
            r.boot(None),
            (ResetCause::Watchdog, Some(TaskId::FieldIo), None)
        );
        // Fed again before the reset: not the watchdog.
        r.starving(Some(TaskId::HostLink));
        r.starving(None);
        assert_eq!(r.boot(None), (ResetCause::Pin, None, None));
        // A fault saved by the handler.
        let fault = FaultRecord {
            pc: 0x0800_1234,
            lr: 0x0800_0fff,
            cfsr: 0x0100,
            hfsr: 0x4000_0000,
        };
        r.save_fault(fault);
        assert_eq!(r.boot(None), (ResetCause::Fault, None, Some(fault)));
        // On a chip with reset flags, the handler's software reset reads as the fault.
        r.save_fault(fault);
        assert_eq!(
            r.boot(Some(ResetCause::Software)),
            (ResetCause::Fault, None, Some(fault))
        );
        // The chip's own flags win; a starved task is named only for a watchdog reset.
        r.starving(Some(TaskId::Control));
        assert_eq!(
            r.boot(Some(ResetCause::Watchdog)),
            (ResetCause::Watchdog, Some(TaskId::Control), None)
        );
        r.starving(Some(TaskId::Control));
        assert_eq!(
            r.boot(Some(ResetCause::BrownOut)),
            (ResetCause::BrownOut, None, None)
        );
    }
}

//! The update path the bootloader keeps for its images: `rack_node::update::Updater` over the
//! update slot and the state page lives in the bootloader's region and RAM, and the image
//! reaches it through C calls ([`UpdateAgent`]) of `rack_node::update::raw`'s types.
//!
//! The image side is [`ServicesFirmware`], the node's `Firmware` like the updater itself; the
//! bootloader side is an [`Agent`] in a static and the calls [`update_agent!`] makes over it.
//! The image calls in from its own context (its stack, its clock, its watchdog fed between
//! calls), one call at a time from the task that serves its link; the bootloader's statics
//! stay where its RAM is, which the images leave alone.
//!
//! Why here: the update path costs an image some 3 KiB of its 64 KiB slot, which the Nucleo's
//! coolant image does not have; the bootloader's 32 KiB region has room, and the update path,
//! like the signature check, is the same for every image a bootloader starts. What it costs:
//! the update path is as lasting as the bootloader, which is not updated over the link.

use core::cell::RefCell;

use rack_control::Instant;
use rack_node::update::raw::{
    BOOT_GOOD, BOOT_ROLLED_BACK, BOOT_TRIAL, HEALTH_CONFIRMED, HEALTH_NOTHING, OPEN_FAILED, RawKey,
};
pub use rack_node::update::raw::{RawConfig, RawProgress, RawRefusal, RawStatus, RawVersion};
use rack_node::update::{Firmware, UpdateConfig};
use rack_protocol::image::PUBLIC_KEY_LEN;
use rack_protocol::message::{FirmwareProgress, FirmwareStatus};
use rack_protocol::types::{EventKind, FirmwareStep, FirmwareVersion, Refusal as ProtoRefusal};

use crate::BootServices;

/// The update path's calls, in the second services table.
#[repr(C)]
pub struct UpdateAgent {
    /// Opens the update path for the image `config` describes (once per boot); how the image
    /// booted: `BOOT_GOOD`, `BOOT_TRIAL`, `BOOT_ROLLED_BACK`, or `OPEN_FAILED`.
    pub open: unsafe extern "C" fn(config: *const RawConfig) -> u32,
    /// Writes the slots' state to `out`.
    pub status: unsafe extern "C" fn(out: *mut RawStatus),
    /// Begins an update with the `len`-byte image header at `header`; on success writes the
    /// progress to `out`.
    pub begin:
        unsafe extern "C" fn(header: *const u8, len: usize, out: *mut RawProgress) -> RawRefusal,
    /// The `len` bytes at `data` at binary offset `offset`; on success writes the progress to
    /// `out`.
    pub chunk: unsafe extern "C" fn(
        offset: u32,
        data: *const u8,
        len: usize,
        out: *mut RawProgress,
    ) -> RawRefusal,
    /// Marks the verified image to be swapped in at the next reset; on success writes its
    /// version to `out`.
    pub swap: unsafe extern "C" fn(out: *mut RawVersion) -> RawRefusal,
    /// 1 when the board should reset now (a swap was asked for, or a trial ran out).
    pub reset_due: unsafe extern "C" fn(uptime_ms: u64) -> u32,
    /// The control loop's health (1 healthy) at `now_ms`: `HEALTH_CONFIRMED` when the image
    /// on trial has just marked itself good.
    pub health: unsafe extern "C" fn(now_ms: u64, healthy: u32) -> u32,
    /// 1 when this boot is a swap the image before asked for (its version written to `out`,
    /// once: see [`carry`]), else 0.
    pub carried: unsafe extern "C" fn(out: *mut RawVersion) -> u32,
}

/// The update the agent carries across the reset its swap asks for, for the image the
/// bootloader starts next: the image before logged its verification and the swap just before
/// the reset, in a log in its RAM that the reset loses. Kept in the bootloader's RAM that no
/// startup clears (`.uninit`), whose address is the bootloader's, which is not updated: the
/// image that reads it is another build than the one that asked.
#[unsafe(link_section = ".uninit.rackloop_carried")]
static mut CARRIED: core::mem::MaybeUninit<[u32; 2]> = core::mem::MaybeUninit::uninit();

/// Marks a carried swap (RAM after power-on holds anything: believed only with it).
const CARRIED_MAGIC: u32 = 0x5041_5753;

/// Carries `version` (the swap just asked for) to the next boot.
fn carry(version: RawVersion) {
    let base = core::ptr::addr_of_mut!(CARRIED).cast::<u32>();
    // SAFETY: two words inside the static, each written whole (every bit pattern is a u32);
    // the one caller at a time is the image's task that serves the link.
    unsafe {
        core::ptr::write_volatile(base.add(1), version.packed());
        core::ptr::write_volatile(base, CARRIED_MAGIC);
    }
}

/// The version a swap carried to this boot, once (the record is cleared).
fn take_carried() -> Option<RawVersion> {
    let base = core::ptr::addr_of_mut!(CARRIED).cast::<u32>();
    // SAFETY: as in `carry`.
    unsafe {
        let magic = core::ptr::read_volatile(base);
        let version = core::ptr::read_volatile(base.add(1));
        core::ptr::write_volatile(base, 0);
        (magic == CARRIED_MAGIC).then_some(RawVersion::unpacked(version))
    }
}

/// [`UpdateAgent::carried`], the same on every board.
///
/// # Safety
/// `out` must be writable.
pub unsafe extern "C" fn carried(out: *mut RawVersion) -> u32 {
    match take_carried() {
        Some(version) => {
            // SAFETY: the caller's pointer.
            unsafe { out.write(version) };
            1
        }
        None => 0,
    }
}

/// The most image keys the bootloader keeps for an image (more are left out).
pub const MAX_KEYS: usize = 8;

/// The image's side: its node's update path, kept by the bootloader.
pub struct ServicesFirmware {
    agent: &'static UpdateAgent,
    running: FirmwareVersion,
}

impl ServicesFirmware {
    /// Opens the update path the bootloader keeps, for this image (`config`), and says how it
    /// booted, as the events to log in order: the image verified and the swap to it, when the
    /// image before asked for this boot's swap (carried by the bootloader across the reset),
    /// then on trial, or put back. `None` when the bootloader keeps no update path (a
    /// first-table bootloader) or could not open it.
    pub fn open(
        services: &'static BootServices,
        config: &UpdateConfig,
    ) -> Option<(Self, [Option<EventKind>; 3])> {
        let agent = services.update()?;
        let keys: heapless::Vec<RawKey, MAX_KEYS> = config
            .keys
            .iter()
            .take(MAX_KEYS)
            .map(|&(id, key)| RawKey { id, key })
            .collect();
        let raw = RawConfig::new(config, &keys);
        // SAFETY: `raw` and the keys it points at live through the call, which reads them.
        let booted = unsafe { (agent.open)(&raw) };
        let step = match booted {
            BOOT_GOOD => None,
            BOOT_TRIAL => Some(FirmwareStep::Trial),
            BOOT_ROLLED_BACK => Some(FirmwareStep::RolledBack),
            _ => return None,
        };
        let event = |step, version| EventKind::Firmware { step, version };
        let mut swapped_to = RawVersion::default();
        // SAFETY: `swapped_to` is writable for the call.
        let swapped = unsafe { (agent.carried)(&mut swapped_to) } == 1;
        let swapped_to = FirmwareVersion::from(swapped_to);
        let events = [
            swapped.then(|| event(FirmwareStep::Verified, swapped_to)),
            swapped.then(|| event(FirmwareStep::Swapping, swapped_to)),
            step.map(|step| event(step, config.running)),
        ];
        Some((
            Self {
                agent,
                running: config.running,
            },
            events,
        ))
    }
}

impl Firmware for ServicesFirmware {
    fn status(&mut self) -> FirmwareStatus {
        let mut out = RawStatus::default();
        // SAFETY: `out` is writable for the call.
        unsafe { (self.agent.status)(&mut out) };
        out.into()
    }

    fn begin(&mut self, header: &[u8]) -> Result<FirmwareProgress, ProtoRefusal> {
        let mut out = RawProgress::default();
        // SAFETY: `header` is readable and `out` writable for the call.
        let r = unsafe { (self.agent.begin)(header.as_ptr(), header.len(), &mut out) };
        r.result().map(|()| out.into())
    }

    fn chunk(&mut self, offset: u32, data: &[u8]) -> Result<FirmwareProgress, ProtoRefusal> {
        let mut out = RawProgress::default();
        // SAFETY: `data` is readable and `out` writable for the call.
        let r = unsafe { (self.agent.chunk)(offset, data.as_ptr(), data.len(), &mut out) };
        r.result().map(|()| out.into())
    }

    fn swap(&mut self) -> Result<FirmwareVersion, ProtoRefusal> {
        let mut out = RawVersion::default();
        // SAFETY: `out` is writable for the call.
        let r = unsafe { (self.agent.swap)(&mut out) };
        r.result().map(|()| out.into())
    }

    fn reset_due(&self, uptime_ms: u64) -> bool {
        // SAFETY: integers only.
        unsafe { (self.agent.reset_due)(uptime_ms) == 1 }
    }

    fn health(&mut self, now: Instant, healthy: bool) -> Option<EventKind> {
        // SAFETY: integers only.
        let said = unsafe { (self.agent.health)(now.0, u32::from(healthy)) };
        (said == HEALTH_CONFIRMED).then_some(EventKind::Firmware {
            step: FirmwareStep::Confirmed,
            version: self.running,
        })
    }
}

/// The bootloader's side: the update path `U` (the board's `Updater`), made when the image
/// opens it.
pub struct Agent<U> {
    updater: critical_section::Mutex<RefCell<Option<U>>>,
    keys: static_cell::StaticCell<heapless::Vec<(u8, [u8; PUBLIC_KEY_LEN]), MAX_KEYS>>,
}

impl<U> Default for Agent<U> {
    fn default() -> Self {
        Self::new()
    }
}

impl<U> Agent<U> {
    /// No update path until the image opens it.
    pub const fn new() -> Self {
        Self {
            updater: critical_section::Mutex::new(RefCell::new(None)),
            keys: static_cell::StaticCell::new(),
        }
    }
}

/// What the agent answers when it has no update path (not opened, or busy).
fn unavailable() -> RawRefusal {
    RawRefusal::from(ProtoRefusal::NotSupported)
}

impl<U: Firmware> Agent<U> {
    /// [`UpdateAgent::open`], with the board's `make` (the updater over its flash for a
    /// configuration, and how the image booted; `None` without its flash).
    ///
    /// # Safety
    /// `config` must point at a readable `RawConfig` whose `keys` point at `key_count`
    /// readable keys.
    pub unsafe fn open(
        &'static self,
        config: *const RawConfig,
        make: impl FnOnce(UpdateConfig) -> Option<(U, Option<EventKind>)>,
    ) -> u32 {
        // SAFETY: the caller's pointer, as this function's contract says.
        let raw = unsafe { &*config };
        // SAFETY: likewise its keys.
        let given = unsafe { core::slice::from_raw_parts(raw.keys, raw.key_count as usize) };
        // Opened once per boot: the keys are kept for the updater's lifetime.
        let Some(keys) = self
            .keys
            .try_init(given.iter().take(MAX_KEYS).map(|k| (k.id, k.key)).collect())
        else {
            return OPEN_FAILED;
        };
        let Some(config) = raw.config(keys.as_slice()) else {
            return OPEN_FAILED;
        };
        let Some((updater, event)) = make(config) else {
            return OPEN_FAILED;
        };
        let booted = match event {
            Some(EventKind::Firmware {
                step: FirmwareStep::Trial,
                ..
            }) => BOOT_TRIAL,
            Some(EventKind::Firmware {
                step: FirmwareStep::RolledBack,
                ..
            }) => BOOT_ROLLED_BACK,
            _ => BOOT_GOOD,
        };
        critical_section::with(|cs| {
            if let Ok(mut slot) = self.updater.borrow(cs).try_borrow_mut() {
                *slot = Some(updater);
                booted
            } else {
                OPEN_FAILED
            }
        })
    }

    /// The update path, if open and free.
    fn with<R>(&self, f: impl FnOnce(&mut U) -> R) -> Option<R> {
        critical_section::with(|cs| {
            let mut slot = self.updater.borrow(cs).try_borrow_mut().ok()?;
            slot.as_mut().map(f)
        })
    }

    /// [`UpdateAgent::status`].
    ///
    /// # Safety
    /// `out` must be writable.
    pub unsafe fn status(&self, out: *mut RawStatus) {
        let status = self
            .with(|u| RawStatus::from(&u.status()))
            .unwrap_or_default();
        // SAFETY: the caller's pointer.
        unsafe { out.write(status) };
    }

    /// [`UpdateAgent::begin`].
    ///
    /// # Safety
    /// `header` must point at `len` readable bytes and `out` be writable.
    pub unsafe fn begin(&self, header: *const u8, len: usize, out: *mut RawProgress) -> RawRefusal {
        // SAFETY: the caller's pointer and length.
        let header = unsafe { core::slice::from_raw_parts(header, len) };
        // SAFETY: the caller's pointer.
        unsafe { progress(self.with(|u| u.begin(header)), out) }
    }

    /// [`UpdateAgent::chunk`].
    ///
    /// # Safety
    /// `data` must point at `len` readable bytes and `out` be writable.
    pub unsafe fn chunk(
        &self,
        offset: u32,
        data: *const u8,
        len: usize,
        out: *mut RawProgress,
    ) -> RawRefusal {
        // SAFETY: the caller's pointer and length.
        let data = unsafe { core::slice::from_raw_parts(data, len) };
        // SAFETY: the caller's pointer.
        unsafe { progress(self.with(|u| u.chunk(offset, data)), out) }
    }

    /// [`UpdateAgent::swap`].
    ///
    /// # Safety
    /// `out` must be writable.
    pub unsafe fn swap(&self, out: *mut RawVersion) -> RawRefusal {
        match self.with(Firmware::swap) {
            Some(Ok(version)) => {
                carry(version.into());
                // SAFETY: the caller's pointer.
                unsafe { out.write(version.into()) };
                RawRefusal::NONE
            }
            Some(Err(e)) => e.into(),
            None => unavailable(),
        }
    }

    /// [`UpdateAgent::reset_due`].
    pub fn reset_due(&self, uptime_ms: u64) -> u32 {
        u32::from(self.with(|u| u.reset_due(uptime_ms)).unwrap_or(false))
    }

    /// [`UpdateAgent::health`].
    pub fn health(&self, now_ms: u64, healthy: u32) -> u32 {
        match self.with(|u| u.health(Instant(now_ms), healthy == 1)) {
            Some(Some(_)) => HEALTH_CONFIRMED,
            _ => HEALTH_NOTHING,
        }
    }
}

/// Writes a begin's or chunk's progress to `out` and returns the outcome.
///
/// # Safety
/// `out` must be writable.
unsafe fn progress(
    done: Option<Result<FirmwareProgress, ProtoRefusal>>,
    out: *mut RawProgress,
) -> RawRefusal {
    match done {
        Some(Ok(p)) => {
            // SAFETY: the caller's pointer.
            unsafe { out.write(p.into()) };
            RawRefusal::NONE
        }
        Some(Err(e)) => e.into(),
        None => unavailable(),
    }
}

/// The bootloader's [`UpdateAgent`] over its `static` [`Agent`] `$agent`, whose update path
/// `$make` makes (`fn(UpdateConfig) -> Option<(U, Option<EventKind>)>`): the C calls, for
/// its [`crate::BootServicesV2`].
#[macro_export]
macro_rules! update_agent {
    ($agent:path, $make:path) => {{
        unsafe extern "C" fn open(config: *const $crate::update::RawConfig) -> u32 {
            // SAFETY: the image keeps `UpdateAgent::open`'s contract.
            unsafe { $agent.open(config, $make) }
        }
        unsafe extern "C" fn status(out: *mut $crate::update::RawStatus) {
            // SAFETY: the image keeps `UpdateAgent::status`'s contract.
            unsafe { $agent.status(out) }
        }
        unsafe extern "C" fn begin(
            header: *const u8,
            len: usize,
            out: *mut $crate::update::RawProgress,
        ) -> $crate::update::RawRefusal {
            // SAFETY: the image keeps `UpdateAgent::begin`'s contract.
            unsafe { $agent.begin(header, len, out) }
        }
        unsafe extern "C" fn chunk(
            offset: u32,
            data: *const u8,
            len: usize,
            out: *mut $crate::update::RawProgress,
        ) -> $crate::update::RawRefusal {
            // SAFETY: the image keeps `UpdateAgent::chunk`'s contract.
            unsafe { $agent.chunk(offset, data, len, out) }
        }
        unsafe extern "C" fn swap(
            out: *mut $crate::update::RawVersion,
        ) -> $crate::update::RawRefusal {
            // SAFETY: the image keeps `UpdateAgent::swap`'s contract.
            unsafe { $agent.swap(out) }
        }
        extern "C" fn reset_due(uptime_ms: u64) -> u32 {
            $agent.reset_due(uptime_ms)
        }
        extern "C" fn health(now_ms: u64, healthy: u32) -> u32 {
            $agent.health(now_ms, healthy)
        }
        $crate::update::UpdateAgent {
            open,
            status,
            begin,
            chunk,
            swap,
            reset_due,
            health,
            carried: $crate::update::carried,
        }
    }};
}

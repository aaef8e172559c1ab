//! How long a swapped-in image is on trial, as a build sets it (`RACKLOOP_CONFIRM_AFTER_S`,
//! `RACKLOOP_TRIAL_LIMIT_S`): read by the crate's build script, which compiles the times into
//! [`crate::update::CONFIRM_AFTER_S`] and [`crate::update::TRIAL_LIMIT_S`], and tested here.
//!
//! A release engineer who knows how long a row's control loop needs to prove an image (a slow
//! valve, a long warm-up) builds the image with a longer trial; the image carries its own.

/// Control-loop seconds on trial before an image marks itself good, unless the build says.
pub const DEFAULT_CONFIRM_AFTER_S: u16 = 30;
/// The shortest and longest confirm times a build may set, s: at least 50 control steps, at
/// most an hour.
pub const CONFIRM_AFTER_RANGE: (u16, u16) = (5, 3600);
/// Seconds between the confirm time and the trial limit, at least (the boot and a reconnect).
pub const TRIAL_MARGIN_S: u32 = 30;
/// The longest trial limit a build may set, s.
pub const TRIAL_LIMIT_MAX_S: u32 = 7200;

/// What is wrong with a build's trial times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrialError {
    /// Not a whole number of seconds.
    NotSeconds,
    /// The confirm time outside [`CONFIRM_AFTER_RANGE`].
    ConfirmOutOfRange(u32),
    /// A trial limit that leaves less than [`TRIAL_MARGIN_S`] after the confirm time, or above
    /// [`TRIAL_LIMIT_MAX_S`].
    LimitOutOfRange {
        /// The limit asked for.
        limit: u32,
        /// The confirm time in force.
        confirm: u16,
    },
}

impl core::fmt::Display for TrialError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (lo, hi) = CONFIRM_AFTER_RANGE;
        match self {
            TrialError::NotSeconds => write!(f, "a whole number of seconds expected"),
            TrialError::ConfirmOutOfRange(s) => {
                write!(f, "confirm time {s} s: {lo} to {hi} s allowed")
            }
            TrialError::LimitOutOfRange { limit, confirm } => write!(
                f,
                "trial limit {limit} s: {} to {TRIAL_LIMIT_MAX_S} s allowed with a confirm time of {confirm} s",
                u32::from(*confirm) + TRIAL_MARGIN_S
            ),
        }
    }
}

/// The confirm time and the trial limit from a build's settings (`None`: not set): the confirm
/// time defaults to [`DEFAULT_CONFIRM_AFTER_S`], the limit to 90 s or the confirm time and a
/// minute, whichever is longer.
pub fn trial_times(confirm: Option<&str>, limit: Option<&str>) -> Result<(u16, u32), TrialError> {
    let seconds = |text: &str| {
        text.trim()
            .parse::<u32>()
            .map_err(|_| TrialError::NotSeconds)
    };
    let confirm = match confirm {
        None => DEFAULT_CONFIRM_AFTER_S,
        Some(text) => {
            let s = seconds(text)?;
            let (lo, hi) = CONFIRM_AFTER_RANGE;
            u16::try_from(s)
                .ok()
                .filter(|s| (lo..=hi).contains(s))
                .ok_or(TrialError::ConfirmOutOfRange(s))?
        }
    };
    let limit = match limit {
        None => (u32::from(confirm) + 60).max(90),
        Some(text) => {
            let limit = seconds(text)?;
            if limit < u32::from(confirm) + TRIAL_MARGIN_S || limit > TRIAL_LIMIT_MAX_S {
                return Err(TrialError::LimitOutOfRange { limit, confirm });
            }
            limit
        }
    };
    Ok((confirm, limit))
}

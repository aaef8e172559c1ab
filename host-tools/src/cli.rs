//! The command line: every command, flag and its help, as clap derives them.

use clap::{Parser, Subcommand, ValueEnum};

/// rackctl: read and set rackloop controllers (coolant distribution units and rack power
/// controllers) over a serial port or TCP.
///
/// The device is `--connect HOST:PORT` (the simulator: `racksim serve`, port 7700 is the CDU,
/// 7701.. the racks) or `--port /dev/ttyACM0` (a board). Without either, `RACKCTL_CONNECT` or
/// `RACKCTL_PORT`, then `connect`/`port`/`baud` in `~/.config/rackctl/config.toml` are used.
#[derive(Debug, Parser)]
#[command(name = "rackctl", version, about, long_about)]
pub(crate) struct Cli {
    /// The device on TCP, HOST:PORT.
    #[arg(long, global = true, value_name = "HOST:PORT", conflicts_with = "port")]
    pub(crate) connect: Option<String>,
    /// The device on a serial port.
    #[arg(long, global = true, value_name = "DEVICE")]
    pub(crate) port: Option<String>,
    /// Serial baud rate.
    #[arg(long, global = true, default_value_t = 115_200)]
    pub(crate) baud: u32,
    /// How long to wait for each answer, ms.
    #[arg(long, global = true, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub(crate) timeout: u64,
    /// Extra attempts when an answer does not come.
    #[arg(long, global = true, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub(crate) retries: u32,
    /// Print JSON (for scripts) instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Cmd,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// List serial ports and the devices answering on them or on TCP ports.
    Discover {
        /// TCP ports to probe on --host, e.g. 7700-7708.
        #[arg(long, default_value = "7700-7708")]
        tcp: String,
        /// Host for the TCP probe.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
    },
    /// One screen: identity, key readings, state and active alarms.
    Status,
    /// Live readings, updated in place; survives a device restart and shows what it missed.
    Watch {
        /// Seconds between updates.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many updates (default: until interrupted).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Read a setting: supply-temp, lead-rotation, leak-delay (a CDU); power-cap, ramp-limit,
    /// power-floor, ride-through (a rack).
    Get {
        /// The setting.
        name: String,
    },
    /// Change a setting, with its unit: `set supply-temp 32C`, `set power-cap 120kW`.
    Set {
        /// The setting.
        name: String,
        /// The value, with or without its unit.
        value: String,
    },
    /// Set a mode: auto, standby; for a CDU also dp or flow (what the pumps hold).
    Mode {
        /// The mode.
        mode: ModeArg,
    },
    /// The active and latched alarms.
    Alarms,
    /// Acknowledge an alarm (`ack pump-fault 0`) or all of them (`ack --all`).
    Ack {
        /// The alarm, e.g. pump-fault, leak-detected, sensor-fault.
        code: Option<String>,
        /// Which pump, rack, sensor or tray.
        #[arg(default_value_t = 0)]
        instance: u8,
        /// Acknowledge every alarm.
        #[arg(long, conflicts_with = "code")]
        all: bool,
    },
    /// The event log from a sequence number: every event once, and how many were lost.
    Log {
        /// First sequence number (1: everything the device holds).
        #[arg(long, default_value_t = 1)]
        since: u32,
    },
    /// Pumps of a CDU.
    Pump {
        #[command(subcommand)]
        action: PumpCmd,
    },
    /// Trays of a rack.
    Tray {
        #[command(subcommand)]
        action: TrayCmd,
    },
    /// Racks of a row (CDU).
    Rack {
        #[command(subcommand)]
        action: RackCmd,
    },
    /// Clear latched alarms whose condition has gone.
    ClearLatched,
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ModeArg {
    Auto,
    Standby,
    Dp,
    Flow,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PumpCmd {
    /// Make this pump the lead.
    Lead {
        /// Pump number.
        pump: u8,
    },
    /// Rotate the lead to the next pump.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TrayCmd {
    /// Power a tray on.
    Enable {
        /// Tray number.
        tray: u8,
    },
    /// Power a tray off.
    Disable {
        /// Tray number.
        tray: u8,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RackCmd {
    /// Reopen a rack isolated for a leak (refused while it is wet).
    Restore {
        /// Rack number.
        rack: u8,
    },
}

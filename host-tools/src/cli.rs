//! The command line: every command, flag and its help, as clap derives them.

use clap::{Parser, Subcommand, ValueEnum};

/// rackctl: read and set rackloop controllers (coolant distribution units and rack power
/// controllers) over a serial port or TCP.
///
/// The device is `--connect HOST:PORT` (the simulator: `racksim serve`, port 7700 is the CDU,
/// 7701.. the racks) or `--port /dev/ttyACM0` (a board). Without either, `RACKCTL_CONNECT` or
/// `RACKCTL_PORT`, then `connect`/`port`/`baud` in `~/.config/rackctl/config.toml` are used.
///
/// Changes (settings, acknowledgements, modes, commands) are signed with a key the device
/// holds: `--key-file FILE` (lines of `ID ROLE SECRET`, as `racksim serve --keys` writes),
/// `RACKCTL_KEY="ID ROLE SECRET"`, `RACKCTL_KEY_FILE`, or `key` / `key_file` in the
/// configuration file; a file holding a key must be readable by its owner only. Setpoints and
/// acknowledgements need an operator key; modes, pumps, trays, racks and clear-latched a
/// maintenance key. Reads need no key.
#[derive(Debug, Parser)]
#[command(name = "rackctl", version, about, long_about)]
pub(crate) struct Cli {
    /// The device on TCP, HOST:PORT.
    #[arg(long, global = true, value_name = "HOST:PORT", conflicts_with = "port", value_parser = parse_host_port)]
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
    /// Keys to sign changes with: lines of `ID ROLE SECRET`; readable by its owner only.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) key_file: Option<std::path::PathBuf>,
    /// Which key of the key file (default: the one with the highest role).
    #[arg(long, global = true, value_name = "ID")]
    pub(crate) key_id: Option<u16>,
    /// Do not ask before a command that stops cooling or power (needed when not on a
    /// terminal).
    #[arg(long, global = true)]
    pub(crate) yes: bool,
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
    ///
    /// The settings, their units and the ranges the devices allow (`get NAME` reads the value
    /// in force and the range of that device):
    ///
    ///   supply-temp    C          a CDU's secondary supply temperature, 10C ..= 35C
    ///   lead-rotation  s, min, h, d   a CDU's lead pump rotation interval, 1h ..= 30d
    ///   leak-delay     s, min     a CDU's wait before it isolates a wet rack, 0s ..= 300s
    ///   power-cap      W, kW      a rack's input power budget, up to its breaker's rating
    ///   ramp-limit     W/s, kW/s  a rack's input power ramp limit, 100W/s ..= 100kW/s
    ///   power-floor    W, kW      a rack's smoothing floor, 0W ..= its power cap
    ///   ride-through   s, min     a rack's battery ride-through, 10s ..= 1800s
    ///
    /// Numbers may have a fraction or an exponent (`31.5C`, `1.2e5W`) and a sign (`-5C`).
    /// Needs an operator key.
    #[command(verbatim_doc_comment)]
    Set {
        /// The setting (see above).
        name: String,
        /// The value, with or without its unit.
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Set a mode: auto, standby; for a CDU also dp or flow (what the pumps hold). Standby
    /// stops a CDU's pumps: asks first (or needs --yes). Needs a maintenance key.
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
    /// The device's firmware: its slots, and updates over this link.
    Firmware {
        #[command(subcommand)]
        action: FirmwareCmd,
    },
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
pub(crate) enum FirmwareCmd {
    /// Both slots: the running image (its version, and whether it is confirmed, on trial
    /// after an update, or back after a failed one) and what the update slot holds.
    Status,
    /// Streams a signed image (`IMAGE.rlfw`, from `cargo xtask firmware --sign KEY`) into the
    /// device's update slot, in order, with a progress bar; resumes where the device says after
    /// a dropped link or a lost chunk; the device checks the image's signature as it lies in
    /// its flash; then asks the device to swap to it: the device resets into its bootloader and
    /// the new image runs on trial until its control loop has run healthy long enough, else
    /// the previous one comes back at the next reset. Needs a maintenance key.
    Update {
        /// The signed image.
        image: std::path::PathBuf,
        /// Stream and verify only: leave the verified image in the update slot.
        #[arg(long)]
        no_swap: bool,
        /// How long to keep trying to reach the device again after the link drops, s.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        reconnect_s: u64,
    },
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

/// `--connect`'s value: HOST:PORT with a port 1 ..= 65535 (IPv6 as `[::1]:7700`).
fn parse_host_port(text: &str) -> Result<String, String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("`{text}` has no port: use HOST:PORT, e.g. 127.0.0.1:7700"))?;
    if host.is_empty() {
        return Err(format!(
            "`{text}` has no host: use HOST:PORT, e.g. 127.0.0.1:7700"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(text.to_owned()),
        _ => Err(format!(
            "`{port}` is not a port: use 1 ..= 65535, e.g. 127.0.0.1:7700"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn connect_needs_a_host_and_a_port() {
        assert!(parse_host_port("127.0.0.1:7700").is_ok());
        assert!(parse_host_port("[::1]:7700").is_ok());
        for bad in ["localhost", "localhost:", ":7700", "host:0", "host:70000"] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn set_help_lists_every_setting() {
        let mut cli = Cli::command();
        let set = cli
            .find_subcommand_mut("set")
            .map(|c| c.render_long_help().to_string());
        let help = set.unwrap_or_default();
        for named in crate::units::SETPOINTS {
            assert!(
                help.contains(named.name),
                "{} missing from:\n{help}",
                named.name
            );
        }
    }
}

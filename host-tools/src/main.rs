//! `rackctl`: talk to rackloop controllers: a board on a serial port, the firmware in QEMU, or
//! the simulator (`racksim serve`).
//!
//! Exit codes: 0 done; 1 the device refused (its reason and the allowed range are printed);
//! 2 bad usage or input; 3 no answer within the timeout; 4 the device could not be reached.
#![allow(clippy::print_stdout)] // a command-line tool prints

mod link;
mod units;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use link::{Link, LinkError, Target};
use rack_protocol::Message;
use rack_protocol::message::{
    AckAlarm, AckAllAlarms, Command, GetAlarms, GetEvents, GetIdentity, GetSetpoint, GetTelemetry,
    SetMode, SetSetpoint,
};
use rack_protocol::types::{
    Action, AlarmCode, ModeSetting, OperatingMode, PumpControlMode, Refusal,
};
use serde_json::{Value, json};

/// rackctl: read and set rackloop controllers (coolant distribution units and rack power
/// controllers) over a serial port or TCP.
///
/// The device is `--connect HOST:PORT` (the simulator: `racksim serve`, port 7700 is the CDU,
/// 7701.. the racks) or `--port /dev/ttyACM0` (a board). Without either, `RACKCTL_CONNECT` or
/// `RACKCTL_PORT`, then `connect`/`port`/`baud` in `~/.config/rackctl/config.toml` are used.
#[derive(Debug, Parser)]
#[command(name = "rackctl", version, about, long_about)]
struct Cli {
    /// The device on TCP, HOST:PORT.
    #[arg(long, global = true, value_name = "HOST:PORT", conflicts_with = "port")]
    connect: Option<String>,
    /// The device on a serial port.
    #[arg(long, global = true, value_name = "DEVICE")]
    port: Option<String>,
    /// Serial baud rate.
    #[arg(long, global = true, default_value_t = 115_200)]
    baud: u32,
    /// How long to wait for each answer, ms.
    #[arg(long, global = true, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    timeout: u64,
    /// Extra attempts when an answer does not come.
    #[arg(long, global = true, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10))]
    retries: u32,
    /// Print JSON (for scripts) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
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
enum ModeArg {
    Auto,
    Standby,
    Dp,
    Flow,
}

#[derive(Debug, Subcommand)]
enum PumpCmd {
    /// Make this pump the lead.
    Lead {
        /// Pump number.
        pump: u8,
    },
    /// Rotate the lead to the next pump.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum TrayCmd {
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
enum RackCmd {
    /// Reopen a rack isolated for a leak (refused while it is wet).
    Restore {
        /// Rack number.
        rack: u8,
    },
}

/// Why a command failed, and its exit code.
enum Failure {
    Refused(String),
    Usage(String),
    Link(LinkError),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Refused(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Link(LinkError::Connect(_)) => 4,
            Failure::Link(_) => 3,
        }
    }
}

impl From<LinkError> for Failure {
    fn from(e: LinkError) -> Self {
        Failure::Link(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let text = match &f {
                Failure::Refused(t) | Failure::Usage(t) => t.clone(),
                Failure::Link(e) => e.to_string(),
            };
            // A refusal has printed its own JSON (with the device's reason and range).
            if cli.json && !matches!(f, Failure::Refused(_)) {
                println!("{}", json!({ "error": text, "exit_code": f.code() }));
            }
            eprintln!("rackctl: {text}");
            ExitCode::from(f.code())
        }
    }
}

fn target(cli: &Cli) -> Result<Target, Failure> {
    if let Some(c) = &cli.connect {
        return Ok(Target::Tcp(c.clone()));
    }
    if let Some(p) = &cli.port {
        return Ok(Target::Serial(p.clone(), cli.baud));
    }
    if let Ok(c) = std::env::var("RACKCTL_CONNECT") {
        return Ok(Target::Tcp(c));
    }
    if let Ok(p) = std::env::var("RACKCTL_PORT") {
        let baud = std::env::var("RACKCTL_BAUD")
            .ok()
            .and_then(|b| b.parse().ok())
            .unwrap_or(cli.baud);
        return Ok(Target::Serial(p, baud));
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let path = std::path::Path::new(&home).join(".config/rackctl/config.toml");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let v: toml::Table = toml::from_str(&text)
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        if let Some(c) = v.get("connect").and_then(toml::Value::as_str) {
            return Ok(Target::Tcp(c.to_owned()));
        }
        if let Some(p) = v.get("port").and_then(toml::Value::as_str) {
            let baud = v
                .get("baud")
                .and_then(toml::Value::as_integer)
                .and_then(|b| u32::try_from(b).ok());
            return Ok(Target::Serial(p.to_owned(), baud.unwrap_or(cli.baud)));
        }
    }
    Err(Failure::Usage(
        "no device given: use --connect HOST:PORT or --port DEVICE (or RACKCTL_CONNECT / RACKCTL_PORT)".into(),
    ))
}

fn open(cli: &Cli) -> Result<Link, Failure> {
    Ok(Link::open(
        &target(cli)?,
        Duration::from_millis(cli.timeout),
        cli.retries,
    )?)
}

fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Cmd::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "rackctl",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Cmd::Discover { tcp, host } => discover(cli, tcp, host),
        Cmd::Status => status(cli, &mut open(cli)?),
        Cmd::Watch { interval, count } => watch(cli, *interval, *count),
        Cmd::Get { name } => {
            let named = units::lookup(name).map_err(Failure::Usage)?;
            let answer = open(cli)?.request(&Message::GetSetpoint(GetSetpoint { id: named.id }))?;
            show_setpoint(cli, named, &answer)
        }
        Cmd::Set { name, value } => {
            let named = units::lookup(name).map_err(Failure::Usage)?;
            let raw = units::parse(named, value).map_err(Failure::Usage)?;
            let answer = open(cli)?.request(&Message::SetSetpoint(SetSetpoint {
                id: named.id,
                value: raw,
            }))?;
            if let Message::Refused(r) = &answer {
                return Err(refused(
                    cli,
                    &format!("{name} {value}"),
                    r.reason,
                    Some(named),
                ));
            }
            show_setpoint(cli, named, &answer)
        }
        Cmd::Mode { mode } => {
            let mode = match mode {
                ModeArg::Auto => ModeSetting::Operating(OperatingMode::Auto),
                ModeArg::Standby => ModeSetting::Operating(OperatingMode::Standby),
                ModeArg::Dp => ModeSetting::PumpControl(PumpControlMode::DifferentialPressure),
                ModeArg::Flow => ModeSetting::PumpControl(PumpControlMode::Flow),
            };
            simple(cli, &Message::SetMode(SetMode { mode }), "mode")
        }
        Cmd::Alarms => {
            let answer = open(cli)?.request(&Message::GetAlarms(GetAlarms))?;
            let Message::Alarms(a) = &answer else {
                return Err(unexpected(&answer));
            };
            if cli.json {
                println!(
                    "{}",
                    json!({ "alarms": to_json(&a.entries), "total": a.total })
                );
            } else if a.entries.is_empty() {
                println!("no alarms");
            } else {
                for e in &a.entries {
                    println!(
                        "{:<8} {:<22} instance {:<3} {}{} raised at {:.1} s",
                        format!("{:?}", e.severity),
                        kebab(&format!("{:?}", e.code)),
                        e.instance,
                        if e.active { "active" } else { "cleared" },
                        if e.acknowledged { ", acknowledged" } else { "" },
                        e.raised_at_ms as f64 / 1000.0
                    );
                }
            }
            Ok(())
        }
        Cmd::Ack {
            code,
            instance,
            all,
        } => {
            let message = if *all {
                Message::AckAllAlarms(AckAllAlarms)
            } else {
                let code = code.as_deref().ok_or_else(|| {
                    Failure::Usage("name an alarm (e.g. `ack pump-fault 0`) or use --all".into())
                })?;
                Message::AckAlarm(AckAlarm {
                    code: alarm_code(code)?,
                    instance: *instance,
                })
            };
            simple(cli, &message, "acknowledgement")
        }
        Cmd::Log { since } => log(cli, &mut open(cli)?, *since),
        Cmd::Pump { action } => {
            let action = match action {
                PumpCmd::Lead { pump } => Action::SetLeadPump(*pump),
                PumpCmd::Rotate => Action::RotateLead,
            };
            simple(cli, &Message::Command(Command { action }), "pump command")
        }
        Cmd::Tray { action } => {
            let action = match action {
                TrayCmd::Enable { tray } => Action::EnableTray(*tray),
                TrayCmd::Disable { tray } => Action::DisableTray(*tray),
            };
            simple(cli, &Message::Command(Command { action }), "tray command")
        }
        Cmd::Rack {
            action: RackCmd::Restore { rack },
        } => simple(
            cli,
            &Message::Command(Command {
                action: Action::RestoreRack(*rack),
            }),
            "rack restore",
        ),
        Cmd::ClearLatched => simple(
            cli,
            &Message::Command(Command {
                action: Action::ClearLatched,
            }),
            "clear",
        ),
    }
}

/// Sends a request whose answer is Ack or Refused.
fn simple(cli: &Cli, message: &Message, what: &str) -> Result<(), Failure> {
    match open(cli)?.request(message)? {
        Message::Ack(_) => {
            if cli.json {
                println!("{}", json!({ "ok": true }));
            } else {
                println!("ok");
            }
            Ok(())
        }
        Message::Refused(r) => Err(refused(cli, what, r.reason, None)),
        other => Err(unexpected(&other)),
    }
}

fn refused(cli: &Cli, what: &str, reason: Refusal, named: Option<&units::Named>) -> Failure {
    let text = match (reason, named) {
        (Refusal::OutOfRange { min, max }, Some(n)) => {
            format!(
                "refused: {what} is out of range; allowed {} ..= {}",
                units::display(n, min),
                units::display(n, max)
            )
        }
        (Refusal::OutOfRange { min, max }, None) => {
            format!("refused: {what} is out of range; allowed {min} ..= {max}")
        }
        (Refusal::WrongMode { current }, _) => {
            format!("refused: {what} needs another mode (the device is in {current:?})")
        }
        (Refusal::NotPermitted, _) => format!("refused: {what} is not permitted now"),
        (Refusal::NotSupported, _) => format!("refused: this device does not support {what}"),
        (Refusal::NoSuchInstance { count }, _) => format!(
            "refused: no such instance; this device has {count} (0..={})",
            count.saturating_sub(1)
        ),
    };
    if cli.json {
        println!(
            "{}",
            json!({ "refused": to_json(&reason), "message": text })
        );
    }
    Failure::Refused(text)
}

fn unexpected(m: &Message) -> Failure {
    Failure::Link(LinkError::Io(std::io::Error::other(format!(
        "unexpected answer {:?}",
        m.kind()
    ))))
}

fn show_setpoint(cli: &Cli, named: &units::Named, answer: &Message) -> Result<(), Failure> {
    match answer {
        Message::Setpoint(s) => {
            if cli.json {
                println!(
                    "{}",
                    json!({ "name": named.name, "value": s.value, "min": s.min, "max": s.max,
                            "unit": named.unit, "scale": named.scale,
                            "display": units::display(named, s.value) })
                );
            } else {
                println!(
                    "{} = {} (allowed {} ..= {})",
                    named.name,
                    units::display(named, s.value),
                    units::display(named, s.min),
                    units::display(named, s.max)
                );
            }
            Ok(())
        }
        Message::Refused(r) => Err(refused(cli, named.name, r.reason, Some(named))),
        other => Err(unexpected(other)),
    }
}

fn alarm_code(text: &str) -> Result<AlarmCode, Failure> {
    use AlarmCode::*;
    let all = [
        SupplyTempHigh,
        SupplyTempLow,
        SensorFault,
        SupplySensorsLost,
        LeakDetected,
        ReservoirLow,
        PumpFault,
        ValveFault,
        CannotHoldSetpoint,
        RowBusSilent,
        PsuFault,
        AcLoss,
        BbuLow,
        PowerCapped,
        TrayShed,
        BreakerTripped,
        ThermalDerate,
        CommsLost,
    ];
    all.into_iter()
        .find(|c| kebab(&format!("{c:?}")) == text)
        .ok_or_else(|| {
            let names: Vec<String> = all.iter().map(|c| kebab(&format!("{c:?}"))).collect();
            Failure::Usage(format!(
                "unknown alarm `{text}`; the alarms are: {}",
                names.join(", ")
            ))
        })
}

/// `PumpFault` -> `pump-fault`.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn status(cli: &Cli, link: &mut Link) -> Result<(), Failure> {
    let identity = link.request(&Message::GetIdentity(GetIdentity))?;
    let telemetry = link.request(&Message::GetTelemetry(GetTelemetry))?;
    let alarms = link.request(&Message::GetAlarms(GetAlarms))?;
    if cli.json {
        let payload = |m: &Message| match m {
            Message::Identity(x) => to_json(x),
            Message::CoolantTelemetry(x) => to_json(x),
            Message::PowerTelemetry(x) => to_json(x),
            Message::Alarms(x) => to_json(x),
            other => json!({ "unexpected": format!("{:?}", other.kind()) }),
        };
        println!(
            "{}",
            json!({ "identity": payload(&identity), "telemetry": payload(&telemetry), "alarms": payload(&alarms) })
        );
        return Ok(());
    }
    if let Message::Identity(id) = &identity {
        println!(
            "{:?} {}  firmware {}.{}.{}  protocol v{}  up {:.0} s",
            id.device_kind,
            id.serial_number,
            id.firmware_version.major,
            id.firmware_version.minor,
            id.firmware_version.patch,
            id.protocol_version,
            id.uptime_ms as f64 / 1000.0
        );
    }
    println!("{}", telemetry_text(&telemetry));
    if let Message::Alarms(a) = &alarms {
        let active: Vec<String> = a
            .entries
            .iter()
            .filter(|e| e.active)
            .map(|e| format!("{} {}", kebab(&format!("{:?}", e.code)), e.instance))
            .collect();
        println!(
            "alarms: {}",
            if active.is_empty() {
                "none active".to_owned()
            } else {
                active.join(", ")
            }
        );
    }
    Ok(())
}

fn c(centi: i16) -> f64 {
    f64::from(centi) / 100.0
}

fn telemetry_text(m: &Message) -> String {
    match m {
        Message::CoolantTelemetry(t) => {
            let supplies: Vec<String> = t
                .secondary_supply_temps_centi_c
                .iter()
                .map(|s| format!("{:.2}", c(*s)))
                .collect();
            let pumps: Vec<String> = t
                .pumps
                .iter()
                .enumerate()
                .map(|(i, p)| format!("P{i} {:?} {} rpm", p.state, p.speed_rpm))
                .collect();
            format!(
                "state {:?} ({:?})  supply {} C (set {:.2})  return {:.2} C  facility {:.2} -> {:.2} C\n\
                 flow {:.1} L/min  dP {:.1} kPa  valve {:.1} %  reservoir {:.1} %  headroom {:.0} kW\n\
                 pumps: {} (lead P{})  isolated racks: {:#06b}",
                t.state,
                t.mode,
                supplies.join("/"),
                c(t.supply_setpoint_centi_c),
                c(t.secondary_return_temp_centi_c),
                c(t.primary_supply_temp_centi_c),
                c(t.primary_return_temp_centi_c),
                f64::from(t.secondary_flow_deci_lpm) / 10.0,
                f64::from(t.differential_pressure_deci_kpa) / 10.0,
                f64::from(t.primary_valve_position_permille) / 10.0,
                f64::from(t.reservoir_level_permille) / 10.0,
                f64::from(t.thermal_headroom_w) / 1000.0,
                pumps.join(", "),
                t.lead_pump,
                t.isolated_racks
            )
        }
        Message::PowerTelemetry(t) => {
            let on = t
                .trays
                .iter()
                .filter(|x| !matches!(x.state, rack_protocol::types::TrayState::Off))
                .count();
            let hottest = t
                .trays
                .iter()
                .map(|x| x.hottest_gpu_temp_centi_c)
                .max()
                .unwrap_or(0);
            format!(
                "state {:?}  input {:.1} kW  budget {:.1} kW  AC {}  breaker {:?} ({:.1} % of trip)\n\
                 trays on {}/{}  hottest GPU {:.1} C  BBU {:.1} %",
                t.state,
                f64::from(t.rack_input_power_w) / 1000.0,
                f64::from(t.power_budget_w) / 1000.0,
                if t.ac_present { "present" } else { "LOST" },
                t.breaker,
                f64::from(t.breaker_i2t_permille) / 10.0,
                on,
                t.trays.len(),
                c(hottest),
                t.bbus
                    .first()
                    .map_or(0.0, |b| f64::from(b.state_of_charge_permille) / 10.0)
            )
        }
        other => format!("unexpected answer {:?}", other.kind()),
    }
}

/// Reads every event from `since`: the events, the sequence number to read from next, and
/// how many were overwritten before they could be read.
fn fetch_events(
    link: &mut Link,
    since: u32,
) -> Result<(Vec<rack_protocol::types::Event>, u32, u32), Failure> {
    let mut from = since;
    let mut all = Vec::new();
    let mut lost = 0;
    loop {
        let answer = link.request(&Message::GetEvents(GetEvents { from_seq: from }))?;
        let Message::Events(batch) = &answer else {
            return Err(unexpected(&answer));
        };
        lost += batch.lost;
        all.extend(batch.events.iter().copied());
        from = batch.next_seq;
        if !batch.more {
            return Ok((all, from, lost));
        }
    }
}

fn event_line(e: &rack_protocol::types::Event) -> String {
    format!(
        "#{:<5} {:>10.1} s  {:?}",
        e.seq,
        e.at_ms as f64 / 1000.0,
        e.kind
    )
}

/// Prints the events from `since`.
fn log(cli: &Cli, link: &mut Link, since: u32) -> Result<(), Failure> {
    let (events, next, lost) = fetch_events(link, since)?;
    if cli.json {
        println!(
            "{}",
            json!({ "events": to_json(&events), "next_seq": next, "lost": lost })
        );
    } else {
        if lost > 0 {
            println!("({lost} events were overwritten before they could be read)");
        }
        for e in &events {
            println!("{}", event_line(e));
        }
    }
    Ok(())
}

/// Events shown under the live view.
const WATCH_HISTORY: usize = 10;

fn watch(cli: &Cli, interval: f64, count: Option<u64>) -> Result<(), Failure> {
    if !(0.05..=3600.0).contains(&interval) {
        return Err(Failure::Usage(format!(
            "--interval {interval} is outside the allowed 0.05..=3600 s"
        )));
    }
    let tty = std::io::stdout().is_terminal() && !cli.json;
    let mut link: Option<Link> = None;
    let mut next_event = 1;
    let mut history: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut shown = 0u64;
    let mut last_uptime = 0u64;
    while count.is_none_or(|n| shown < n) {
        if link.is_none() {
            link = open(cli).ok();
        }
        let reading = link.as_mut().map(|l| {
            let telemetry = l.request(&Message::GetTelemetry(GetTelemetry))?;
            let uptime = match &telemetry {
                Message::CoolantTelemetry(t) => t.uptime_ms,
                Message::PowerTelemetry(t) => t.uptime_ms,
                _ => 0,
            };
            // A restart resets the device's uptime and its log: read it again from the start.
            if uptime < last_uptime {
                next_event = 1;
                history.push_back("(device restarted)".to_owned());
            }
            last_uptime = uptime;
            let (events, next, lost) = fetch_events(l, next_event)?;
            next_event = next;
            Ok::<_, Failure>((telemetry, events, lost))
        });
        match reading {
            Some(Ok((telemetry, events, lost))) => {
                if lost > 0 {
                    history.push_back(format!(
                        "({lost} events overwritten before they could be read)"
                    ));
                }
                history.extend(events.iter().map(event_line));
                while history.len() > WATCH_HISTORY {
                    history.pop_front();
                }
                if cli.json {
                    let payload = match &telemetry {
                        Message::CoolantTelemetry(t) => to_json(t),
                        Message::PowerTelemetry(t) => to_json(t),
                        _ => Value::Null,
                    };
                    println!(
                        "{}",
                        json!({ "telemetry": payload, "events": to_json(&events) })
                    );
                } else {
                    if tty {
                        print!("\x1b[2J\x1b[H");
                    }
                    println!("{}", telemetry_text(&telemetry));
                    println!("recent events:");
                    for line in &history {
                        println!("  {line}");
                    }
                }
                shown += 1;
            }
            Some(Err(_)) | None => {
                link = None;
                eprintln!("rackctl: no answer from the device; retrying");
            }
        }
        std::thread::sleep(Duration::from_secs_f64(interval));
    }
    Ok(())
}

fn discover(cli: &Cli, tcp: &str, host: &str) -> Result<(), Failure> {
    let (lo, hi) = tcp
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
        .filter(|(a, b)| a <= b && b - a <= 256)
        .ok_or_else(|| {
            Failure::Usage(format!(
                "--tcp `{tcp}` must be FIRST-LAST, at most 256 ports, e.g. 7700-7708"
            ))
        })?;
    let timeout = Duration::from_millis(cli.timeout.min(300));
    let probe = |target: &Target| match Link::open(target, timeout, 0)
        .and_then(|mut l| l.request(&Message::GetIdentity(GetIdentity)))
    {
        Ok(Message::Identity(id)) => Some(id),
        Ok(_) | Err(_) => None,
    };
    let mut found: Vec<(Target, Option<rack_protocol::message::Identity>)> = Vec::new();
    for p in serialport::available_ports().unwrap_or_default() {
        let target = Target::Serial(p.port_name, cli.baud);
        let id = probe(&target);
        found.push((target, id));
    }
    for port in lo..=hi {
        let target = Target::Tcp(format!("{host}:{port}"));
        if let Some(id) = probe(&target) {
            found.push((target, Some(id)));
        }
    }
    if cli.json {
        let devices: Vec<Value> = found
            .iter()
            .map(|(t, id)| json!({ "target": t.to_string(), "identity": id.as_ref().map_or(Value::Null, to_json) }))
            .collect();
        println!("{}", json!({ "devices": devices }));
    } else if found.is_empty() {
        println!("no serial ports, and no device answering on {host}:{lo}-{hi}");
    } else {
        for (target, id) in &found {
            match id {
                None => println!("{:<28} (serial port, no answer)", target.to_string()),
                Some(id) => println!(
                    "{:<28} {:<18} {:<16} firmware {}.{}.{}  protocol v{}",
                    target.to_string(),
                    format!("{:?}", id.device_kind),
                    id.serial_number.as_str(),
                    id.firmware_version.major,
                    id.firmware_version.minor,
                    id.firmware_version.patch,
                    id.protocol_version
                ),
            }
        }
    }
    Ok(())
}

//! `rackctl discover`: finds devices on serial ports and on a range of TCP ports.

use std::time::Duration;

use rack_protocol::Message;
use rack_protocol::message::GetIdentity;
use serde_json::{Value, json};

use crate::Failure;
use crate::cli::Cli;
use crate::link::{Link, Target};
use crate::render::to_json;

pub(crate) fn discover(cli: &Cli, tcp: &str, host: &str) -> Result<(), Failure> {
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
    let mut not_probed = Vec::new();
    for p in serialport::available_ports().unwrap_or_default() {
        // Only USB serial ports are probed: a board's ST-LINK virtual COM port or a USB
        // RS-485 adapter. Writing probe frames to a motherboard UART (/dev/ttyS0: a modem, a
        // console, a UPS) could disturb what is on it; name such a port with --port instead.
        if !usb_serial(&p.port_name) {
            not_probed.push(p.port_name);
            continue;
        }
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
        out!(
            "{}",
            json!({ "devices": devices, "serial_not_probed": not_probed })
        );
    } else if found.is_empty() {
        out!("no USB serial ports, and no device answering on {host}:{lo}-{hi}");
    }
    if !cli.json {
        for (target, id) in &found {
            match id {
                None => out!("{:<28} (serial port, no answer)", target.to_string()),
                Some(id) => out!(
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
        if !not_probed.is_empty() {
            out!(
                "not probed (not USB serial; use --port to talk to one): {}",
                not_probed.join(", ")
            );
        }
    }
    Ok(())
}

/// Whether a serial port's name is a USB serial device (CDC ACM or a USB-UART bridge).
fn usb_serial(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    ["ttyACM", "ttyUSB", "cu.usb", "tty.usb"]
        .iter()
        .any(|p| base.starts_with(p))
        || base.starts_with("COM")
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_usb_serial_ports_are_probed() {
        assert!(super::usb_serial("/dev/ttyACM0"));
        assert!(super::usb_serial("/dev/ttyUSB3"));
        assert!(!super::usb_serial("/dev/ttyS0"));
        assert!(!super::usb_serial("/dev/ttyAMA0"));
    }
}

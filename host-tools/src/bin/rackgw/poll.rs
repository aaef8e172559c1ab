//! One poller thread per device: it keeps the device's link, polls its identity (once per
//! connection), telemetry, alarms and counters every period into the model, and carries out
//! the writes the interfaces hand it (signed with the gateway's key), between polls.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use rack_host::link::{Link, LinkError};
use rack_protocol::Message;
use rack_protocol::auth::Key;
use rack_protocol::message::{GetAlarms, GetCounters, GetIdentity, GetSetpoint, GetTelemetry};
use rack_protocol::types::{DeviceKind, SetpointId};

use crate::model::Row;

/// A write for a device, and where its answer goes.
pub struct Write {
    /// The request.
    pub request: Message,
    /// The key to sign it with (a Redfish user's); none: the gateway's own.
    pub key: Option<Key>,
    /// The device's answer, or why there is none.
    pub answer: tokio::sync::oneshot::Sender<Result<Message, String>>,
}

/// How a poller talks to its device.
#[derive(Debug, Clone)]
pub struct PollConfig {
    /// Time between polls.
    pub period: Duration,
    /// Time to wait for an answer.
    pub timeout: Duration,
    /// The key writes are signed with, if any.
    pub key: Option<Key>,
}

/// Starts the poller of device `index`; the returned sender takes its writes.
pub fn start(row: Row, index: usize, config: PollConfig) -> Sender<Write> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name(format!("poll-{index}"))
        .spawn(move || run(&row, index, &config, &rx))
        .map_or_else(|e| eprintln!("rackgw: cannot start a poller: {e}"), |_| ());
    tx
}

fn run(row: &Row, index: usize, config: &PollConfig, writes: &Receiver<Write>) {
    let Some(target) = row
        .read()
        .ok()
        .and_then(|r| r.get(index).map(|d| d.target.clone()))
    else {
        return;
    };
    let mut link: Option<Link> = None;
    let mut next_poll = Instant::now();
    loop {
        // Writes are carried out as they come; polls when due.
        let wait = next_poll.saturating_duration_since(Instant::now());
        match writes.recv_timeout(wait) {
            Ok(write) => {
                let answer = connected(&mut link, &target, config).and_then(|l| {
                    let own = write.key.map(|k| l.replace_key(Some(k)));
                    let answer = l.request(&write.request).map_err(|e| e.to_string());
                    if let Some(own) = own {
                        l.replace_key(own);
                    }
                    answer
                });
                match &answer {
                    Err(_) => link = None,
                    // What the device now holds, at once (not at the next poll).
                    Ok(Message::Setpoint(new)) => {
                        if let Ok(mut r) = row.write()
                            && let Some(d) = r.get_mut(index)
                            && let Some(s) = d.setpoints.iter_mut().find(|s| s.id == new.id)
                        {
                            *s = *new;
                        }
                    }
                    Ok(_) => {}
                }
                let _ = write.answer.send(answer);
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        next_poll = Instant::now() + config.period;
        let polled = connected(&mut link, &target, config).and_then(|l| poll(l, row, index));
        if let Err(error) = polled {
            link = None;
            if let Ok(mut r) = row.write()
                && let Some(d) = r.get_mut(index)
            {
                // The operator hears of a change, not of every failed poll.
                if d.link_up || d.updated.is_none() && d.link_errors == 0 {
                    eprintln!("rackgw: {} ({}): link down: {error}", d.name, d.target);
                }
                d.link_up = false;
                d.link_errors += 1;
                d.error = Some(error);
            }
        }
    }
}

/// The open link, opened afresh if there is none (its identity is read again then).
fn connected<'a>(
    link: &'a mut Option<Link>,
    target: &rack_host::link::Target,
    config: &PollConfig,
) -> Result<&'a mut Link, String> {
    if link.is_none() {
        let opened = Link::open(target, config.timeout, 0)
            .map_err(|e| e.to_string())?
            .with_key(config.key.clone());
        *link = Some(opened);
    }
    link.as_mut().ok_or_else(|| "no link".to_owned())
}

/// One full poll into the model.
fn poll(link: &mut Link, row: &Row, index: usize) -> Result<(), String> {
    let ask = |link: &mut Link, m: Message| link.request(&m).map_err(|e: LinkError| e.to_string());
    let identity = match ask(link, Message::GetIdentity(GetIdentity))? {
        Message::Identity(i) => i,
        other => return Err(format!("identity expected, got {:?}", other.kind())),
    };
    let telemetry = ask(link, Message::GetTelemetry(GetTelemetry))?;
    if !matches!(
        telemetry,
        Message::CoolantTelemetry(_) | Message::PowerTelemetry(_)
    ) {
        return Err(format!("telemetry expected, got {:?}", telemetry.kind()));
    }
    let Message::Alarms(alarms) = ask(link, Message::GetAlarms(GetAlarms))? else {
        return Err("the alarm list expected".into());
    };
    let counters = match ask(link, Message::GetCounters(GetCounters))? {
        Message::Counters(c) => Some(c),
        // A device of protocol version 1 has none.
        _ => None,
    };
    let ids: &[SetpointId] = match identity.device_kind {
        DeviceKind::CoolantController => &[
            SetpointId::SupplyTempCentiC,
            SetpointId::LeakReactionDelayS,
            SetpointId::LeadRotationIntervalS,
        ],
        DeviceKind::PowerController => &[
            SetpointId::RackPowerBudgetW,
            SetpointId::PowerFloorW,
            SetpointId::RampLimitWPerS,
            SetpointId::RideThroughS,
        ],
    };
    let mut setpoints = Vec::new();
    for &id in ids {
        if let Message::Setpoint(s) = ask(link, Message::GetSetpoint(GetSetpoint { id }))? {
            setpoints.push(s);
        }
    }
    let mut r = row
        .write()
        .map_err(|_| "the model's lock is poisoned".to_owned())?;
    let d = r.get_mut(index).ok_or("no such device")?;
    d.identity = Some(identity.clone());
    d.telemetry = Some(telemetry);
    d.alarms = alarms.entries.to_vec();
    d.counters = counters;
    d.setpoints = setpoints;
    if !d.link_up {
        eprintln!(
            "rackgw: {} ({}): link up: {:?} {}",
            d.name, d.target, identity.device_kind, identity.serial_number
        );
    }
    d.link_up = true;
    d.updated = Some(Instant::now());
    d.error = None;
    Ok(())
}

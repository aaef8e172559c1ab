//! Modbus TCP (a `tokio-modbus` server): the row as a BMS reads it. Unit 1 is the CDU, unit
//! `2 + N` rack N's power controller. The map (`docs/rackgw.md` prints it, `rackgw
//! --modbus-map` too):
//!
//! - **input registers** (function 04): telemetry, one word each unless a value needs two (high
//!   word first); register 0 is the link's quality (1 live, 0 no link), and while it is 0 every
//!   value reads "not available" (`0x8000` signed, `0xFFFF` unsigned): never a stale number;
//! - **holding registers** (03 read, 06/16 write): setpoints and commissioning values, in the
//!   protocol's units; written through the device's own protocol (signed with the gateway's
//!   key), only for the register groups the configuration enables;
//! - **coils** (01 read, 05/15 write): coil `n` is alarm code `n` (`AlarmCode::ALL` order)
//!   active on the device; writing 0 acknowledges it (group `alarms`).
//!
//! Refusals are Modbus exceptions: 02 (illegal data address) for a register that is not there
//! or a write its group does not allow, 03 (illegal data value) for a value the device refuses
//! (out of its range) or half of a two-word value, 0B (gateway target failed to respond) when
//! the device does not answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::Sender;

use rack_protocol::Message;
use rack_protocol::message::{AckAlarm, SetSetpoint};
use rack_protocol::types::{AlarmCode, SetpointId};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

use crate::model::{Device, Row, snapshot};
use crate::poll::Write;

/// What a holding register group covers, for the configuration's `writable` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Setpoints an operator moves: supply temperature, a rack's budget and floor.
    Setpoints,
    /// Commissioning values: rotation interval, leak delay, ramp limit, ride-through.
    Commissioning,
    /// Acknowledging alarms (coils).
    Alarms,
}

impl Group {
    /// Every group, by its name in the configuration.
    pub const ALL: [(&'static str, Group); 3] = [
        ("setpoints", Group::Setpoints),
        ("commissioning", Group::Commissioning),
        ("alarms", Group::Alarms),
    ];
}

/// One value in the map.
#[derive(Debug, Clone, Copy)]
pub struct Value {
    /// Its name.
    pub name: &'static str,
    /// Its unit and scale.
    pub unit: &'static str,
    /// Words (1, or 2 for a 32-bit value, high word first).
    pub words: u16,
    /// Two's complement.
    pub signed: bool,
}

const fn v(name: &'static str, unit: &'static str, words: u16, signed: bool) -> Value {
    Value {
        name,
        unit,
        words,
        signed,
    }
}

/// The CDU's input registers, in address order from 0.
pub const CDU_INPUTS: [Value; 27] = [
    v("link_quality", "1 live, 0 no link", 1, false),
    v(
        "state",
        "0 startup, 1 running, 2 degraded, 3 failsafe, 4 stopped, 5 off",
        1,
        false,
    ),
    v("mode", "0 auto, 1 manual, 2 standby", 1, false),
    v("pump_control", "0 differential pressure, 1 flow", 1, false),
    v("supply_setpoint", "0.01 degC", 1, true),
    v("secondary_supply_temp_1", "0.01 degC", 1, true),
    v("secondary_supply_temp_2", "0.01 degC", 1, true),
    v("secondary_supply_temp_3", "0.01 degC", 1, true),
    v("secondary_return_temp", "0.01 degC", 1, true),
    v("primary_supply_temp", "0.01 degC", 1, true),
    v("primary_return_temp", "0.01 degC", 1, true),
    v("secondary_flow", "0.1 L/min", 1, false),
    v("differential_pressure", "0.1 kPa", 1, false),
    v("valve_position", "0.1 %", 1, false),
    v("reservoir_level", "0.1 %", 1, false),
    v("lead_pump", "pump index", 1, false),
    v("pump_1_speed", "rpm", 1, false),
    v("pump_2_speed", "rpm", 1, false),
    v("pump_3_speed", "rpm", 1, false),
    v(
        "pump_1_state",
        "0 off, 1 standby, 2 running, 3 faulted",
        1,
        false,
    ),
    v(
        "pump_2_state",
        "0 off, 1 standby, 2 running, 3 faulted",
        1,
        false,
    ),
    v(
        "pump_3_state",
        "0 off, 1 standby, 2 running, 3 faulted",
        1,
        false,
    ),
    v("isolated_racks", "bit n: rack n isolated", 1, false),
    v("thermal_headroom", "1 W", 2, false),
    v("active_alarms", "count", 1, false),
    v("uptime", "1 s", 2, false),
    v("leak_detectors_wet", "bit n: detector n not ok", 2, false),
];

/// A rack's input registers, in address order from 0.
pub const RACK_INPUTS: [Value; 16] = [
    v("link_quality", "1 live, 0 no link", 1, false),
    v(
        "state",
        "0 startup, 1 running, 2 degraded, 3 failsafe, 4 stopped, 5 off",
        1,
        false,
    ),
    v("mode", "0 auto, 1 manual, 2 standby", 1, false),
    v("input_power", "1 W", 2, false),
    v("power_budget", "1 W", 2, false),
    v("bus_voltage", "1 mV", 1, false),
    v("ac_present", "1 present", 1, false),
    v("breaker_state", "0 closed, 1 tripped, 2 open", 1, false),
    v("breaker_i2t", "0.1 %", 1, false),
    v("active_alarms", "count", 1, false),
    v("uptime", "1 s", 2, false),
    v("trays_on", "count", 1, false),
    v("hottest_gpu_temp", "0.01 degC", 1, true),
    v("bbu_state_of_charge_min", "0.1 %", 1, false),
    v("bbu_power_total", "1 W, positive discharging", 2, true),
    v("shelf_output_power_total", "1 W", 2, false),
];

/// A holding register's setpoint and group.
#[derive(Debug, Clone, Copy)]
pub struct Holding {
    /// The value.
    pub value: Value,
    /// The device's setpoint.
    pub setpoint: SetpointId,
    /// Who may write it.
    pub group: Group,
}

const fn h(value: Value, setpoint: SetpointId, group: Group) -> Holding {
    Holding {
        value,
        setpoint,
        group,
    }
}

/// The CDU's holding registers, in address order from 0.
pub const CDU_HOLDING: [Holding; 3] = [
    h(
        v("supply_temp_setpoint", "0.01 degC", 1, true),
        SetpointId::SupplyTempCentiC,
        Group::Setpoints,
    ),
    h(
        v("leak_reaction_delay", "1 s", 1, false),
        SetpointId::LeakReactionDelayS,
        Group::Commissioning,
    ),
    h(
        v("lead_rotation_interval", "1 s", 2, false),
        SetpointId::LeadRotationIntervalS,
        Group::Commissioning,
    ),
];

/// A rack's holding registers, in address order from 0.
pub const RACK_HOLDING: [Holding; 4] = [
    h(
        v("power_budget", "1 W", 2, false),
        SetpointId::RackPowerBudgetW,
        Group::Setpoints,
    ),
    h(
        v("power_floor", "1 W", 2, false),
        SetpointId::PowerFloorW,
        Group::Setpoints,
    ),
    h(
        v("ramp_limit", "1 W/s", 2, false),
        SetpointId::RampLimitWPerS,
        Group::Commissioning,
    ),
    h(
        v("ride_through", "1 s", 1, false),
        SetpointId::RideThroughS,
        Group::Commissioning,
    ),
];

/// The words of `values` (each `Some(raw)`, or `None`: not available).
fn words(map: &[Value], values: &[Option<i64>]) -> Vec<u16> {
    let mut out = Vec::new();
    for (value, raw) in map.iter().zip(values) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // two's complement
        let bits: u32 = match (raw, value.words, value.signed) {
            (Some(r), 1, true) => u32::from((*r).clamp(-0x7fff, 0x7fff) as i16 as u16),
            (Some(r), 1, false) => (*r).clamp(0, 0xfffe) as u32,
            (Some(r), _, true) => (*r).clamp(-0x7fff_ffff, 0x7fff_ffff) as i32 as u32,
            (Some(r), _, false) => (*r).clamp(0, 0xffff_fffe) as u32,
            (None, 1, true) => 0x8000,
            (None, 1, false) => 0xffff,
            (None, _, true) => 0x8000_0000,
            (None, _, false) => 0xffff_ffff,
        };
        if value.words == 2 {
            #[allow(clippy::cast_possible_truncation)] // the two halves
            out.extend([(bits >> 16) as u16, bits as u16]);
        } else {
            #[allow(clippy::cast_possible_truncation)] // one word
            out.push(bits as u16);
        }
    }
    out
}

/// A device's input registers.
pub fn inputs(d: &Device) -> Vec<u16> {
    let quality = Some(i64::from(u8::from(d.link_up)));
    match d.live() {
        Some(Message::CoolantTelemetry(t)) => {
            let temp = |i: usize| {
                t.secondary_supply_temps_centi_c
                    .get(i)
                    .map(|v| i64::from(*v))
            };
            let pump = |i: usize| t.pumps.get(i);
            let wet = t
                .leak_detectors
                .iter()
                .enumerate()
                .filter(|(_, l)| **l != rack_protocol::types::LeakState::Ok)
                .fold(0i64, |bits, (i, _)| bits | (1 << i.min(31)));
            words(
                &CDU_INPUTS,
                &[
                    quality,
                    Some(t.state as i64),
                    Some(t.mode as i64),
                    Some(t.pump_control as i64),
                    Some(i64::from(t.supply_setpoint_centi_c)),
                    temp(0),
                    temp(1),
                    temp(2),
                    Some(i64::from(t.secondary_return_temp_centi_c)),
                    Some(i64::from(t.primary_supply_temp_centi_c)),
                    Some(i64::from(t.primary_return_temp_centi_c)),
                    Some(i64::from(t.secondary_flow_deci_lpm)),
                    Some(i64::from(t.differential_pressure_deci_kpa)),
                    Some(i64::from(t.primary_valve_position_permille)),
                    Some(i64::from(t.reservoir_level_permille)),
                    Some(i64::from(t.lead_pump)),
                    pump(0).map(|p| i64::from(p.speed_rpm)),
                    pump(1).map(|p| i64::from(p.speed_rpm)),
                    pump(2).map(|p| i64::from(p.speed_rpm)),
                    pump(0).map(|p| p.state as i64),
                    pump(1).map(|p| p.state as i64),
                    pump(2).map(|p| p.state as i64),
                    Some(i64::from(t.isolated_racks)),
                    Some(i64::from(t.thermal_headroom_w)),
                    Some(i64::from(t.active_alarms)),
                    i64::try_from(t.uptime_ms / 1000).ok(),
                    Some(wet),
                ],
            )
        }
        Some(Message::PowerTelemetry(t)) => {
            let trays_on = t
                .trays
                .iter()
                .filter(|tr| {
                    matches!(
                        tr.state,
                        rack_protocol::types::TrayState::On
                            | rack_protocol::types::TrayState::Capped
                    )
                })
                .count();
            words(
                &RACK_INPUTS,
                &[
                    quality,
                    Some(t.state as i64),
                    Some(t.mode as i64),
                    Some(i64::from(t.rack_input_power_w)),
                    Some(i64::from(t.power_budget_w)),
                    Some(i64::from(t.bus_voltage_mv)),
                    Some(i64::from(u8::from(t.ac_present))),
                    Some(t.breaker as i64),
                    Some(i64::from(t.breaker_i2t_permille)),
                    Some(i64::from(t.active_alarms)),
                    i64::try_from(t.uptime_ms / 1000).ok(),
                    i64::try_from(trays_on).ok(),
                    t.trays
                        .iter()
                        .map(|tr| i64::from(tr.hottest_gpu_temp_centi_c))
                        .max(),
                    t.bbus
                        .iter()
                        .map(|b| i64::from(b.state_of_charge_permille))
                        .min(),
                    Some(t.bbus.iter().map(|b| i64::from(b.power_w)).sum()),
                    Some(t.shelves.iter().map(|s| i64::from(s.output_power_w)).sum()),
                ],
            )
        }
        // No link (or not yet heard from): the quality word, and "not available" everywhere.
        _ => {
            let map: &[Value] = if d.is_cdu() {
                &CDU_INPUTS
            } else {
                &RACK_INPUTS
            };
            let mut none = vec![None; map.len()];
            if let Some(q) = none.first_mut() {
                *q = quality;
            }
            words(map, &none)
        }
    }
}

/// A device's holding-register map.
pub fn holding_map(d: &Device) -> &'static [Holding] {
    if d.is_cdu() {
        &CDU_HOLDING
    } else {
        &RACK_HOLDING
    }
}

/// A device's holding registers: its setpoints as last read.
pub fn holding(d: &Device) -> Vec<u16> {
    let map = holding_map(d);
    let values: Vec<Option<i64>> = map
        .iter()
        .map(|h| {
            d.setpoints
                .iter()
                .find(|s| s.id == h.setpoint)
                .filter(|_| d.link_up)
                .map(|s| i64::from(s.value))
        })
        .collect();
    let plain: Vec<Value> = map.iter().map(|h| h.value).collect();
    words(&plain, &values)
}

/// The words `start..start + count` of `all`, or the exception for an address out of the map.
fn window(all: &[u16], start: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
    let (start, end) = (usize::from(start), usize::from(start) + usize::from(count));
    all.get(start..end)
        .map(<[u16]>::to_vec)
        .ok_or(ExceptionCode::IllegalDataAddress)
}

/// The setpoint writes that `words` at `start` make, or the exception that refuses them.
pub fn holding_writes(
    map: &[Holding],
    writable: &[Group],
    start: u16,
    words: &[u16],
) -> Result<Vec<SetSetpoint>, ExceptionCode> {
    let mut writes = Vec::new();
    let mut at = 0u16;
    let end = u32::from(start) + u32::try_from(words.len()).unwrap_or(u32::MAX);
    for h in map {
        let (first, last) = (u32::from(at), u32::from(at + h.value.words));
        at += h.value.words;
        if last <= u32::from(start) || first >= end {
            continue;
        }
        // A two-word value is written whole, or not at all.
        if first < u32::from(start) || last > end {
            return Err(ExceptionCode::IllegalDataValue);
        }
        if !writable.contains(&h.group) {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        let offset = usize::try_from(first - u32::from(start)).unwrap_or(usize::MAX);
        let word = |i: usize| words.get(offset + i).copied().unwrap_or(0);
        #[allow(clippy::cast_possible_wrap)] // two's complement on the wire
        let value = match (h.value.words, h.value.signed) {
            (1, true) => i32::from(word(0) as i16),
            (1, false) => i32::from(word(0)),
            _ => ((u32::from(word(0)) << 16) | u32::from(word(1))) as i32,
        };
        writes.push(SetSetpoint {
            id: h.setpoint,
            value,
        });
    }
    if writes.is_empty() || u32::from(at) < end {
        return Err(ExceptionCode::IllegalDataAddress);
    }
    Ok(writes)
}

/// The Modbus service: one per connection, over the row.
pub struct Service {
    /// The row.
    pub row: Row,
    /// Each device's writes (same order as the row).
    pub writes: Vec<Sender<Write>>,
    /// The groups that may be written.
    pub writable: Vec<Group>,
}

type Answer = Result<Response, ExceptionCode>;

impl Service {
    fn device(&self, unit: u8) -> Result<(usize, Device), ExceptionCode> {
        let index = usize::from(unit)
            .checked_sub(1)
            .ok_or(ExceptionCode::GatewayPathUnavailable)?;
        snapshot(&self.row)
            .into_iter()
            .nth(index)
            .map(|d| (index, d))
            .ok_or(ExceptionCode::GatewayPathUnavailable)
    }

    fn read(&self, unit: u8, request: &Request<'_>) -> Option<Answer> {
        let (_, d) = match self.device(unit) {
            Ok(found) => found,
            Err(e) => return Some(Err(e)),
        };
        let active =
            |code: AlarmCode| d.link_up && d.alarms.iter().any(|a| a.code == code && a.active);
        Some(match request {
            Request::ReadInputRegisters(start, count) => {
                window(&inputs(&d), *start, *count).map(Response::ReadInputRegisters)
            }
            Request::ReadHoldingRegisters(start, count) => {
                window(&holding(&d), *start, *count).map(Response::ReadHoldingRegisters)
            }
            Request::ReadCoils(start, count) => {
                let coils: Vec<bool> = AlarmCode::ALL.iter().map(|c| active(*c)).collect();
                let (s, e) = (
                    usize::from(*start),
                    usize::from(*start) + usize::from(*count),
                );
                coils
                    .get(s..e)
                    .map(|c| Response::ReadCoils(c.to_vec()))
                    .ok_or(ExceptionCode::IllegalDataAddress)
            }
            _ => return None,
        })
    }
}

/// Sends `request` to a device's poller (through its `writes`) and waits for the answer.
async fn ask(writes: Sender<Write>, request: Message) -> Result<Message, ExceptionCode> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    writes
        .send(Write {
            request,
            key: None,
            answer: tx,
        })
        .map_err(|_| ExceptionCode::GatewayPathUnavailable)?;
    match rx.await {
        Ok(Ok(Message::Refused(_))) => Err(ExceptionCode::IllegalDataValue),
        Ok(Ok(answer)) => Ok(answer),
        _ => Err(ExceptionCode::GatewayTargetDevice),
    }
}

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        if let Some(answer) = self.read(req.slave, &req.request) {
            return Box::pin(std::future::ready(answer));
        }
        let found = self.device(req.slave);
        let writable = self.writable.clone();
        let senders = self.writes.clone();
        Box::pin(async move {
            let (index, d) = found?;
            let sender = senders
                .get(index)
                .cloned()
                .ok_or(ExceptionCode::GatewayPathUnavailable)?;
            match req.request {
                Request::WriteSingleRegister(at, word) => {
                    for w in holding_writes(holding_map(&d), &writable, at, &[word])? {
                        ask(sender.clone(), Message::SetSetpoint(w)).await?;
                    }
                    Ok(Response::WriteSingleRegister(at, word))
                }
                Request::WriteMultipleRegisters(at, words) => {
                    let count = u16::try_from(words.len()).unwrap_or(u16::MAX);
                    for w in holding_writes(holding_map(&d), &writable, at, &words)? {
                        ask(sender.clone(), Message::SetSetpoint(w)).await?;
                    }
                    Ok(Response::WriteMultipleRegisters(at, count))
                }
                Request::WriteSingleCoil(at, on) => {
                    if !writable.contains(&Group::Alarms) {
                        return Err(ExceptionCode::IllegalDataAddress);
                    }
                    let code = *AlarmCode::ALL
                        .get(usize::from(at))
                        .ok_or(ExceptionCode::IllegalDataAddress)?;
                    // Writing 0 acknowledges; an alarm cannot be raised from outside.
                    if on {
                        return Err(ExceptionCode::IllegalDataValue);
                    }
                    for a in d.alarms.iter().filter(|a| a.code == code) {
                        let ack = AckAlarm {
                            code,
                            instance: a.instance,
                        };
                        ask(sender.clone(), Message::AckAlarm(ack)).await?;
                    }
                    Ok(Response::WriteSingleCoil(at, on))
                }
                _ => Err(ExceptionCode::IllegalFunction),
            }
        })
    }
}

/// The map as a Markdown table, for the documentation and `rackgw --modbus-map`.
pub fn map_text() -> String {
    let mut out = String::new();
    let table = |out: &mut String, title: &str, values: &[Value]| {
        out.push_str(&format!(
            "\n{title}\n\n| register | name | unit | words | signed |\n|---|---|---|---|---|\n"
        ));
        let mut at = 0;
        for v in values {
            out.push_str(&format!(
                "| {at} | {} | {} | {} | {} |\n",
                v.name,
                v.unit,
                v.words,
                if v.signed { "yes" } else { "no" }
            ));
            at += v.words;
        }
    };
    table(&mut out, "CDU (unit 1), input registers (04):", &CDU_INPUTS);
    let cdu: Vec<Value> = CDU_HOLDING.iter().map(|h| h.value).collect();
    table(
        &mut out,
        "CDU (unit 1), holding registers (03, 06, 16):",
        &cdu,
    );
    table(
        &mut out,
        "Rack N (unit 2 + N), input registers (04):",
        &RACK_INPUTS,
    );
    let rack: Vec<Value> = RACK_HOLDING.iter().map(|h| h.value).collect();
    table(
        &mut out,
        "Rack N (unit 2 + N), holding registers (03, 06, 16):",
        &rack,
    );
    let groups: Vec<String> = Group::ALL
        .iter()
        .map(|(name, group)| {
            let members: Vec<&str> = CDU_HOLDING
                .iter()
                .chain(&RACK_HOLDING)
                .filter(|h| h.group == *group)
                .map(|h| h.value.name)
                .collect();
            let members = if *group == Group::Alarms {
                "coils (acknowledge)".to_owned()
            } else {
                members.join(", ")
            };
            format!("`{name}`: {members}")
        })
        .collect();
    out.push_str(&format!("\nGroups: {}.", groups.join("; ")));
    out.push_str("\n\nCoils (01, 05): coil n is alarm code n active: ");
    let codes: Vec<String> = AlarmCode::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "{i} {}",
                rack_protocol::types::words(&format!("{c:?}"), '-').collect::<String>()
            )
        })
        .collect();
    out.push_str(&codes.join(", "));
    out.push_str(". Writing 0 acknowledges it (group `alarms`).\n");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn values_are_words_high_first_and_absent_ones_say_so() {
        let map = [
            v("a", "", 1, true),
            v("b", "", 2, false),
            v("c", "", 1, false),
            v("d", "", 2, true),
        ];
        assert_eq!(
            words(&map, &[Some(-150), Some(0x0001_0002), None, None]),
            [0xff6a, 0x0001, 0x0002, 0xffff, 0x8000, 0x0000]
        );
        // Out of range saturates short of the "not available" codes.
        assert_eq!(
            words(&map[..1], &[Some(-100_000)]),
            [0x8001],
            "-0x7fff, never 0x8000"
        );
    }

    #[test]
    fn a_holding_write_is_whole_values_of_writable_groups() {
        let all = [Group::Setpoints, Group::Commissioning];
        // The CDU: supply (0), leak delay (1), rotation interval (2-3, two words).
        let w = holding_writes(&CDU_HOLDING, &all, 2, &[0x0009, 0x3a80]).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(
            (w[0].id, w[0].value),
            (SetpointId::LeadRotationIntervalS, 604_800)
        );
        let w = holding_writes(&CDU_HOLDING, &all, 0, &[0xfc18, 60]).unwrap();
        assert_eq!(
            (w[0].value, w[1].id, w[1].value),
            (-1000, SetpointId::LeakReactionDelayS, 60)
        );
        // Half of a two-word value, a group not enabled, past the map.
        assert_eq!(
            holding_writes(&CDU_HOLDING, &all, 3, &[1]).unwrap_err(),
            ExceptionCode::IllegalDataValue
        );
        assert_eq!(
            holding_writes(&CDU_HOLDING, &[Group::Setpoints], 1, &[60]).unwrap_err(),
            ExceptionCode::IllegalDataAddress
        );
        assert_eq!(
            holding_writes(&CDU_HOLDING, &all, 4, &[1]).unwrap_err(),
            ExceptionCode::IllegalDataAddress
        );
        assert_eq!(
            holding_writes(&CDU_HOLDING, &all, 0, &[3000, 60, 0, 1, 7]).unwrap_err(),
            ExceptionCode::IllegalDataAddress,
            "a write that runs past the map is refused whole"
        );
    }

    #[test]
    fn a_device_without_its_link_reads_quality_0_and_nothing_else() {
        let mut d = Device::new("cdu".into(), rack_host::link::Target::Tcp("x:1".into()));
        d.link_up = false;
        let regs = inputs(&d);
        let len: u16 = CDU_INPUTS.iter().map(|v| v.words).sum();
        assert_eq!(regs.len(), usize::from(len));
        assert_eq!(regs[0], 0);
        assert!(regs[1..].iter().all(|&w| w == 0xffff || w == 0x8000));
    }

    #[test]
    fn the_printed_map_names_every_register() {
        let text = map_text();
        for v in CDU_INPUTS.iter().chain(&RACK_INPUTS) {
            assert!(text.contains(&format!("| {} |", v.name)), "{}", v.name);
        }
        for h in CDU_HOLDING.iter().chain(&RACK_HOLDING) {
            assert!(
                text.contains(&format!("| {} |", h.value.name)),
                "{}",
                h.value.name
            );
        }
        assert!(text.contains("18 settings-lost"), "{text}");
    }

    #[test]
    fn the_documentation_shows_the_map_as_printed() {
        let doc = include_str!("../../../../docs/rackgw.md");
        assert!(
            doc.contains(&map_text()),
            "docs/rackgw.md: paste `rackgw --modbus-map`"
        );
    }
}

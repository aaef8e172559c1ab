//! The node as a host sees it: frames in, frames out.
#![allow(
    clippy::needless_pass_by_value,
    clippy::semicolon_if_nothing_returned,
    clippy::float_cmp
)]
extern crate std;

use std::vec::Vec;

use core::cell::Cell;

use rack_control::coolant::{CoolantConfig, CoolantController, CoolantInputs};
use rack_protocol::auth::Key;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::message::{
    AckAlarm, Command, GetAlarms, GetCounters, GetEvents, GetIdentity, GetSetpoint, GetTelemetry,
    RevokeKey, SetKey, SetMode, SetSetpoint, Subscribe,
};
use rack_protocol::types::OperatingMode;

use super::*;
use crate::coolant::CoolantApp;

/// The test's maintenance key (installed by [`node`]) and operator key.
const MAINTENANCE: u16 = 1;
const OPERATOR: u16 = 2;

fn key(id: u16) -> Key {
    Key {
        id,
        secret: [u8::try_from(id).unwrap(); 32],
    }
}

fn node() -> Node<CoolantApp> {
    let app = CoolantApp::new(CoolantController::new(CoolantConfig::default()));
    let mut n = Node::new(
        app,
        NodeConfig {
            serial: "CDU-TEST-1",
            ..NodeConfig::default()
        },
        Instant(0),
    );
    n.keys_mut()
        .install(MAINTENANCE, KeyRole::Maintenance, key(MAINTENANCE).secret)
        .unwrap();
    n.keys_mut()
        .install(OPERATOR, KeyRole::Operator, key(OPERATOR).secret)
        .unwrap();
    n
}

std::thread_local! {
    static COUNTER: Cell<u64> = const { Cell::new(0) };
}

/// The next counter: rising through each test.
fn next_counter() -> u64 {
    COUNTER.with(|c| {
        c.set(c.get() + 1);
        c.get()
    })
}

/// Sends `message` with `seq` (signed with the maintenance key when it changes anything) and
/// returns the frames the node answered.
fn ask(
    node: &mut Node<CoolantApp>,
    now: u64,
    seq: u16,
    message: Message,
) -> Vec<rack_protocol::Frame> {
    let signer = message
        .kind()
        .needs_role()
        .map(|_| (key(MAINTENANCE), next_counter()));
    ask_as(node, now, seq, message, signer)
}

/// Sends `message`, signed by `signer` (key, counter) or not.
fn ask_as(
    node: &mut Node<CoolantApp>,
    now: u64,
    seq: u16,
    message: Message,
    signer: Option<(Key, u64)>,
) -> Vec<rack_protocol::Frame> {
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    let len = match signer {
        Some((k, counter)) => frame::encode_signed(seq, &message, &k, counter, &mut wire),
        None => frame::encode(seq, &message, &mut wire),
    }
    .unwrap();
    send_wire(node, now, &wire[..len])
}

fn send_wire(node: &mut Node<CoolantApp>, now: u64, wire: &[u8]) -> Vec<rack_protocol::Frame> {
    let mut out = Vec::new();
    node.on_bytes(Instant(now), wire, &mut |bytes| {
        out.extend_from_slice(bytes)
    });
    FrameDecoder::new().feed(&out).map(Result::unwrap).collect()
}

fn steps(node: &mut Node<CoolantApp>, from_ms: u64, count: u64) -> u64 {
    let mut now = from_ms;
    for _ in 0..count {
        now += 100;
        let mut inputs = CoolantInputs::uniform(Instant(now), 30.0);
        inputs.flow_lpm.value = 1300.0 + (now % 7) as f32;
        inputs.dp_kpa.value = 35.0 + (now % 3) as f32 * 0.01;
        for r in inputs.supply_temps_c.iter_mut() {
            r.value = 30.0 + (now % 5) as f32 * 0.01;
        }
        node.step(Instant(now), |app| app.step(Instant(now), &inputs));
    }
    now
}

#[test]
fn identity_and_telemetry_answer_with_the_request_sequence() {
    let mut n = node();
    let now = steps(&mut n, 0, 20);
    let frames = ask(&mut n, now, 77, Message::GetIdentity(GetIdentity));
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].seq, 77);
    let Message::Identity(id) = &frames[0].message else {
        panic!("{:?}", frames[0])
    };
    assert_eq!(id.device_kind, DeviceKind::CoolantController);
    assert_eq!(id.serial_number.as_str(), "CDU-TEST-1");
    assert_eq!(id.uptime_ms, now);
    let frames = ask(&mut n, now, 78, Message::GetTelemetry(GetTelemetry));
    let Message::CoolantTelemetry(t) = &frames[0].message else {
        panic!("{:?}", frames[0])
    };
    assert_eq!(t.supply_setpoint_centi_c, 3000);
    assert_eq!(t.secondary_supply_temps_centi_c.len(), 3);
    assert_eq!(t.leak_detectors.len(), 2 * 9);
}

#[test]
fn a_setpoint_out_of_range_is_refused_with_its_range_and_a_good_one_is_logged() {
    let mut n = node();
    let now = steps(&mut n, 0, 5);
    let frames = ask(
        &mut n,
        now,
        5,
        Message::SetSetpoint(SetSetpoint {
            id: SetpointId::SupplyTempCentiC,
            value: 5000,
        }),
    );
    assert_eq!(
        frames[0].message,
        Message::Refused(Refused {
            of: rack_protocol::MessageKind::SetSetpoint,
            reason: Refusal::OutOfRange {
                min: 1000,
                max: 3500
            }
        })
    );
    let frames = ask(
        &mut n,
        now,
        6,
        Message::SetSetpoint(SetSetpoint {
            id: SetpointId::SupplyTempCentiC,
            value: 3200,
        }),
    );
    assert_eq!(
        frames[0].message,
        Message::Setpoint(Setpoint {
            id: SetpointId::SupplyTempCentiC,
            value: 3200,
            min: 1000,
            max: 3500
        })
    );
    assert!(n.log().iter().any(|r| r.event
        == EventKind::SetpointChanged {
            id: SetpointId::SupplyTempCentiC,
            value: 3200
        }));
    let frames = ask(
        &mut n,
        now,
        7,
        Message::SetSetpoint(SetSetpoint {
            id: SetpointId::FlowDeciLpm,
            value: 1,
        }),
    );
    assert_eq!(
        frames[0].message,
        Message::Refused(Refused {
            of: rack_protocol::MessageKind::SetSetpoint,
            reason: Refusal::NotSupported
        })
    );
}

#[test]
fn a_host_that_reconnects_reads_every_event_exactly_once() {
    let mut n = node();
    let now = steps(&mut n, 0, 30);
    let mut seen = Vec::new();
    let mut from = 1;
    loop {
        let frames = ask(
            &mut n,
            now,
            9,
            Message::GetEvents(GetEvents { from_seq: from }),
        );
        let Message::Events(batch) = &frames[0].message else {
            panic!()
        };
        seen.extend(batch.events.iter().map(|e| e.seq));
        from = batch.next_seq;
        assert_eq!(batch.lost, 0);
        if !batch.more {
            break;
        }
    }
    let expected: Vec<u32> = (1..n.log().next_seq()).collect();
    assert_eq!(seen, expected);
    assert!(
        seen.len() >= 2,
        "boot and the start of the pumps at least: {seen:?}"
    );
}

#[test]
fn overwritten_events_are_reported_as_lost() {
    let mut n = node();
    for i in 0..(EVENT_LOG_LEN as u64 + 10) {
        n.log.push(Instant(i), EventKind::Boot);
    }
    let frames = ask(
        &mut n,
        1000,
        1,
        Message::GetEvents(GetEvents { from_seq: 1 }),
    );
    let Message::Events(batch) = &frames[0].message else {
        panic!()
    };
    assert_eq!(batch.lost, 11);
    assert_eq!(batch.overwritten_total, 11);
    assert_eq!(batch.events[0].seq, 12);
}

#[test]
fn subscriptions_send_telemetry_at_their_period_and_refuse_silly_periods() {
    let mut n = node();
    let frames = ask(
        &mut n,
        0,
        1,
        Message::Subscribe(Subscribe { period_ms: 10 }),
    );
    assert_eq!(
        frames[0].message,
        Message::Refused(Refused {
            of: rack_protocol::MessageKind::Subscribe,
            reason: Refusal::OutOfRange {
                min: 100,
                max: 60_000
            }
        })
    );
    ask(
        &mut n,
        0,
        2,
        Message::Subscribe(Subscribe { period_ms: 500 }),
    );
    let mut out = Vec::new();
    for ms in (0..=2_000).step_by(100) {
        n.poll(Instant(ms), &mut |b| out.extend_from_slice(b));
    }
    let frames: Vec<_> = FrameDecoder::new().feed(&out).map(Result::unwrap).collect();
    assert_eq!(frames.len(), 5, "at 0, 500, 1000, 1500, 2000 ms");
    assert!(
        frames
            .iter()
            .all(|f| matches!(f.message, Message::CoolantTelemetry(_)))
    );
}

#[test]
fn a_silent_host_is_noticed_and_control_goes_on() {
    let mut n = node();
    // The host's last word: a setpoint other than the default, which must outlive the silence.
    let frames = ask(
        &mut n,
        0,
        1,
        Message::SetSetpoint(SetSetpoint {
            id: SetpointId::SupplyTempCentiC,
            value: 2750,
        }),
    );
    assert!(
        !matches!(frames[0].message, Message::Refused(_)),
        "{frames:?}"
    );
    let now = steps(&mut n, 0, 150);
    n.poll(Instant(now), &mut |_| {});
    assert!(n.comms_lost());
    assert!(n.log().iter().any(|r| r.event
        == EventKind::AlarmRaised {
            code: AlarmCode::CommsLost,
            instance: 0
        }));
    assert_eq!(
        n.app.controller.config().supply_setpoint_c,
        27.5,
        "the last valid setting is kept, not the default"
    );
    assert_eq!(n.app.controller.outputs().supply_setpoint_c, 27.5);
    assert!(n.healthy(Instant(now)), "the control loop is still running");
    ask(&mut n, now, 2, Message::GetIdentity(GetIdentity));
    assert!(!n.comms_lost());
}

#[test]
fn a_late_control_step_is_unhealthy_when_judged_before_it_as_the_boards_do() {
    let mut n = node();
    let now = steps(&mut n, 0, 5);
    // On time: the tick before the step sees the last step 100 ms ago.
    assert!(n.healthy(Instant(now + 100)));
    // The loop stalled for 300 ms: the tick that finally comes must not feed the watchdog.
    let late = now + 300;
    assert!(!n.healthy(Instant(late)), "judged before the late step");
    n.step(Instant(late), |app| {
        app.step(Instant(late), &CoolantInputs::uniform(Instant(late), 30.0))
    });
    assert!(
        n.healthy(Instant(late)),
        "judged after it, any step passes: why the boards judge first"
    );
}

#[test]
fn the_watchdog_is_fed_only_while_the_control_step_runs() {
    let mut n = node();
    assert!(!n.healthy(Instant(0)), "not before the first step");
    let now = steps(&mut n, 0, 3);
    assert!(n.healthy(Instant(now + 200)));
    assert!(!n.healthy(Instant(now + 201)));
}

#[test]
fn garbage_on_the_link_is_counted_and_the_next_frame_answered() {
    let mut n = node();
    let mut out = Vec::new();
    n.on_bytes(Instant(0), &[0x12, 0x34, 0x00, 0xff, 0x00], &mut |b| {
        out.extend_from_slice(b)
    });
    assert!(out.is_empty());
    assert_eq!(n.rejects().total(), 2);
    let frames = ask(&mut n, 0, 3, Message::GetIdentity(GetIdentity));
    assert_eq!(frames.len(), 1);
}

fn refusal_of(frames: &[rack_protocol::Frame]) -> Option<Refusal> {
    match frames.first().map(|f| &f.message) {
        Some(Message::Refused(r)) => Some(r.reason),
        _ => None,
    }
}

fn standby() -> Message {
    Message::SetMode(SetMode {
        mode: ModeSetting::Operating(OperatingMode::Standby),
    })
}

fn supply(value: i32) -> Message {
    Message::SetSetpoint(SetSetpoint {
        id: SetpointId::SupplyTempCentiC,
        value,
    })
}

#[test]
fn a_mac_the_board_computes_is_checked_as_the_images_own_and_none_refuses() {
    // A board's service that computes the MAC (as the bootloaders do).
    fn service(secret: &[u8; 32], signed: &[u8]) -> Option<[u8; 32]> {
        Some(rack_protocol::auth::hmac_sha256(secret, signed))
    }
    // A service that gets it wrong, and a board whose service is missing.
    fn wrong(secret: &[u8; 32], signed: &[u8]) -> Option<[u8; 32]> {
        let mut full = rack_protocol::auth::hmac_sha256(secret, signed);
        full[15] ^= 1;
        Some(full)
    }
    fn missing(_: &[u8; 32], _: &[u8]) -> Option<[u8; 32]> {
        None
    }
    let unauthorized = |r| Some(Refusal::Unauthorized(r));
    let mut n = node();
    let now = steps(&mut n, 0, 5);
    n.keys_mut().set_mac(service);
    assert_eq!(refusal_of(&ask(&mut n, now, 1, supply(2900))), None);
    for (provider, seq) in [(wrong as keys::MacFn, 2), (missing, 3)] {
        n.keys_mut().set_mac(provider);
        assert_eq!(
            refusal_of(&ask(&mut n, now, seq, supply(3100))),
            unauthorized(AuthRefusal::BadMac)
        );
    }
    let Ok(sp) = n.app.get_setpoint(SetpointId::SupplyTempCentiC) else {
        panic!("the supply setpoint reads")
    };
    assert_eq!(
        sp.value, 2900,
        "only the write the service's MAC proved was carried out"
    );
}

#[test]
fn a_write_without_the_right_key_and_fresh_counter_is_refused_and_changes_nothing() {
    let mut n = node();
    let now = steps(&mut n, 0, 5);
    let unauthorized = |r| Some(Refusal::Unauthorized(r));
    // No MAC, an unknown key, a wrong secret under a known id.
    let cases = [
        (None, AuthRefusal::MissingMac),
        (Some((key(9), 10)), AuthRefusal::UnknownKey),
        (
            Some((
                Key {
                    id: MAINTENANCE,
                    secret: [0xee; 32],
                },
                11,
            )),
            AuthRefusal::BadMac,
        ),
    ];
    for (signer, reason) in cases {
        assert_eq!(
            refusal_of(&ask_as(&mut n, now, 1, standby(), signer)),
            unauthorized(reason)
        );
        assert!(n.app.controller.run_enabled(), "pumps still allowed to run");
    }
    // The operator key may set the supply setpoint but not stop the pumps.
    assert_eq!(
        refusal_of(&ask_as(&mut n, now, 2, standby(), Some((key(OPERATOR), 5)))),
        unauthorized(AuthRefusal::RoleTooLow {
            needed: KeyRole::Maintenance
        })
    );
    assert_eq!(
        refusal_of(&ask_as(
            &mut n,
            now,
            3,
            supply(2900),
            Some((key(OPERATOR), 6))
        )),
        None
    );
    // The same counter again (a replay), and an older one (a reorder): refused.
    for counter in [6, 4] {
        assert_eq!(
            refusal_of(&ask_as(
                &mut n,
                now,
                4,
                supply(3100),
                Some((key(OPERATOR), counter))
            )),
            unauthorized(AuthRefusal::Replayed)
        );
    }
    let Ok(sp) = n.app.get_setpoint(SetpointId::SupplyTempCentiC) else {
        panic!()
    };
    assert_eq!(sp.value, 2900, "only the accepted write took effect");
    // The maintenance key stops the pumps.
    assert_eq!(
        refusal_of(&ask_as(
            &mut n,
            now,
            5,
            standby(),
            Some((key(MAINTENANCE), 1))
        )),
        None
    );
    assert!(!n.app.controller.run_enabled());
    // Counted by reason, readable over the protocol.
    let frames = ask(&mut n, now, 6, Message::GetCounters(GetCounters));
    let Message::Counters(c) = &frames[0].message else {
        panic!("{frames:?}")
    };
    assert_eq!(c.auth_refusals, [1, 1, 1, 2, 1]);
    assert_eq!(c.writes_accepted, 2);
    // Reads stay open.
    let frames = ask_as(&mut n, now, 7, Message::GetTelemetry(GetTelemetry), None);
    assert!(matches!(frames[0].message, Message::CoolantTelemetry(_)));
}

#[test]
fn each_accepted_write_names_its_key_and_refusals_are_logged_once_a_second() {
    let mut n = node();
    let now = steps(&mut n, 0, 5);
    ask_as(&mut n, now, 1, supply(2900), Some((key(OPERATOR), 1)));
    let accepted: Vec<_> = n
        .log()
        .iter()
        .filter_map(|r| match r.event {
            EventKind::WriteAccepted { of, key_id } => Some((of, key_id)),
            _ => None,
        })
        .collect();
    assert_eq!(accepted, [(MessageKind::SetSetpoint, OPERATOR)]);
    // 50 refused writes in 0.5 s: one logged, 49 counted as not logged; a second later, one more.
    for i in 0..50 {
        ask_as(&mut n, now + i * 10, 2, standby(), None);
    }
    ask_as(&mut n, now + 1_500, 3, standby(), None);
    let logged = n
        .log()
        .iter()
        .filter(|r| matches!(r.event, EventKind::WriteRefused { .. }))
        .count();
    assert_eq!(logged, 2);
    assert_eq!(n.counters().refusals_not_logged, 49);
    assert_eq!(n.counters().auth_refusals[0], 51);
}

#[test]
fn a_version_1_client_reads_as_before_and_its_writes_are_refused_in_words_it_knows() {
    let mut n = node();
    let now = steps(&mut n, 0, 5);
    let v1 = |message: Message| {
        let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
        let len = frame::encode_version(1, 9, &message, &mut wire).unwrap();
        wire[..len].to_vec()
    };
    let frames = send_wire(&mut n, now, &v1(Message::GetTelemetry(GetTelemetry)));
    assert_eq!(frames[0].version, 1);
    assert!(matches!(frames[0].message, Message::CoolantTelemetry(_)));
    let frames = send_wire(&mut n, now, &v1(standby()));
    assert_eq!(frames[0].version, 1);
    assert_eq!(refusal_of(&frames), Some(Refusal::NotPermitted));
    assert!(n.app.controller.run_enabled());
    // Its event reads skip version 2's events (the refusal just logged).
    let frames = send_wire(
        &mut n,
        now,
        &v1(Message::GetEvents(GetEvents { from_seq: 0 })),
    );
    let Message::Events(e) = &frames[0].message else {
        panic!("{frames:?}")
    };
    assert!(e.events.iter().all(|ev| event_version(ev.kind) == 1));
    assert!(n.log().iter().any(|r| event_version(r.event) == 2));
}

#[test]
fn keys_are_installed_and_revoked_by_maintenance_but_never_the_last_maintenance_key() {
    let mut n = node();
    let now = steps(&mut n, 0, 5);
    let new = Key {
        id: 7,
        secret: [7; 32],
    };
    let install = Message::SetKey(SetKey {
        key_id: 7,
        role: KeyRole::Operator,
        secret: new.secret,
    });
    assert_eq!(
        refusal_of(&ask_as(
            &mut n,
            now,
            1,
            install.clone(),
            Some((key(OPERATOR), 1))
        )),
        Some(Refusal::Unauthorized(AuthRefusal::RoleTooLow {
            needed: KeyRole::Maintenance
        }))
    );
    assert_eq!(refusal_of(&ask(&mut n, now, 2, install)), None);
    assert_eq!(
        refusal_of(&ask_as(
            &mut n,
            now,
            3,
            supply(2800),
            Some((new.clone(), 1))
        )),
        None
    );
    assert_eq!(
        refusal_of(&ask(
            &mut n,
            now,
            4,
            Message::RevokeKey(RevokeKey { key_id: 7 })
        )),
        None
    );
    assert_eq!(
        refusal_of(&ask_as(&mut n, now, 5, supply(2700), Some((new, 2)))),
        Some(Refusal::Unauthorized(AuthRefusal::UnknownKey))
    );
    assert_eq!(
        refusal_of(&ask(
            &mut n,
            now,
            6,
            Message::RevokeKey(RevokeKey {
                key_id: MAINTENANCE
            })
        )),
        Some(Refusal::NotPermitted)
    );
    assert!(n.log().iter().any(|r| r.event
        == EventKind::KeyChanged {
            key_id: 7,
            role: None
        }));
}

#[test]
fn a_missing_alarm_a_wrong_device_and_the_rotation_range_are_refused_by_name() {
    let mut n = node();
    let now = steps(&mut n, 0, 5);
    let ack = Message::AckAlarm(AckAlarm {
        code: AlarmCode::SensorFault,
        instance: 9,
    });
    assert_eq!(
        refusal_of(&ask(&mut n, now, 1, ack)),
        Some(Refusal::NoSuchAlarm)
    );
    let cap = Message::SetSetpoint(SetSetpoint {
        id: SetpointId::RackPowerBudgetW,
        value: 100_000,
    });
    let wrong = Some(Refusal::WrongDevice {
        device: DeviceKind::CoolantController,
    });
    assert_eq!(refusal_of(&ask(&mut n, now, 2, cap)), wrong);
    let tray = Message::Command(Command {
        action: Action::DisableTray(3),
    });
    assert_eq!(refusal_of(&ask(&mut n, now, 3, tray)), wrong);
    let rotation = |value| {
        Message::SetSetpoint(SetSetpoint {
            id: SetpointId::LeadRotationIntervalS,
            value,
        })
    };
    assert_eq!(
        refusal_of(&ask(&mut n, now, 4, rotation(0))),
        Some(Refusal::OutOfRange {
            min: 3_600,
            max: 2_592_000
        })
    );
    assert_eq!(refusal_of(&ask(&mut n, now, 5, rotation(86_400))), None);
}

#[test]
fn a_lost_link_is_an_alarm_until_restored_and_acknowledged() {
    let mut n = node();
    ask(&mut n, 0, 1, Message::GetIdentity(GetIdentity));
    let now = steps(&mut n, 0, 150);
    n.poll(Instant(now), &mut |_| {});
    assert!(n.comms_lost());
    let listed = |n: &mut Node<CoolantApp>, at| {
        let frames = ask(n, at, 2, Message::GetAlarms(GetAlarms));
        let Message::Alarms(a) = &frames[0].message else {
            panic!("{frames:?}")
        };
        a.entries
            .iter()
            .find(|e| e.code == AlarmCode::CommsLost)
            .map(|e| (e.active, e.acknowledged))
    };
    // Asking restores the link: the alarm is no longer active but stays until acknowledged.
    assert_eq!(listed(&mut n, now), Some((false, false)));
    let ack = Message::AckAlarm(AckAlarm {
        code: AlarmCode::CommsLost,
        instance: 0,
    });
    assert_eq!(refusal_of(&ask(&mut n, now, 3, ack)), None);
    assert_eq!(listed(&mut n, now), None);
    // A setpoint read still answers the value in force.
    let frames = ask(
        &mut n,
        now,
        4,
        Message::GetSetpoint(GetSetpoint {
            id: SetpointId::SupplyTempCentiC,
        }),
    );
    assert!(matches!(frames[0].message, Message::Setpoint(_)));
}

#[test]
fn a_power_cap_below_the_floor_takes_the_floor_down_with_it_and_logs_both() {
    use rack_control::power::{PowerConfig, PowerController};
    let mut n = Node::new(
        crate::power::PowerApp::new(PowerController::running(PowerConfig::default())),
        NodeConfig::default(),
        Instant(0),
    );
    n.keys_mut()
        .install(OPERATOR, KeyRole::Operator, key(OPERATOR).secret)
        .unwrap();
    let floor_before = n.app.get_setpoint(SetpointId::PowerFloorW).unwrap().value;
    assert!(
        floor_before > 28_200,
        "the default floor is above the cap set below"
    );
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    let cap = Message::SetSetpoint(SetSetpoint {
        id: SetpointId::RackPowerBudgetW,
        value: 28_200,
    });
    let len = frame::encode_signed(1, &cap, &key(OPERATOR), 1, &mut wire).unwrap();
    let mut out = Vec::new();
    n.on_bytes(Instant(100), &wire[..len], &mut |b| {
        out.extend_from_slice(b)
    });
    let frames: Vec<_> = FrameDecoder::new().feed(&out).map(Result::unwrap).collect();
    assert!(
        matches!(frames[0].message, Message::Setpoint(s) if s.value == 28_200),
        "{frames:?}"
    );
    let floor = n.app.get_setpoint(SetpointId::PowerFloorW).unwrap();
    assert_eq!(floor.value, 28_200);
    assert!(floor.value <= floor.max, "{floor:?}");
    assert!(n.log().iter().any(|r| r.event
        == EventKind::SetpointChanged {
            id: SetpointId::PowerFloorW,
            value: 28_200
        }));
}

#[test]
fn a_device_configured_so_asks_a_key_for_reads_but_not_for_its_identity() {
    let app = CoolantApp::new(CoolantController::new(CoolantConfig::default()));
    let mut n = Node::new(
        app,
        NodeConfig {
            reads_need_key: true,
            ..NodeConfig::default()
        },
        Instant(0),
    );
    let reader = Key {
        id: 5,
        secret: [5; 32],
    };
    n.keys_mut()
        .install(reader.id, KeyRole::Reader, reader.secret)
        .unwrap();
    let now = steps(&mut n, 0, 3);
    let telemetry = Message::GetTelemetry(GetTelemetry);
    assert_eq!(
        refusal_of(&ask_as(&mut n, now, 1, telemetry.clone(), None)),
        Some(Refusal::Unauthorized(AuthRefusal::MissingMac))
    );
    let frames = ask_as(&mut n, now, 2, telemetry, Some((reader.clone(), 1)));
    assert!(matches!(frames[0].message, Message::CoolantTelemetry(_)));
    let frames = ask_as(&mut n, now, 3, Message::GetIdentity(GetIdentity), None);
    assert!(matches!(frames[0].message, Message::Identity(_)));
    // A reader key may read, not write.
    assert_eq!(
        refusal_of(&ask_as(&mut n, now, 4, supply(2900), Some((reader, 2)))),
        Some(Refusal::Unauthorized(AuthRefusal::RoleTooLow {
            needed: KeyRole::Operator
        }))
    );
}

mod settings {
    //! The settings store over NOR flash, and a node's settings across a reset.
    use super::*;
    use crate::settings::{
        BodyWriter, LAYOUT, RECORD_MAX, RamFlash, SAVE_BURST, SAVE_REFILL_MS, SAVE_SETTLE_MS,
        SavePolicy, Store, read_body,
    };
    use rack_protocol::message::SetKey;
    use rack_protocol::types::PumpControlMode;

    /// Eight 2 KiB pages, as the Nucleo's store.
    const SIZE: usize = 8 * 2048;
    const SIZE_U32: u32 = 8 * 2048;

    fn erased() -> Vec<u8> {
        std::vec![0xff; SIZE]
    }

    fn store(mem: &mut [u8]) -> Store<RamFlash<'_>> {
        Store::new(
            RamFlash::new(mem),
            0..SIZE_U32,
            DeviceKind::CoolantController,
        )
        .unwrap()
    }

    /// A body as large as a device writes: a setpoint, a mode, eight keys.
    fn sample(supply: i32) -> Vec<u8> {
        let mut out = [0u8; RECORD_MAX];
        let mut body = BodyWriter::new(&mut out);
        body.setpoint(SetpointId::SupplyTempCentiC, supply).unwrap();
        body.mode(ModeSetting::PumpControl(PumpControlMode::Flow))
            .unwrap();
        for id in 1..=u16::try_from(crate::MAX_KEYS).unwrap() {
            let key = SetKey {
                key_id: id,
                role: KeyRole::Maintenance,
                secret: [0xa5; 32],
            };
            body.key(&key, Some(u64::MAX - u64::from(id))).unwrap();
        }
        let len = body.len();
        out[..len].to_vec()
    }

    #[test]
    fn a_body_reads_back_as_the_requests_written_and_nothing_else_passes() {
        let body = sample(2_870);
        let mut seen = Vec::new();
        assert!(read_body(&body, &mut |request, counter| seen.push((request, counter))));
        assert_eq!(seen.len(), 10);
        assert_eq!(
            seen[0].0,
            Message::SetSetpoint(SetSetpoint {
                id: SetpointId::SupplyTempCentiC,
                value: 2_870
            })
        );
        assert_eq!(seen[9].1, Some(u64::MAX - 8));
        // Cut short, it is a body only where an item ends (nine places); with another
        // request in it, it is none.
        let whole = (1..body.len())
            .filter(|&cut| read_body(&body[..cut], &mut |_, _| {}))
            .count();
        assert_eq!(whole, 9);
        let mut other = [2u8, 0].to_vec(); // GetTelemetry, empty payload
        other.extend_from_slice(&body);
        assert!(!read_body(&other, &mut |_, _| {}));
    }

    #[test]
    fn erased_flash_is_empty_and_what_is_saved_is_read_back_newest_first() {
        let mut mem = erased();
        let mut st = store(&mut mem);
        assert_eq!(st.load(), (StoreStatus::Empty, None));
        // Many times round the ring of pages: the newest always wins.
        for v in 0..200 {
            st.save(&sample(2_500 + v)).unwrap();
        }
        let newest = sample(2_699);
        assert_eq!(st.load(), (StoreStatus::Loaded, Some(&newest[..])));
        // A store opened afresh over the same flash (the next boot) reads the same.
        assert_eq!(store(&mut mem).load().1, Some(&newest[..]));
    }

    #[test]
    fn a_damaged_or_foreign_store_is_corrupt_erased_and_written_again() {
        // One record, one bit of it flipped: nothing passes its CRC.
        let mut mem = erased();
        store(&mut mem).save(&sample(2_900)).unwrap();
        let written = mem.iter().rposition(|&b| b != 0xff).unwrap();
        mem[written / 2] ^= 0x10;
        let mut st = store(&mut mem);
        assert_eq!(st.load(), (StoreStatus::Corrupt, None));
        // Erased by the load: empty now, and it takes a save again.
        assert_eq!(st.load(), (StoreStatus::Empty, None));
        st.save(&sample(2_950)).unwrap();
        assert_eq!(st.load().1, Some(&sample(2_950)[..]));

        // Two records, the newer damaged: the older is in force, the store says it was
        // corrupt, and is rewritten so that the next boot finds it sound.
        let mut mem = erased();
        let mut st = store(&mut mem);
        st.save(&sample(2_800)).unwrap();
        st.save(&sample(2_810)).unwrap();
        let second = mem.iter().rposition(|&b| b != 0xff).unwrap();
        mem[second - 40] ^= 0x01;
        let older = sample(2_800);
        assert_eq!(
            store(&mut mem).load(),
            (StoreStatus::Corrupt, Some(&older[..]))
        );
        assert_eq!(
            store(&mut mem).load(),
            (StoreStatus::Loaded, Some(&older[..]))
        );

        // Flash that was never erased (garbage).
        let mut mem: Vec<u8> = (0..SIZE).map(|i| (i * 7 + 3).to_le_bytes()[0]).collect();
        assert_eq!(store(&mut mem).load().0, StoreStatus::Corrupt);

        // A valid record of another device kind.
        let mut mem = erased();
        let mut power = Store::new(
            RamFlash::new(&mut mem),
            0..SIZE_U32,
            DeviceKind::PowerController,
        )
        .unwrap();
        power.save(&sample(3_000)).unwrap();
        assert_eq!(store(&mut mem).load().0, StoreStatus::Corrupt);

        // A valid record of another layout (a later firmware's, say).
        let mut mem = erased();
        store(&mut mem).save(&sample(3_000)).unwrap();
        mem[2] = LAYOUT + 1;
        let len = usize::from(u16::from_le_bytes([mem[4], mem[5]]));
        let mut digest = rack_protocol::frame::CRC.digest();
        digest.update(&mem[..12]);
        digest.update(&mem[16..16 + len]);
        mem[12..16].copy_from_slice(&digest.finalize().to_le_bytes());
        assert_eq!(store(&mut mem).load().0, StoreStatus::Corrupt);
    }

    /// NOR flash that loses power after `budget` more bytes of writing or erasing: the write
    /// in progress is torn there, an erase leaves its page half erased.
    struct TornFlash<'a> {
        mem: &'a mut [u8],
        budget: usize,
    }

    impl embedded_storage::nor_flash::ErrorType for TornFlash<'_> {
        type Error = embedded_storage::nor_flash::NorFlashErrorKind;
    }

    impl embedded_storage::nor_flash::ReadNorFlash for TornFlash<'_> {
        const READ_SIZE: usize = 1;
        fn read(&mut self, at: u32, out: &mut [u8]) -> Result<(), Self::Error> {
            out.copy_from_slice(&self.mem[at as usize..at as usize + out.len()]);
            Ok(())
        }
        fn capacity(&self) -> usize {
            self.mem.len()
        }
    }

    impl embedded_storage::nor_flash::NorFlash for TornFlash<'_> {
        const WRITE_SIZE: usize = 8;
        const ERASE_SIZE: usize = 2048;
        fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
            let (from, to) = (from as usize, to as usize);
            let done = (to - from).min(self.budget);
            self.mem[from..from + done].fill(0xff);
            self.budget -= done;
            if from + done < to {
                return Err(embedded_storage::nor_flash::NorFlashErrorKind::Other);
            }
            Ok(())
        }
        fn write(&mut self, at: u32, bytes: &[u8]) -> Result<(), Self::Error> {
            let done = bytes.len().min(self.budget);
            for (cell, b) in self.mem[at as usize..].iter_mut().zip(&bytes[..done]) {
                *cell &= b;
            }
            self.budget -= done;
            if done < bytes.len() {
                return Err(embedded_storage::nor_flash::NorFlashErrorKind::Other);
            }
            Ok(())
        }
    }

    #[test]
    fn power_lost_while_saving_costs_at_most_that_save() {
        // Five records a page: stores whose next save fits its page, needs the next page
        // erased, or wraps round to the first.
        for saves in [1, 4, 5, 8 * 5, 8 * 5 + 3] {
            let mut base = erased();
            let mut st = store(&mut base);
            for v in 0..saves {
                st.save(&sample(2_000 + v)).unwrap();
            }
            let old = sample(2_000 + saves - 1);
            let new = sample(2_999);
            let mut outcomes = [false; 2];
            let mut torn_records = [false; 2];
            for cut in (0..2_600).step_by(13) {
                let mut mem = base.clone();
                let mut torn = Store::new(
                    TornFlash {
                        mem: &mut mem,
                        budget: cut,
                    },
                    0..SIZE_U32,
                    DeviceKind::CoolantController,
                )
                .unwrap();
                assert_eq!(torn.load(), (StoreStatus::Loaded, Some(&old[..])));
                let saved = torn.save(&new).is_ok();
                outcomes[usize::from(saved)] = true;
                // Power back: the next boot finds the old settings or the new, and says whether
                // a record was cut short (the alarm); the boot after finds the store sound.
                let mut next = store(&mut mem);
                let (status, kept) = next.load();
                let kept = kept.unwrap().to_vec(); // a good record survives
                assert!(
                    matches!(status, StoreStatus::Loaded | StoreStatus::Corrupt),
                    "{saves} saves, cut at {cut}: {status:?}"
                );
                if saved {
                    assert_eq!((status, &kept), (StoreStatus::Loaded, &new));
                } else {
                    assert!(kept == old || kept == new, "{saves} saves, cut at {cut}");
                }
                torn_records[usize::from(status == StoreStatus::Corrupt)] = true;
                assert_eq!(
                    store(&mut mem).load(),
                    (StoreStatus::Loaded, Some(&kept[..])),
                    "{saves} saves, cut at {cut}: healed"
                );
            }
            assert_eq!(
                torn_records,
                [true, true],
                "cuts that tore a record, and that did not"
            );
            assert_eq!(
                outcomes,
                [true, true],
                "cut before and after the save completes"
            );
        }
    }

    #[test]
    fn a_region_that_is_not_whole_pages_is_refused() {
        let mut mem = erased();
        for range in [0..2048, 100..4196, 0..5000] {
            assert!(
                Store::new(
                    RamFlash::new(&mut mem),
                    range.clone(),
                    DeviceKind::CoolantController
                )
                .is_err(),
                "{range:?}"
            );
        }
    }

    #[test]
    fn saves_wait_for_changes_to_settle_and_keep_within_the_wear_budget() {
        let mut p = SavePolicy::new(Instant(0));
        assert!(!p.due(Instant(10_000)), "nothing changed");
        p.changed();
        assert!(!p.due(Instant(10_000)), "seen now, settles from now");
        assert!(!p.due(Instant(10_000 + SAVE_SETTLE_MS - 1)));
        // Another change while settling starts the wait again.
        p.changed();
        assert!(!p.due(Instant(10_000 + SAVE_SETTLE_MS)));
        assert!(p.due(Instant(10_000 + 2 * SAVE_SETTLE_MS)));
        assert!(!p.due(Instant(20_000)), "saved already");
        // A client that writes every second, the board asking every second: the bucket
        // empties, then one save per refill.
        let mut saves = 1;
        let hours = 10;
        for s in 21..(hours * 3_600) {
            p.changed();
            if p.due(Instant(s * 1_000)) {
                saves += 1;
            }
            // Seen at one poll, due at the next (a change every other second).
            if s % 2 == 0 && p.due(Instant(s * 1_000 + SAVE_SETTLE_MS)) {
                saves += 1;
            }
        }
        let expected = u64::from(SAVE_BURST) + hours * 3_600_000 / SAVE_REFILL_MS;
        assert!(
            saves <= expected && saves + 1 >= expected,
            "{saves} saves, expected {expected}"
        );
    }

    /// Asks `n` for its settings to save as a board does, once now and once settled; the
    /// body to write if due.
    fn save_due(n: &mut Node<CoolantApp>, now: u64) -> Option<Vec<u8>> {
        assert!(!n.settings_due(Instant(now)), "not settled yet");
        n.settings_due(Instant(now + SAVE_SETTLE_MS)).then(|| {
            let mut out = [0u8; RECORD_MAX];
            let len = n.write_settings(&mut out).unwrap();
            out[..len].to_vec()
        })
    }

    /// The supply temperature setpoint in force, 0.01 degC.
    fn supply_setpoint(n: &Node<CoolantApp>) -> i32 {
        n.app
            .get_setpoint(SetpointId::SupplyTempCentiC)
            .unwrap()
            .value
    }

    /// A node booted from `kept` (as a board does after reading its store).
    fn booted(status: StoreStatus, kept: Option<&[u8]>) -> Node<CoolantApp> {
        let mut n = node();
        n.restore_settings(Instant(0), status, kept);
        n
    }

    fn alarms(n: &mut Node<CoolantApp>, version: u8) -> Vec<AlarmEntry> {
        let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
        let len =
            frame::encode_version(version, 1, &Message::GetAlarms(GetAlarms), &mut wire).unwrap();
        let frames = send_wire(n, 0, &wire[..len]);
        let Message::Alarms(a) = &frames[0].message else {
            panic!("{frames:?}")
        };
        a.entries.to_vec()
    }

    #[test]
    fn settings_set_over_the_protocol_are_kept_and_restored_with_the_keys_counters() {
        let mut n = node();
        let now = steps(&mut n, 0, 5);
        assert!(!n.settings_due(Instant(now + 10_000)));
        let counter = next_counter();
        let frames = ask_as(
            &mut n,
            now,
            1,
            supply(2_870),
            Some((key(OPERATOR), counter)),
        );
        assert!(
            matches!(frames[0].message, Message::Setpoint(_)),
            "{frames:?}"
        );
        ask(
            &mut n,
            now,
            2,
            Message::SetMode(SetMode {
                mode: ModeSetting::PumpControl(PumpControlMode::Flow),
            }),
        );
        let kept = save_due(&mut n, now).unwrap();
        n.settings_saved(Instant(now + SAVE_SETTLE_MS), true);
        assert!(!n.settings_due(Instant(now + 10_000)), "saved");

        // Through the flash and a reboot, into a node that starts without the keys.
        let mut mem = erased();
        store(&mut mem).save(&kept).unwrap();
        let mut st = store(&mut mem);
        let (status, loaded) = st.load();
        let mut n = node();
        n.keys_mut().clear();
        n.restore_settings(Instant(0), status, loaded);
        assert_eq!(n.diagnostics_mut().settings, StoreStatus::Loaded);
        assert_eq!(supply_setpoint(&n), 2_870);
        assert!(matches!(
            n.app.telemetry(Instant(0)),
            Message::CoolantTelemetry(t) if t.pump_control == PumpControlMode::Flow
        ));
        assert!(alarms(&mut n, 3).is_empty());
        // The keys came back with their counters: the frame accepted before is a replay now.
        let frames = ask_as(&mut n, 0, 3, supply(2_870), Some((key(OPERATOR), counter)));
        assert_eq!(
            refusal_of(&frames),
            Some(Refusal::Unauthorized(AuthRefusal::Replayed))
        );
    }

    #[test]
    fn an_empty_or_corrupt_store_boots_the_defaults_and_raises_an_alarm_until_saved() {
        for (status, instance, severity) in [
            (StoreStatus::Empty, 0, Severity::Warning),
            (StoreStatus::Corrupt, 1, Severity::Critical),
        ] {
            let mut n = booted(status, None);
            assert_eq!(supply_setpoint(&n), 3_000);
            assert_eq!(n.diagnostics_mut().settings, status);
            let listed = alarms(&mut n, 3);
            assert_eq!(listed.len(), 1, "{listed:?}");
            let a = listed[0];
            assert_eq!(
                (a.code, a.instance, a.severity, a.active),
                (AlarmCode::SettingsLost, instance, severity, true)
            );
            // A version 2 client cannot decode the code: not told of it, nor of its event.
            assert!(alarms(&mut n, 2).is_empty());
            assert!(n.log().iter().any(|r| matches!(
                r.event,
                EventKind::AlarmRaised {
                    code: AlarmCode::SettingsLost,
                    ..
                }
            )));
            // Once settings are written, the condition is gone; acknowledged, it goes.
            let now = steps(&mut n, 0, 5);
            ask(&mut n, now, 4, supply(2_900));
            assert!(save_due(&mut n, now).is_some());
            n.settings_saved(Instant(now + SAVE_SETTLE_MS), true);
            assert!(!alarms(&mut n, 3)[0].active);
            let frames = ask(
                &mut n,
                now,
                5,
                Message::AckAlarm(AckAlarm {
                    code: AlarmCode::SettingsLost,
                    instance,
                }),
            );
            assert!(matches!(frames[0].message, Message::Ack(_)), "{frames:?}");
            assert!(alarms(&mut n, 3).is_empty());
        }
    }

    #[test]
    fn a_corrupt_store_with_a_good_record_puts_it_in_force_and_warns() {
        let mut body = [0u8; RECORD_MAX];
        let mut w = BodyWriter::new(&mut body);
        w.setpoint(SetpointId::SupplyTempCentiC, 2_880).unwrap();
        let len = w.len();
        let mut n = booted(StoreStatus::Corrupt, Some(&body[..len]));
        assert_eq!(supply_setpoint(&n), 2_880);
        let listed = alarms(&mut n, 3);
        assert_eq!(
            (listed[0].code, listed[0].instance, listed[0].severity),
            (AlarmCode::SettingsLost, 1, Severity::Warning)
        );
        // A body this firmware cannot read is not applied: the built-in settings, critical.
        let mut n = booted(StoreStatus::Loaded, Some(&[2, 0]));
        assert_eq!(n.diagnostics_mut().settings, StoreStatus::Corrupt);
        assert_eq!(supply_setpoint(&n), 3_000);
        assert_eq!(alarms(&mut n, 3)[0].severity, Severity::Critical);
    }

    #[test]
    fn a_store_that_cannot_be_written_says_so_and_is_tried_again() {
        let mut n = booted(StoreStatus::Loaded, Some(&[]));
        let now = steps(&mut n, 0, 5);
        ask(&mut n, now, 1, supply(2_900));
        assert!(save_due(&mut n, now).is_some());
        let t = Instant(now + SAVE_SETTLE_MS);
        n.settings_saved(t, false);
        assert_eq!(n.diagnostics_mut().settings, StoreStatus::Unwritable);
        let listed = alarms(&mut n, 3);
        assert_eq!(
            (listed[0].code, listed[0].instance),
            (AlarmCode::SettingsLost, 2)
        );
        let retry = t.plus_millis(SAVE_SETTLE_MS);
        assert!(save_due(&mut n, retry.as_millis()).is_some(), "tried again");
        n.settings_saved(retry, true);
        assert!(!alarms(&mut n, 3)[0].active);
    }
}

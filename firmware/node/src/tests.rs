//! The node as a host sees it: frames in, frames out.
#![allow(
    clippy::needless_pass_by_value,
    clippy::semicolon_if_nothing_returned,
    clippy::float_cmp
)]
extern crate std;

use std::vec::Vec;

use rack_control::coolant::{CoolantConfig, CoolantController, CoolantInputs};
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::message::{GetEvents, GetIdentity, GetTelemetry, SetSetpoint, Subscribe};

use super::*;
use crate::coolant::CoolantApp;

fn node() -> Node<CoolantApp> {
    let app = CoolantApp::new(CoolantController::new(CoolantConfig::default()));
    Node::new(
        app,
        NodeConfig {
            serial: "CDU-TEST-1",
            ..NodeConfig::default()
        },
        Instant(0),
    )
}

/// Sends `message` with `seq` and returns the frames the node answered.
fn ask(
    node: &mut Node<CoolantApp>,
    now: u64,
    seq: u16,
    message: Message,
) -> Vec<rack_protocol::Frame> {
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    let len = frame::encode(seq, &message, &mut wire).unwrap();
    let mut out = Vec::new();
    node.on_bytes(Instant(now), &wire[..len], &mut |bytes| {
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
            id: SetpointId::RackPowerBudgetW,
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

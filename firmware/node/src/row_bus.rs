//! The row bus on CAN FD: how the CDU and the racks' power controllers exchange power
//! reports, the thermal headroom and isolation requests on a board (the simulator passes the
//! same values in memory).
//!
//! Each CAN FD frame carries one whole protocol frame (COBS, header, postcard body, CRC-32C,
//! as on the host link): every row-bus message is far below the 64-byte CAN FD payload, and a
//! receiver checks it with the same decoder and CRC as any other link. The payload is padded
//! with zeros to the next CAN FD length; a zero is the frame delimiter, so the padding decodes
//! as nothing.
//!
//! Identifiers (11-bit, lower wins arbitration): isolation requests 0x040 + rack, the CDU's
//! headroom 0x080, power reports 0x100 + rack.

use rack_control::Instant;
use rack_control::coolant::{CoolantOutputs, MAX_RACKS, RackReport};
use rack_control::power::{PowerInputs, PowerOutputs};
use rack_protocol::MessageKind;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame;
use rack_protocol::message::{IsolationRequest, Message, RackPowerReport, ThermalHeadroom};
use rack_protocol::types::Reason;

/// The largest CAN FD payload, bytes.
pub const CAN_FD_MAX: usize = 64;
/// Identifier of an isolation request for rack 0 (rack r: + r).
pub const ID_ISOLATION: u16 = 0x040;
/// Identifier of the CDU's headroom broadcast.
pub const ID_HEADROOM: u16 = 0x080;
/// Identifier of rack 0's power report (rack r: + r).
pub const ID_POWER_REPORT: u16 = 0x100;
/// How long a rack holds an isolation request after the last one heard, ms (the CDU repeats
/// it every control period while it stands).
pub const ISOLATION_HOLD_MS: u64 = 1_000;

/// One row-bus frame to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusFrame {
    /// 11-bit identifier.
    pub id: u16,
    /// Payload, `len` bytes used (a CAN FD length).
    pub data: [u8; CAN_FD_MAX],
    /// Payload length, one of the CAN FD lengths.
    pub len: usize,
}

impl BusFrame {
    /// The payload.
    pub fn payload(&self) -> &[u8] {
        self.data.get(..self.len).unwrap_or(&[])
    }
}

/// The CAN FD length that holds `n` bytes (0..=8, 12, 16, 20, 24, 32, 48, 64).
fn fd_len(n: usize) -> usize {
    match n {
        0..=8 => n,
        9..=24 => n.div_ceil(4) * 4,
        25..=32 => 32,
        33..=48 => 48,
        _ => CAN_FD_MAX,
    }
}

/// The kinds the row bus carries (its encoder keeps these only).
fn on_the_row_bus(kind: MessageKind) -> bool {
    matches!(
        kind,
        MessageKind::RackPowerReport | MessageKind::ThermalHeadroom | MessageKind::IsolationRequest
    )
}

/// Encodes `message` as a row-bus frame with identifier `id`; `None` if it does not fit or is
/// not a row-bus message.
pub fn encode(id: u16, seq: u16, message: &Message) -> Option<BusFrame> {
    let mut data = [0u8; CAN_FD_MAX];
    let n = frame::encode_version_sent_by(
        rack_protocol::PROTOCOL_VERSION,
        seq,
        message,
        &mut data,
        on_the_row_bus,
    )
    .ok()?;
    Some(BusFrame {
        id,
        data,
        len: fd_len(n),
    })
}

/// Decodes a received payload: every protocol frame in it (normally one).
pub fn decode<'a>(
    decoder: &'a mut FrameDecoder,
    payload: &'a [u8],
) -> impl Iterator<Item = Message> + 'a {
    // A frame ends at a zero: close any frame a cut payload left open, so that it cannot glue
    // onto this one (it fails its CRC and is counted).
    let _ = decoder.push(0);
    decoder
        .feed(payload)
        .filter_map(|f| f.ok().map(|f| f.message))
}

fn centi(c: f32) -> i16 {
    #[allow(clippy::cast_possible_truncation)] // clamped to the i16 range
    let v = libm::roundf(c * 100.0).clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16;
    v
}

fn watts(w: f32) -> u32 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped, non-negative
    let v = libm::roundf(w.clamp(0.0, 4.0e9)) as u32;
    v
}

#[allow(clippy::cast_precision_loss)] // watts below 2^24 are exact; a rack is ~132 kW
fn f32_of(w: u32) -> f32 {
    w as f32
}

/// The CDU's side of the row bus.
#[derive(Debug, Clone)]
pub struct CduRowBus {
    /// Row index broadcast with the headroom.
    pub row: u16,
    /// Latest report of each rack.
    pub reports: [Option<RackReport>; MAX_RACKS],
    seq: u16,
}

impl CduRowBus {
    /// A bus side for row `row` that has heard no rack yet.
    pub fn new(row: u16) -> Self {
        Self {
            row,
            reports: [None; MAX_RACKS],
            seq: 0,
        }
    }

    /// Takes in one received message (others are ignored).
    pub fn receive(&mut self, now: Instant, message: &Message) {
        if let Message::RackPowerReport(r) = message
            && let Some(slot) = self.reports.get_mut(usize::from(r.rack))
        {
            *slot = Some(RackReport {
                input_power_w: f32_of(r.input_power_w),
                hottest_gpu_c: f32::from(r.hottest_gpu_temp_centi_c) / 100.0,
                at: now,
            });
        }
    }

    /// What the CDU sends after a control step: the headroom, then an isolation request for
    /// every rack whose isolation stands.
    pub fn broadcasts(&mut self, outputs: &CoolantOutputs, mut send: impl FnMut(BusFrame)) {
        let state = crate::coolant::state(outputs.state);
        let headroom = Message::ThermalHeadroom(ThermalHeadroom {
            row: self.row,
            headroom_w: watts(outputs.headroom_w),
            supply_temp_centi_c: outputs.supply_temp_c.map_or(i16::MIN, centi),
            state,
        });
        self.seq = self.seq.wrapping_add(1);
        if let Some(f) = encode(ID_HEADROOM, self.seq, &headroom) {
            send(f);
        }
        for rack in 0..MAX_RACKS {
            if outputs.isolation_requests >> rack & 1 == 1 {
                #[allow(clippy::cast_possible_truncation)] // rack < 16
                let request = Message::IsolationRequest(IsolationRequest {
                    rack: rack as u8,
                    reason: Reason::Leak,
                });
                self.seq = self.seq.wrapping_add(1);
                #[allow(clippy::cast_possible_truncation)] // rack < 16
                if let Some(f) = encode(ID_ISOLATION + rack as u16, self.seq, &request) {
                    send(f);
                }
            }
        }
    }
}

/// A rack power controller's side of the row bus.
#[derive(Debug, Clone)]
pub struct RackRowBus {
    /// This rack's index in the row.
    pub rack: u8,
    headroom: Option<(f32, Instant)>,
    isolation_heard: Option<Instant>,
    seq: u16,
}

impl RackRowBus {
    /// The bus side of rack `rack`, which has heard nothing yet.
    pub fn new(rack: u8) -> Self {
        Self {
            rack,
            headroom: None,
            isolation_heard: None,
            seq: 0,
        }
    }

    /// Takes in one received message (others, and requests for other racks, are ignored).
    pub fn receive(&mut self, now: Instant, message: &Message) {
        match message {
            Message::ThermalHeadroom(h) => self.headroom = Some((f32_of(h.headroom_w), now)),
            Message::IsolationRequest(r) if r.rack == self.rack => {
                self.isolation_heard = Some(now);
            }
            _ => {}
        }
    }

    /// Fills the row-bus part of the controller's inputs: the latest headroom with the time it
    /// was heard (the controller judges its age), and whether isolation is requested.
    pub fn fill(&self, now: Instant, inputs: &mut PowerInputs) {
        inputs.headroom = self.headroom;
        inputs.isolation_requested = self
            .isolation_heard
            .is_some_and(|at| now.as_millis().saturating_sub(at.as_millis()) <= ISOLATION_HOLD_MS);
    }

    /// The power report this rack sends after a control step.
    pub fn report(&mut self, inputs: &PowerInputs, outputs: &PowerOutputs) -> Option<BusFrame> {
        let hottest = inputs
            .tray_hottest_gpu_c
            .iter()
            .copied()
            .fold(f32::MIN, f32::max);
        let report = Message::RackPowerReport(RackPowerReport {
            rack: self.rack,
            input_power_w: watts(inputs.input_power_w),
            power_cap_w: watts(outputs.budget_w),
            hottest_gpu_temp_centi_c: centi(hottest),
        });
        self.seq = self.seq.wrapping_add(1);
        encode(ID_POWER_REPORT + u16::from(self.rack), self.seq, &report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rack_control::coolant::{CoolantConfig, CoolantController};
    use rack_control::power::{PowerConfig, PowerController};

    fn idle() -> PowerInputs {
        PowerInputs {
            ac_present: true,
            input_power_w: 0.0,
            feed_current_a: 0.0,
            psu_present: [[true; rack_control::power::PSUS_PER_SHELF];
                rack_control::power::SHELVES],
            psu_fault: [[false; rack_control::power::PSUS_PER_SHELF]; rack_control::power::SHELVES],
            tray_demand_w: [0.0; rack_control::power::TRAYS],
            tray_power_w: [0.0; rack_control::power::TRAYS],
            tray_hottest_gpu_c: [40.0; rack_control::power::TRAYS],
            bbu_soc: 1.0,
            headroom: None,
            isolation_requested: false,
        }
    }

    fn all(decoder: &mut FrameDecoder, f: &BusFrame) -> heapless::Vec<Message, 4> {
        decode(decoder, f.payload()).collect()
    }

    #[test]
    fn fd_lengths_are_the_ones_can_fd_allows() {
        for n in 0..=64 {
            let l = fd_len(n);
            assert!(l >= n);
            assert!([0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64].contains(&l));
        }
    }

    #[test]
    fn a_rack_report_reaches_the_cdu_inputs() {
        let mut rack = RackRowBus::new(5);
        let power = PowerController::new(PowerConfig::default());
        let mut inputs = idle();
        inputs.input_power_w = 131_500.0;
        inputs.tray_hottest_gpu_c[7] = 78.25;
        let f = rack.report(&inputs, power.outputs()).unwrap();
        assert_eq!(f.id, ID_POWER_REPORT + 5);
        assert!(f.len <= CAN_FD_MAX);
        let mut cdu = CduRowBus::new(0);
        let mut decoder = FrameDecoder::new();
        for m in all(&mut decoder, &f) {
            cdu.receive(Instant(4_200), &m);
        }
        let r = cdu.reports[5].unwrap();
        assert_eq!(r.input_power_w, 131_500.0);
        assert_eq!(r.hottest_gpu_c, 78.25);
        assert_eq!(r.at, Instant(4_200));
        assert!(
            cdu.reports
                .iter()
                .enumerate()
                .all(|(i, r)| i == 5 || r.is_none())
        );
    }

    #[test]
    fn headroom_and_isolation_reach_only_the_rack_they_name() {
        let controller = CoolantController::new(CoolantConfig::default());
        let mut outputs = *controller.outputs();
        outputs.headroom_w = 250_000.0;
        outputs.isolation_requests = 1 << 3;
        let mut cdu = CduRowBus::new(2);
        let mut frames: heapless::Vec<BusFrame, 4> = heapless::Vec::new();
        cdu.broadcasts(&outputs, |f| frames.push(f).unwrap());
        assert_eq!(
            frames
                .iter()
                .map(|f| f.id)
                .collect::<heapless::Vec<u16, 4>>(),
            [ID_HEADROOM, ID_ISOLATION + 3]
        );
        let mut three = RackRowBus::new(3);
        let mut four = RackRowBus::new(4);
        let mut decoder = FrameDecoder::new();
        for f in &frames {
            for m in all(&mut decoder, f) {
                three.receive(Instant(1_000), &m);
                four.receive(Instant(1_000), &m);
            }
        }
        let mut inputs = idle();
        three.fill(Instant(1_500), &mut inputs);
        assert_eq!(inputs.headroom, Some((250_000.0, Instant(1_000))));
        assert!(inputs.isolation_requested);
        // The request lapses when the CDU stops repeating it.
        three.fill(Instant(1_000 + ISOLATION_HOLD_MS + 1), &mut inputs);
        assert!(!inputs.isolation_requested);
        four.fill(Instant(1_500), &mut inputs);
        assert!(!inputs.isolation_requested);
        assert_eq!(inputs.headroom, Some((250_000.0, Instant(1_000))));
    }

    #[test]
    fn a_damaged_payload_is_dropped_and_the_next_one_still_decodes() {
        let mut rack = RackRowBus::new(1);
        let power = PowerController::new(PowerConfig::default());
        let f = rack.report(&idle(), power.outputs()).unwrap();
        let mut bad = f;
        bad.data[3] ^= 0x10;
        let mut decoder = FrameDecoder::new();
        assert!(all(&mut decoder, &bad).is_empty());
        // A payload cut short (no delimiter) must not glue onto the next one.
        let cut = &f.data[..f.len / 2];
        assert_eq!(decode(&mut decoder, cut).count(), 0);
        assert_eq!(all(&mut decoder, &f).len(), 1);
    }
}

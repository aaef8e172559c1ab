//! The row's heat load, as the supply and pressure loops use it: the racks' power reports from
//! the row bus (a stale report holds its last value while any report is fresh; an isolated
//! rack's is left out) times the share that reaches the liquid, with the hottest GPU among
//! the fresh reports. With no fresh report the feed-forward is dropped (logged) and the load
//! falls back to the measured heat pickup, flow x (return - supply), or the design load when
//! that cannot be measured; `RowBusSilent` is raised while reports have stopped.

use crate::Instant;

use super::leak_guard::LeakGuard;
use super::sensors::SensorBank;
use super::{Alarm, Annunciator, CoolantConfig, CoolantEvent, CoolantInputs};

/// What the row bus tells the loops this step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct RowLoadNow {
    /// The heat load, W.
    pub heat_w: f32,
    /// The hottest GPU among fresh reports, degC (none without a fresh report).
    pub hottest_gpu_c: Option<f32>,
    /// The most loaded open rack's heat, W (0 without fresh reports): every rack sees the one
    /// differential pressure, so this rack sets the flow it needs.
    pub peak_rack_w: f32,
}

/// Whether the feed-forward from the row bus is in use (its changes are logged).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct RowLoad {
    pub feed_forward_active: bool,
}

impl RowLoad {
    /// The load at `now`; `last_supply_c` is the voted supply of the previous step.
    #[allow(clippy::too_many_arguments)] // the step's inputs, each from its own part
    pub fn step(
        &mut self,
        now: Instant,
        inputs: &CoolantInputs,
        config: &CoolantConfig,
        leaks: &LeakGuard,
        sensors: &SensorBank,
        last_supply_c: Option<f32>,
        annunciator: &mut Annunciator,
    ) -> RowLoadNow {
        let mut power = 0.0;
        let mut peak: f32 = 0.0;
        let mut fresh = false;
        let mut hottest: Option<f32> = None;
        for (rack, report) in inputs.rack_reports.iter().enumerate().take(config.racks) {
            let Some(report) = report else { continue };
            if leaks.is_isolated(rack) {
                continue;
            }
            power += report.input_power_w;
            peak = peak.max(report.input_power_w);
            if now.secs_since(report.at) <= config.report_stale_after_s {
                fresh = true;
                hottest = Some(
                    hottest.map_or(report.hottest_gpu_c, |h: f32| h.max(report.hottest_gpu_c)),
                );
            }
        }
        let active = fresh && config.feed_forward;
        if active != self.feed_forward_active {
            self.feed_forward_active = active;
            annunciator.log(now, CoolantEvent::FeedForward { active });
        }
        let any_report = inputs
            .rack_reports
            .iter()
            .take(config.racks)
            .any(Option::is_some);
        annunciator.set(now, Alarm::RowBusSilent, 0, false, any_report && !fresh);
        if fresh {
            return RowLoadNow {
                heat_w: power * config.liquid_capture_fraction,
                hottest_gpu_c: hottest,
                peak_rack_w: peak * config.liquid_capture_fraction,
            };
        }
        // Measured heat pickup, if flow and both temperatures are usable.
        let measured = match (
            sensors.flow.status().usable(),
            sensors.return_temp.status().usable(),
            last_supply_c,
        ) {
            (true, true, Some(supply)) => {
                let kg_s = inputs.flow_lpm.value * config.coolant_density_kg_per_l / 60.0;
                (kg_s * config.hx.secondary_cp_j_per_kg_k * (inputs.return_temp_c.value - supply))
                    .max(0.0)
            }
            _ => config.design_heat_w,
        };
        RowLoadNow {
            heat_w: measured,
            hottest_gpu_c: None,
            // Unknown; the pressure loop holds the design pressure without reports.
            peak_rack_w: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coolant::RackReport;

    #[test]
    fn fresh_reports_give_the_load_and_their_silence_drops_the_feed_forward() {
        let config = CoolantConfig::default();
        let sensors = SensorBank::new(&config);
        let leaks = LeakGuard::new();
        let mut ann = Annunciator::new();
        let mut inputs = CoolantInputs::uniform(Instant(0), 30.0);
        for r in inputs.rack_reports.iter_mut().take(config.racks) {
            *r = Some(RackReport {
                input_power_w: 100_000.0,
                hottest_gpu_c: 70.0,
                at: Instant(1_000),
            });
        }
        let mut load = RowLoad::default();
        let now = load.step(
            Instant(1_000),
            &inputs,
            &config,
            &leaks,
            &sensors,
            None,
            &mut ann,
        );
        assert!((now.heat_w - 8.0 * 100_000.0 * 0.9).abs() < 1.0);
        assert!((now.peak_rack_w - 100_000.0 * 0.9).abs() < 1e-3);
        assert_eq!(now.hottest_gpu_c, Some(70.0));
        assert!(load.feed_forward_active);
        // Reports stale, no usable flow: the design load, no feed-forward, RowBusSilent.
        let later = load.step(
            Instant(3_000),
            &inputs,
            &config,
            &leaks,
            &sensors,
            None,
            &mut ann,
        );
        assert_eq!(later.heat_w, config.design_heat_w);
        assert_eq!(later.hottest_gpu_c, None);
        assert!(!load.feed_forward_active);
        assert!(ann.alarms().is_active(Alarm::RowBusSilent, 0));
        let logged: heapless::Vec<CoolantEvent, 4> = ann.events().iter().map(|r| r.event).collect();
        assert_eq!(
            logged.as_slice(),
            &[
                CoolantEvent::FeedForward { active: true },
                CoolantEvent::FeedForward { active: false },
                CoolantEvent::AlarmRaised {
                    alarm: Alarm::RowBusSilent,
                    instance: 0
                }
            ]
        );
    }
}

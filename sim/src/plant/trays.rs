//! The racks' trays: each tray's coolant and GPUs as thermal masses on cold plates
//! (conductance growing with flow), its power under the power controller's caps and floors,
//! and the GPUs' own protection (they slow down above the slowdown temperature and power off,
//! until reset, at the shutdown temperature).

use crate::plant::params::RowParams;
use crate::plant::{TrayCommands, TrayReading};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Tray {
    pub(super) coolant_c: f64,
    pub(super) gpu_c: f64,
    /// This tray's share of its rack's power (mean 1).
    pub(super) share: f64,
    pub(super) throttled: bool,
    /// Its GPUs reached their shutdown temperature: the tray is off until reset.
    pub(super) shut_down: bool,
    /// A fault makes the tray draw this multiple of its demand, ignoring its cap (1: healthy).
    pub(super) overdraw: f64,
    pub(super) last: TrayReading,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Rack {
    pub(super) trays: Vec<Tray>,
    pub(super) flow_kg_s: f64,
    pub(super) power_w: f64,
}

/// What the racks' step gives the rest of the loop.
pub(super) struct RacksStep {
    /// Heat flow of the racks' and the bypass's return into the return manifold, W (as
    /// `mdot cp T` summed).
    pub(super) return_mix_w: f64,
    pub(super) hottest_c: f64,
    pub(super) throttling: usize,
    /// Trays shut down by their GPUs' protection.
    pub(super) shut_down: usize,
}

/// The constants of one rack's tray loop.
pub(super) struct TrayStep {
    pub(super) rack_inlet: f64,
    pub(super) dt_per_tray_cap: f64,
    pub(super) dt_per_gpu_cap: f64,
    pub(super) junction_k_per_w: f64,
    /// The GPUs' cold plate conductance at this rack's flow, W/K.
    pub(super) g_plate: f64,
    pub(super) tray_mdot_cp: f64,
    pub(super) demand_per_tray: f64,
}

/// One tray's step.
pub(super) struct TrayOut {
    pub(super) power_w: f64,
    pub(super) liquid_w: f64,
    /// `mdot cp T` of the coolant leaving it.
    pub(super) out_w: f64,
    pub(super) junction_c: f64,
}

/// One rack's trays in order: the rack's power, its hottest GPU and the `mdot cp T` of its
/// trays' outlets; adds their heat into the liquid to `heat_in_w` and counts their throttled
/// and shut-down trays in `out`.
pub(super) fn step_rack_trays(
    rack: &mut Rack,
    p: &RowParams,
    k: &TrayStep,
    commands: Option<&TrayCommands>,
    heat_in_w: &mut f64,
    out: &mut RacksStep,
) -> (f64, f64, f64) {
    let mut rack_w = 0.0;
    let mut rack_max = f64::MIN;
    let mut rack_out_w = 0.0;
    for (i, tray) in rack.trays.iter_mut().enumerate() {
        let command = commands.map_or((true, f64::INFINITY, 0.0), |c| {
            (
                c.enable.get(i).copied().unwrap_or(false),
                c.cap_w.get(i).copied().unwrap_or(0.0),
                c.floor_w.get(i).copied().unwrap_or(0.0),
            )
        });
        let t = step_tray(tray, p, k, command);
        rack_w += t.power_w;
        *heat_in_w += t.liquid_w;
        rack_out_w += t.out_w;
        if tray.throttled {
            out.throttling += 1;
        }
        if tray.shut_down {
            out.shut_down += 1;
        }
        rack_max = if t.junction_c > rack_max {
            t.junction_c
        } else {
            rack_max
        };
    }
    (rack_w, rack_max, rack_out_w)
}

/// One tray: its power under its `(enabled, cap, floor)` command (GPUs hold the tray under its
/// cap and, when asked, burn up to its floor; a faulted tray ignores both; a throttled GPU
/// draws less), the heat into the liquid, its GPUs' and coolant's temperatures, its throttle.
fn step_tray(tray: &mut Tray, p: &RowParams, k: &TrayStep, command: (bool, f64, f64)) -> TrayOut {
    let (enabled, cap, floor) = command;
    let tray_demand = k.demand_per_tray * tray.share;
    // A faulted tray's components draw its excess whatever its GPUs do (only its power
    // enable cuts it); its GPUs draw their normal share, uncapped.
    let (normal, fault_w) = if !enabled {
        (0.0, 0.0)
    } else if tray.overdraw > 1.0 {
        (tray_demand, tray_demand * (tray.overdraw - 1.0))
    } else {
        // min/max by comparison: no NaN reaches here, and `f64::min`/`max`'s NaN handling
        // costs this hot loop more than the arithmetic.
        let floor = if floor < cap { floor } else { cap };
        let capped = if tray_demand < cap { tray_demand } else { cap };
        (if capped > floor { capped } else { floor }, 0.0)
    };
    // GPUs shut down by their protection take the tray's compute with them.
    let drawn = if tray.shut_down { 0.0 } else { normal };
    let gpu_drawn = drawn * p.gpu_power_fraction;
    let gpu_w = if tray.throttled {
        gpu_drawn * p.throttle_power_fraction
    } else {
        gpu_drawn
    };
    let tray_w = drawn - gpu_drawn + gpu_w + fault_w;
    let liquid_w = tray_w * p.liquid_capture_fraction;
    let gpu_liquid_w = gpu_w * p.liquid_capture_fraction;
    let other_liquid_w = liquid_w - gpu_liquid_w;
    // The cold plate sees the mean of the tray's inlet and outlet.
    let mean_coolant = 0.5 * (k.rack_inlet + tray.coolant_c);
    let plate_w = k.g_plate * (tray.gpu_c - mean_coolant);
    let old_coolant = tray.coolant_c;
    tray.gpu_c += (gpu_liquid_w - plate_w) * k.dt_per_gpu_cap;
    tray.coolant_c += (k.tray_mdot_cp * (k.rack_inlet - old_coolant) + plate_w + other_liquid_w)
        * k.dt_per_tray_cap;
    let junction = tray.gpu_c + gpu_w * k.junction_k_per_w;
    if junction >= p.gpu_shutdown_c {
        // The silicon's own protection: the tray powers off and stays off until reset.
        tray.shut_down = true;
    }
    if junction > p.gpu_slowdown_c {
        tray.throttled = true;
    } else if junction < p.gpu_slowdown_c - 2.0 {
        tray.throttled = false;
    }
    tray.last = TrayReading {
        demand_w: if enabled { tray_demand } else { 0.0 },
        power_w: tray_w,
        hottest_c: junction,
    };
    TrayOut {
        power_w: tray_w,
        liquid_w,
        out_w: k.tray_mdot_cp * old_coolant,
        junction_c: junction,
    }
}

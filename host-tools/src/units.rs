//! Setpoint names a technician types, their units, and values with units (`32C`, `120kW`).

use rack_protocol::types::SetpointId;

/// A settable value as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Named {
    /// The name on the command line.
    pub name: &'static str,
    /// The protocol's id.
    pub id: SetpointId,
    /// The unit shown to people.
    pub unit: &'static str,
    /// Protocol integer per displayed unit (100 for 0.01 degC).
    pub scale: f64,
}

/// Every settable value.
pub const SETPOINTS: &[Named] = &[
    Named {
        name: "supply-temp",
        id: SetpointId::SupplyTempCentiC,
        unit: "C",
        scale: 100.0,
    },
    Named {
        name: "lead-rotation",
        id: SetpointId::LeadRotationIntervalS,
        unit: "s",
        scale: 1.0,
    },
    Named {
        name: "leak-delay",
        id: SetpointId::LeakReactionDelayS,
        unit: "s",
        scale: 1.0,
    },
    Named {
        name: "power-cap",
        id: SetpointId::RackPowerBudgetW,
        unit: "W",
        scale: 1.0,
    },
    Named {
        name: "ramp-limit",
        id: SetpointId::RampLimitWPerS,
        unit: "W/s",
        scale: 1.0,
    },
    Named {
        name: "power-floor",
        id: SetpointId::PowerFloorW,
        unit: "W",
        scale: 1.0,
    },
    Named {
        name: "ride-through",
        id: SetpointId::RideThroughS,
        unit: "s",
        scale: 1.0,
    },
];

/// Finds a setpoint by name.
pub fn lookup(name: &str) -> Result<&'static Named, String> {
    SETPOINTS.iter().find(|n| n.name == name).ok_or_else(|| {
        let names: Vec<&str> = SETPOINTS.iter().map(|n| n.name).collect();
        format!(
            "unknown setting `{name}`; the settings are: {}",
            names.join(", ")
        )
    })
}

/// The value from the protocol integer, in the displayed unit.
pub fn display(named: &Named, raw: i32) -> String {
    let v = f64::from(raw) / named.scale;
    match named.unit {
        "W" if v.abs() >= 1000.0 => format!("{}kW", trim(v / 1000.0)),
        "W/s" if v.abs() >= 1000.0 => format!("{}kW/s", trim(v / 1000.0)),
        unit => format!("{}{unit}", trim(v)),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Parses `text` (a number with an optional unit) into the protocol integer for `named`.
pub fn parse(named: &Named, text: &str) -> Result<i32, String> {
    let t = text.trim();
    // The number is the longest prefix that reads as one (`1e3`, `-5`, `31.5`); a unit may
    // follow. A prefix ending in `e` is not taken, so `5e` is not read as a number.
    let split = (1..=t.len())
        .rev()
        .filter(|&i| t.is_char_boundary(i))
        .find(|&i| {
            t.get(..i).is_some_and(|n| {
                !n.ends_with(['e', 'E']) && n.parse::<f64>().is_ok_and(f64::is_finite)
            })
        })
        .unwrap_or(0);
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!(
            "`{text}` is not a number with a unit (for {}: e.g. {})",
            named.name,
            example(named)
        )
    })?;
    let factor = match (named.unit, unit.trim()) {
        (_, "")
        | ("C", "C" | "c" | "degC")
        | ("kPa", "kPa" | "kpa")
        | ("L/min", "L/min" | "lpm")
        | ("s", "s")
        | ("W", "W")
        | ("W/s", "W/s") => 1.0,
        ("s", "min") => 60.0,
        ("s", "h") => 3600.0,
        ("s", "d") => 86_400.0,
        ("W", "kW") | ("W/s", "kW/s") => 1000.0,
        (_, other) => {
            return Err(format!(
                "unit `{other}` does not fit {} (in {}; e.g. {})",
                named.name,
                named.unit,
                example(named)
            ));
        }
    };
    let raw = (value * factor * named.scale).round();
    if !raw.is_finite() || raw.abs() > f64::from(i32::MAX) {
        return Err(format!("`{text}` is too large for {}", named.name));
    }
    #[allow(clippy::cast_possible_truncation)] // range checked above
    Ok(raw as i32)
}

fn example(named: &Named) -> &'static str {
    match named.unit {
        "C" => "32C",
        "kPa" => "35kPa",
        "L/min" => "1300L/min",
        "s" => "300s",
        "W" => "120kW",
        _ => "2kW/s",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn values_with_units_become_protocol_integers() {
        let t = lookup("supply-temp").unwrap();
        assert_eq!(parse(t, "32C"), Ok(3200));
        assert_eq!(parse(t, "31.5"), Ok(3150));
        let p = lookup("power-cap").unwrap();
        assert_eq!(parse(p, "120kW"), Ok(120_000));
        assert_eq!(parse(p, "90000W"), Ok(90_000));
        assert_eq!(display(p, 120_000), "120kW");
        assert_eq!(display(t, 3250), "32.5C");
        assert_eq!(parse(t, "-5C"), Ok(-500));
        assert_eq!(parse(p, "1.2e5W"), Ok(120_000));
        assert_eq!(parse(p, "1e3"), Ok(1000));
        assert_eq!(parse(p, "120 kW"), Ok(120_000));
        let s = lookup("lead-rotation").unwrap();
        assert_eq!(parse(s, "2d"), Ok(172_800));
    }

    #[test]
    fn mistakes_say_what_is_allowed() {
        let t = lookup("supply-temp").unwrap();
        assert!(parse(t, "32kW").unwrap_err().contains("in C"));
        assert!(parse(t, "warm").unwrap_err().contains("32C"));
        assert!(parse(t, "inf").unwrap_err().contains("32C"));
        assert!(parse(t, "5e").unwrap_err().contains("unit `e`"));
        assert!(lookup("temp").unwrap_err().contains("supply-temp"));
    }
}

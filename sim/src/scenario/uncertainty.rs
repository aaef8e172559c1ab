//! What a sweep varies: an uncertainty spec, `[uncertainty]` in a scenario file or the default
//! set in `sim/uncertainty/default.toml`, each entry a plant parameter and its spread, and the
//! sampled scenarios it gives (the spread goes into the scenario's `[plant]`, so the
//! controllers are commissioned by the nameplate and never see it).

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::plant::params::ROW_RANGES;
use crate::scenario::Scenario;
use crate::validate::Invalid;

/// The default uncertainty set (see the file for each spread's source).
pub const DEFAULT_SPEC: &str = include_str!("../../uncertainty/default.toml");

/// One parameter's spread, sampled uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Spread {
    /// A multiple of the row's value, `[low, high]`.
    Scale([f64; 2]),
    /// A value, `[low, high]`, in the parameter's units.
    Between([f64; 2]),
}

/// Plant parameter name -> its spread.
pub type Uncertainty = BTreeMap<String, Spread>;

/// The default set.
pub fn default_spec() -> Uncertainty {
    // The file is part of the build and a test parses it: it cannot fail here.
    toml::from_str(DEFAULT_SPEC).unwrap_or_default()
}

impl Spread {
    /// The value for `u` in 0..1, on a row whose value is `row_value`.
    fn at(self, u: f64, row_value: f64) -> f64 {
        match self {
            Spread::Scale([lo, hi]) => row_value * (lo + (hi - lo) * u),
            Spread::Between([lo, hi]) => lo + (hi - lo) * u,
        }
    }
}

/// The spec `spec` checked against `scenario`: every name a plant parameter, every spread
/// ordered and finite, and the plant at both ends of every spread a valid row (fields named
/// `uncertainty.<name>`).
pub fn validate(spec: &Uncertainty, scenario: &Scenario) -> Result<(), Invalid> {
    for (name, spread) in spec {
        let field = format!("uncertainty.{name}");
        let [lo, hi] = match spread {
            Spread::Scale(r) | Spread::Between(r) => *r,
        };
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return Err(Invalid::new(
                field,
                format!("[{lo}, {hi}]"),
                "[low, high] with low <= high, both finite",
            ));
        }
        if matches!(spread, Spread::Scale(_)) && lo <= 0.0 {
            return Err(Invalid::new(field, lo, "a scale above 0"));
        }
        if crate::scenario::STRUCTURE.contains(&name.as_str())
            || !ROW_RANGES.iter().any(|r| r.field == name)
        {
            return Err(Invalid::new(
                field,
                name,
                "a plant parameter (a [row] field but racks, trays_per_rack, gpus_per_tray, pumps)",
            ));
        }
    }
    for end in [0.0, 1.0] {
        let mut sampled = scenario.clone();
        apply(spec, &mut sampled, |_| end)?;
        sampled
            .plant_params()?
            .validate()
            .map_err(|e| Invalid::new(format!("uncertainty.{}", e.field), e.value, e.allowed))?;
    }
    Ok(())
}

/// Sets each spec parameter of `scenario`'s `[plant]` from `u(name)` in 0..1.
fn apply(
    spec: &Uncertainty,
    scenario: &mut Scenario,
    mut u: impl FnMut(&str) -> f64,
) -> Result<(), Invalid> {
    let truth = scenario.plant_params()?;
    let Ok(toml::Value::Table(row)) = toml::Value::try_from(truth) else {
        return Err(Invalid::new("row", "?", "a table of row parameters"));
    };
    for (name, spread) in spec {
        let value = match row.get(name) {
            Some(toml::Value::Float(v)) => *v,
            #[allow(clippy::cast_precision_loss)] // a count
            Some(toml::Value::Integer(v)) => *v as f64,
            _ => {
                return Err(Invalid::new(
                    format!("uncertainty.{name}"),
                    name,
                    "a number",
                ));
            }
        };
        let sampled = spread.at(u(name), value);
        let sampled = if matches!(row.get(name), Some(toml::Value::Integer(_))) {
            #[allow(clippy::cast_possible_truncation)] // a count within its range
            toml::Value::Integer(sampled.round() as i64)
        } else {
            toml::Value::Float(sampled)
        };
        scenario.plant.insert(name.clone(), sampled);
    }
    Ok(())
}

/// Sample `index` of a sweep with seed `seed`: the scenario with its plant drawn from `spec`
/// and its own sensor-noise seed, the same for any thread count or order.
pub fn sample(
    spec: &Uncertainty,
    scenario: &Scenario,
    seed: u64,
    index: u64,
) -> Result<Scenario, Invalid> {
    let mut rng = SmallRng::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(index.wrapping_mul(0xD1B5_4A32_D192_ED03))
            .wrapping_add(1),
    );
    let mut sampled = scenario.clone();
    sampled.name = format!("{} sample {index}", scenario.name);
    sampled.seed = rng.random();
    sampled.uncertainty = None;
    // Draw in the spec's (sorted) order: the same names give the same values.
    apply(spec, &mut sampled, |_| rng.random::<f64>())?;
    Ok(sampled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_parses_and_names_plant_parameters() {
        let spec: Uncertainty = toml::from_str(DEFAULT_SPEC).unwrap();
        assert!(spec.len() >= 12, "{spec:?}");
        let s = crate::scenario::Scenario::parse(
            std::path::Path::new("t.toml"),
            "name = \"t\"\nduration_s = 10\n[workload]\nshape = { kind = \"constant\", level = 1.0 }\n",
        )
        .unwrap();
        validate(&spec, &s).unwrap();
        let a = sample(&spec, &s, 7, 3).unwrap();
        let b = sample(&spec, &s, 7, 3).unwrap();
        let c = sample(&spec, &s, 7, 4).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.plant, c.plant);
        let ua = a.plant["hx_ua_design_w_per_k"].as_float().unwrap();
        assert!((0.7 * 175_000.0..=1.1 * 175_000.0).contains(&ua), "{ua}");
        let stroke = a.plant["valve_stroke_s"].as_float().unwrap();
        assert!((9.0..=150.0).contains(&stroke));
    }
}

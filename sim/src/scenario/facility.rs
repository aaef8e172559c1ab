//! Facility water: the supply temperature and the flow available, fixed or as profiles.

use serde::{Deserialize, Serialize};

use crate::validate::{Invalid, TIME_LIMIT_S, within};

/// Facility water supply temperature over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facility {
    /// Supply temperature, degC, when there is no profile.
    #[serde(default = "default_facility_c")]
    pub supply_c: f64,
    /// Piecewise-linear profile: `[[t_s, degC], ...]`, held before the first and after the last.
    #[serde(default)]
    pub profile: Vec<[f64; 2]>,
    /// Facility flow available as a fraction of full, piecewise linear: `[[t_s, fraction], ...]`
    /// (empty: always 1).
    #[serde(default)]
    pub flow_profile: Vec<[f64; 2]>,
}

fn default_facility_c() -> f64 {
    25.0
}

impl Default for Facility {
    fn default() -> Self {
        Self {
            supply_c: default_facility_c(),
            profile: Vec::new(),
            flow_profile: Vec::new(),
        }
    }
}

impl Facility {
    /// Checks the values serde cannot: temperatures 0..=60 degC, flow fractions 0..=1, profile
    /// times >= 0 and in order. Fields are named under `facility.`.
    pub fn validate(&self) -> Result<(), Invalid> {
        const TEMPERATURE: &str = "degC of facility water; ASHRAE W17..W45 and beyond";
        within("facility.supply_c", self.supply_c, 0.0, 60.0, TEMPERATURE)?;
        let check = |name: &str, profile: &[[f64; 2]], max: f64, why: &str| {
            let mut last = 0.0;
            for (i, [t, v]) in profile.iter().enumerate() {
                within(
                    &format!("facility.{name}[{i}][0]"),
                    *t,
                    last,
                    TIME_LIMIT_S,
                    "s, not before the point before",
                )?;
                within(&format!("facility.{name}[{i}][1]"), *v, 0.0, max, why)?;
                last = *t;
            }
            Ok(())
        };
        check("profile", &self.profile, 60.0, TEMPERATURE)?;
        check(
            "flow_profile",
            &self.flow_profile,
            1.0,
            "fraction of the facility's full flow",
        )
    }

    /// Supply temperature at `t_s`.
    pub fn supply_at(&self, t_s: f64) -> f64 {
        piecewise(&self.profile, t_s).unwrap_or(self.supply_c)
    }

    /// Facility flow fraction at `t_s`.
    pub fn flow_at(&self, t_s: f64) -> f64 {
        piecewise(&self.flow_profile, t_s).unwrap_or(1.0)
    }
}

/// A piecewise-linear profile's value at `t_s`, held before the first point and after the
/// last; `None` when the profile is empty.
fn piecewise(profile: &[[f64; 2]], t_s: f64) -> Option<f64> {
    let first = profile.first()?;
    if t_s <= first[0] {
        return Some(first[1]);
    }
    let mut prev = first;
    for point in profile.iter().skip(1) {
        let ([t0, v0], [t1, v1]) = (*prev, *point);
        if t_s <= t1 {
            return Some(if t1 > t0 {
                v0 + (v1 - v0) * (t_s - t0) / (t1 - t0)
            } else {
                v1
            });
        }
        prev = point;
    }
    Some(prev[1])
}

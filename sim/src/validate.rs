//! What a scenario or campus file may say: each value's allowed range with the reason, and
//! the error that names the field, the value and what is allowed.
//!
//! The ranges themselves live beside what they limit (`params.rs` for the row,
//! `electrical.rs` for a rack's power plant, the workload's shapes in `workload.rs`); the
//! controllers' settings are checked by the controllers' own setters, so a file can never
//! give a controller what its technician could not.

use std::fmt;

/// The largest time a file may name, s (a year: any longer run is a mistake).
pub const TIME_LIMIT_S: f64 = 3.2e7;

/// A value a file may not have, or values that disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The field's path in the file, such as `row.manifold_segments` or `faults[1].at_s`.
    pub field: String,
    /// The value as the file gave it.
    pub value: String,
    /// What is allowed, with the reason in parentheses.
    pub allowed: String,
}

impl Invalid {
    /// `field = value: allowed {allowed}`.
    pub fn new(
        field: impl Into<String>,
        value: impl fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    /// The same error under a parent's path (`row` + `racks` = `row.racks`).
    #[must_use]
    pub fn under(mut self, parent: &str) -> Self {
        if !parent.is_empty() {
            self.field = format!("{parent}.{}", self.field);
        }
        self
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {}: allowed {}",
            self.field, self.value, self.allowed
        )
    }
}

/// One value's allowed closed range and why it is that.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// The field's name.
    pub field: &'static str,
    /// Smallest allowed.
    pub min: f64,
    /// Largest allowed.
    pub max: f64,
    /// Why (the physics, the source, or what breaks outside it).
    pub why: &'static str,
}

impl Range {
    /// `field` within `min..=max`, because `why` (a `const fn`, for the tables of ranges).
    pub const fn new(field: &'static str, min: f64, max: f64, why: &'static str) -> Self {
        Self {
            field,
            min,
            max,
            why,
        }
    }

    /// Checks `value` (NaN and infinities are outside every range).
    pub fn check(&self, value: f64) -> Result<(), Invalid> {
        within(self.field, value, self.min, self.max, self.why)
    }
}

/// `value` within `min..=max`, or an [`Invalid`] naming `field`, the range and `why`.
pub fn within(field: &str, value: f64, min: f64, max: f64, why: &str) -> Result<(), Invalid> {
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(Invalid::new(field, value, format!("{min}..={max} ({why})")))
    }
}

/// Checks every numeric field of `params` (a serde struct) against `ranges`, in the ranges'
/// order. A field with no range is a programming error caught by each table's test
/// ([`unlisted_fields`]).
pub fn check_fields<T: serde::Serialize>(params: &T, ranges: &[Range]) -> Result<(), Invalid> {
    let Ok(toml::Value::Table(table)) = toml::Value::try_from(params) else {
        return Ok(());
    };
    for range in ranges {
        let value = match table.get(range.field) {
            Some(toml::Value::Float(v)) => *v,
            #[allow(clippy::cast_precision_loss)] // counts are small
            Some(toml::Value::Integer(v)) => *v as f64,
            _ => continue,
        };
        range.check(value)?;
    }
    Ok(())
}

/// The fields of `params` that `ranges` does not list (for the tables' tests).
pub fn unlisted_fields<T: serde::Serialize>(params: &T, ranges: &[Range]) -> Vec<String> {
    match toml::Value::try_from(params) {
        Ok(toml::Value::Table(table)) => table
            .keys()
            .filter(|k| !ranges.iter().any(|r| r.field == k.as_str()))
            .cloned()
            .collect(),
        _ => vec!["<not a table>".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_infinities_are_outside_every_range() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(within("x", v, f64::MIN, f64::MAX, "any").is_err(), "{v}");
        }
        assert!(within("x", 1.0, 1.0, 1.0, "one").is_ok());
    }

    #[test]
    fn the_error_names_field_value_range_and_reason() {
        let e = within("manifold_segments", 0.0, 1.0, 64.0, "tanks in series")
            .unwrap_err()
            .under("row");
        assert_eq!(
            e.to_string(),
            "row.manifold_segments = 0: allowed 1..=64 (tanks in series)"
        );
    }
}

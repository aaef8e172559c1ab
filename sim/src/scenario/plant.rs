//! `[plant]`: what the row really is beside its nameplate `[row]`, laid over it field by field.
//! Only the plant is built from the result; the controllers are commissioned from `[row]`.

use serde::Deserialize;

use crate::plant::params::RowParams;
use crate::scenario::Scenario;
use crate::validate::Invalid;

/// A TOML value as a file would spell it.
fn show(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// `[row]` fields a `[plant]` cannot change: the row's structure, which the controllers are
/// commissioned with.
pub(crate) const STRUCTURE: [&str; 4] = ["racks", "trays_per_rack", "gpus_per_tray", "pumps"];

impl Scenario {
    /// The row as it really is: the nameplate `[row]` with the `[plant]`'s differences.
    pub fn plant_params(&self) -> Result<RowParams, Invalid> {
        if self.plant.is_empty() {
            return Ok(self.row);
        }
        let Ok(toml::Value::Table(mut table)) = toml::Value::try_from(self.row) else {
            return Err(Invalid::new("row", "?", "a table of row parameters"));
        };
        for (key, value) in &self.plant {
            let field = format!("plant.{key}");
            if STRUCTURE.contains(&key.as_str()) {
                return Err(Invalid::new(
                    field,
                    show(value),
                    "not in [plant]: the row's structure is set in [row] (the controllers are commissioned with it)",
                ));
            }
            if !table.contains_key(key) {
                return Err(Invalid::new(
                    field,
                    show(value),
                    format!(
                        "a [row] parameter: one of {}",
                        crate::plant::params::ROW_RANGES
                            .iter()
                            .map(|r| r.field)
                            .filter(|f| !STRUCTURE.contains(f))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            let merged = match (table.get(key), value) {
                // A whole number where the nameplate has a float is the same value.
                (Some(toml::Value::Float(_)), toml::Value::Integer(i)) => {
                    #[allow(clippy::cast_precision_loss)] // a parameter's value
                    toml::Value::Float(*i as f64)
                }
                _ => value.clone(),
            };
            if let Some(nameplate) = table.get(key)
                && std::mem::discriminant(nameplate) != std::mem::discriminant(&merged)
            {
                return Err(Invalid::new(
                    field,
                    show(value),
                    format!(
                        "a {} like the nameplate's {}",
                        nameplate.type_str(),
                        show(nameplate)
                    ),
                ));
            }
            table.insert(key.clone(), merged);
        }
        RowParams::deserialize(table).map_err(|e| {
            Invalid::new(
                "plant",
                "?",
                format!("row parameters of the right type ({e})"),
            )
        })
    }

    /// The row as it really is; [`Scenario::validate`] has checked it, so a bad `[plant]`
    /// cannot reach here (it would give the nameplate).
    pub fn truth(&self) -> RowParams {
        self.plant_params().unwrap_or(self.row)
    }
}

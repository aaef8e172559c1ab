//! The physical row, as the plant's own code: the CDU's pumps, heat exchanger and valve, the
//! manifolds and the racks of trays with their GPUs (`row`), each rack's electrical plant
//! (`electrical`), the sensors between plant and controller, the GPUs' workload, and every
//! parameter with its source and its physical range (`params`). Nothing here knows a
//! controller or a scenario file.

pub mod electrical;
pub mod facility;
mod hydraulics;
pub mod params;
mod row;
pub mod sensors;
mod trays;
pub mod workload;

pub use row::{
    Actuators, EnergyBalance, Environment, PlantState, RowPlant, TrayCommands, TrayReading,
};

//! What a run leaves and how it is reported: the trace and its markers (`trace`), the KPIs
//! measured while it runs (`kpis`), the checks and the summary (`checks`), the terminal table
//! (`table`), the files (`files`), the pictures of a scenario and of a campus (`plot`), and a
//! campus run's sums and report (`campus`).

pub mod campus;
pub mod checks;
pub mod distribution;
pub mod files;
pub mod kpis;
pub mod plot;
pub mod table;
pub mod trace;

pub use checks::{BaselineSummary, CheckResult, Summary, evaluate, ratios};
pub use kpis::{KpiTracker, Kpis, TAKEOVER_WINDOW_S};
pub use table::{markers_text, table};

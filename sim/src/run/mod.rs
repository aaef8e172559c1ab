//! Running scenarios: the closed loop of one row (`runner`), its racks' power side
//! (`power_row`), a whole campus in parallel (`campus`), the processor-in-the-loop bridge to
//! the firmware in QEMU (`pil`), and the live row served to `rackctl` (`serve`).

pub mod campus;
pub mod exchange;
mod labels;
pub mod load;
pub mod pil;
pub mod power_row;
pub mod runner;
mod sensors;
pub mod serve;

//! What `rackctl` and `rackgw` share: the link to a device (serial or TCP, requests signed
//! with a key) and the setpoints' names and units.

pub mod link;
pub mod units;

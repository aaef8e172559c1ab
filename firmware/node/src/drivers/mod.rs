//! Drivers for the boards' field chips against embedded-hal 1.0's blocking `I2c`, so that the
//! host tests them (`embedded-hal-mock`) and any board uses them: the PCA9555 I/O expander.
//! The INA228 power monitors go through the maintained `ina228` crate.

mod pca9555;

pub use pca9555::Pca9555;

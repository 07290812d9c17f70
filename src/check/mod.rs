//! `promshard check ...`: the tools users run by hand.
//!
//! One module per subcommand; each takes the options its flags give and
//! returns an exit code (0 valid, 1 invalid) or an error for failures of the
//! tool itself.

pub(crate) mod config;
pub(crate) mod metrics;
pub(crate) mod monitors;
pub(crate) mod targets;

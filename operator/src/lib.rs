//! prometheus-operator resources to Prometheus scrape configs.
#![forbid(unsafe_code)]

pub mod load;
pub mod model;
pub mod selection;

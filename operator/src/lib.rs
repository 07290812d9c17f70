//! prometheus-operator resources to Prometheus scrape configs.
#![forbid(unsafe_code)]

pub mod config_secret;
pub mod generate;
pub mod load;
pub mod model;
pub mod selection;
pub mod settings;
mod store;
mod validate;
pub mod version;
pub mod yaml;

//! Any text as a `prometheus.yml`: the checks of
//! `promshard_fuzz::config::check_config`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| promshard_fuzz::config::check_config(data));

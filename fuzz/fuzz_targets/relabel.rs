//! Any relabel rules on any label set: the checks of
//! `promshard_fuzz::config::check_relabel`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: promshard_fuzz::config::RelabelInput| {
    promshard_fuzz::config::check_relabel(input);
});

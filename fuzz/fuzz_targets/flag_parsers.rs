//! The duration, rate, stage, threshold and start-time parsers: a value or one error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orysim::config::profile::{parse_stages, StagesSpec};
use orysim::ground::parse::{parse_duration, parse_rate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_duration("--duration", text);
    let _ = parse_rate("--rate", text);
    if let Ok(spec) = parse_stages(text) {
        let profile = match spec {
            StagesSpec::VirtualUsers(p) | StagesSpec::Rate(p) => p,
        };
        assert!(profile.peak().is_finite());
    }
    let _ = orysim::report::thresholds::parse(text);
    let _ = orysim::config::split::parse_start_at(text, std::time::SystemTime::now());
});

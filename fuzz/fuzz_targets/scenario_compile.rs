//! The scenario compiler: any text compiles or is one error, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orysim::scenario::{compile_text, Overrides};

fuzz_target!(|data: &[u8]| {
    if let Ok(source) = std::str::from_utf8(data) {
        if let Err(e) = compile_text("fuzz.toml", source, &Overrides::new()) {
            assert!(!e.to_string().is_empty());
        }
    }
});

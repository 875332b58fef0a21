//! The template engine: any template text parses or is one error pointing into the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orysim::scenario::names::Names;
use orysim::scenario::template::Template;

fuzz_target!(|data: &[u8]| {
    if let Ok(source) = std::str::from_utf8(data) {
        let mut names = Names::default();
        names.bind_iter("object");
        names.bind_iter("subject");
        if let Err(e) = Template::parse(source, &names) {
            assert!(
                e.offset <= source.len(),
                "offset {} past the text",
                e.offset
            );
        }
    }
});

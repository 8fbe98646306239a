//! Any text: the rule parser returns rules or an error pointing into the text, never panics;
//! whatever parses prints back to text that parses to the same rules, and loads into an engine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_rules::{Engine, EngineConfig, parse, print_rules};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text) {
        Ok(rules) => {
            let printed = print_rules(&rules);
            let again = parse(&printed).expect("printed rules parse");
            assert_eq!(print_rules(&again), printed);
            let _ = Engine::new(EngineConfig::default()).load(again);
        }
        Err(e) => {
            assert!(e.line >= 1 && e.column >= 1);
            let _ = e.to_string();
        }
    }
});

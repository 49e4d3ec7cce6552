//! Any bytes as a pushed mutation: decoding and validation answer Ok or a typed error, never
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strive_domain::mutations::Mutation;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<Mutation>(data) {
        let _ = m.action();
        let _ = m.validate();
    }
});

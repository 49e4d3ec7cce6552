//! Any text as a file name: the storage-key name is one safe path segment (ASCII letters, digits,
//! `.`, `-`, `_`; no leading dot; bounded; never empty), the storage key stays under its
//! organization and loop, and the display name holds no control characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strive_domain::documents::{display_name, sanitize_name, storage_key, MAX_KEY_NAME_CHARS};
use strive_domain::{LoopId, OrgId};

fuzz_target!(|name: &str| {
    let safe = sanitize_name(name);
    assert!(!safe.is_empty(), "{name:?} gave an empty name");
    assert!(safe.len() <= MAX_KEY_NAME_CHARS, "{name:?} gave {safe:?}");
    assert!(!safe.starts_with('.'), "{name:?} gave {safe:?}");
    assert!(
        safe.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'),
        "{name:?} gave {safe:?}"
    );
    let (org, loop_id) = (OrgId::new(), LoopId::new());
    let key = storage_key(org, loop_id, 1_700_000_000_000, name);
    let prefix = format!("{org}/transactions/{loop_id}/");
    assert!(key.starts_with(&prefix), "{key:?}");
    assert!(!key[prefix.len()..].contains('/'), "{key:?}");
    if let Ok(shown) = display_name(name) {
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }
});

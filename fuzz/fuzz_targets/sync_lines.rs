//! Any bytes as a page of the change feed, applied to a fresh replica: a typed error or a
//! consistent replica, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use strive_domain::OrgId;
use strive_replica::{Keychain, Replica};

static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("strive-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    });
    let org = OrgId::new();
    let Ok(mut replica) = Replica::create(dir, org, "fuzz password", Keychain::Disabled) else {
        return;
    };
    let _ = replica.apply_lines(data.split(|b| *b == b'\n'));
    drop(replica);
    let _ = Replica::destroy(dir, org, Keychain::Disabled);
});

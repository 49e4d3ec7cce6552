//! Any bytes as a page of the change feed, applied to a replica: a typed error or an applied
//! page, never a panic. One replica serves every run (creating one costs an Argon2 key wrap).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Mutex, OnceLock};
use strive_domain::OrgId;
use strive_replica::{Keychain, Replica};

static REPLICA: OnceLock<Mutex<Replica>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let replica = REPLICA.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("strive-fuzz-{}", std::process::id()));
        let replica = Replica::create(&dir, OrgId::new(), "fuzz password", Keychain::Disabled)
            .expect("a replica to fuzz");
        Mutex::new(replica)
    });
    let mut replica = replica.lock().unwrap_or_else(|p| p.into_inner());
    let _ = replica.apply_lines(data.split(|b| *b == b'\n'));
});

//! What the proof suites share: a fault-injecting HTTP proxy, a seeded run, canonical dumps.

pub mod dump;
pub mod proxy;

use rand::SeedableRng;

/// The run's random generator. The seed comes from `STRIVE_SEED` (to replay a failure) or is
/// drawn, and is printed either way.
pub fn seeded(suite: &str) -> (u64, rand::rngs::StdRng) {
    let seed = std::env::var("STRIVE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("{suite}: seed {seed} (replay with STRIVE_SEED={seed})");
    (seed, rand::rngs::StdRng::seed_from_u64(seed))
}

/// `long` when `STRIVE_PROOF=long` (the long profile), else `short` (CI).
pub fn profile<T>(short: T, long: T) -> T {
    if std::env::var("STRIVE_PROOF").as_deref() == Ok("long") {
        long
    } else {
        short
    }
}

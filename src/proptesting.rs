//! How every property test runs, the unit tests' and the integration tests' alike (the
//! integration tests include this file): from a fixed seed (the same cases on every run, so CI is
//! deterministic and a failure there fails the same way on a laptop), with each property's own
//! case count, and no regression file written into the source tree (a failure prints the seed
//! that replays it instead).
//!
//! Two variables, read once, change that for a longer search (docs/testing.md):
//!
//! - `KANARI_PROPTEST_SEED`: a number to replay a run, or `random` for a fresh seed (printed
//!   when a property fails);
//! - `KANARI_PROPTEST_SCALE`: a whole number each property's case count is multiplied by.

// The integration tests include this file as a module of their own and re-export its items.
#![allow(unreachable_pub)]

use std::sync::OnceLock;

use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

/// The seed of every run that does not ask for another.
pub const SEED: u64 = 2_718_281_828;

struct Settings {
    seed: u64,
    scale: u32,
}

fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let seed = match std::env::var("KANARI_PROPTEST_SEED").ok().as_deref().map(str::trim) {
            None | Some("") => SEED,
            Some("random") => fresh_seed(),
            Some(n) => n.parse().unwrap_or_else(|_| panic!("KANARI_PROPTEST_SEED={n:?}: a number or `random`")),
        };
        let scale = match std::env::var("KANARI_PROPTEST_SCALE").ok().as_deref().map(str::trim) {
            None | Some("") => 1,
            Some(n) => n
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or_else(|| panic!("KANARI_PROPTEST_SCALE={n:?}: a whole number of at least 1")),
        };
        Settings { seed, scale }
    })
}

/// A seed no earlier run had: the standard library's per-process random hash keys.
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    hasher.finish()
}

/// The configuration of a property with `cases` cases: the run's seed and scale, ChaCha as the
/// generator, and no failure persistence.
pub fn config(cases: u32) -> Config {
    let Settings { seed, scale } = settings();
    Config {
        cases: cases.saturating_mul(*scale),
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(*seed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// The seed this run draws from (the integration tests' runner prints it with a failure).
#[allow(dead_code, reason = "the unit tests' proptest! prints its own failures")]
pub fn seed() -> u64 {
    settings().seed
}

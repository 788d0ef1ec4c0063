//! The property tests' runner: the settings every property test draws with (fixed seed, case
//! counts, no regression files) live in `src/proptesting.rs`, shared with the unit tests, and a
//! failure here prints the seed that replays it.

#[path = "../../src/proptesting.rs"]
mod settings;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
pub use settings::{SEED, config};

/// Runs `test` over `strategy` with `config` (from [`config`]); a failure panics with the
/// shrunk case and the seed that replays it.
pub fn run<S: Strategy>(config: Config, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    if let Err(e) = TestRunner::new(config).run(&strategy, test) {
        panic!("{e}\nreplay: KANARI_PROPTEST_SEED={} (docs/testing.md)", settings::seed());
    }
}

#[test]
fn a_property_draws_the_same_cases_from_the_same_seed() {
    let draw = || {
        let mut runner = TestRunner::new(Config { rng_seed: RngSeed::Fixed(SEED), ..config(1) });
        (0..8).map(|_| proptest::num::u64::ANY.new_tree(&mut runner).unwrap().current()).collect::<Vec<_>>()
    };
    use proptest::strategy::ValueTree;
    assert_eq!(draw(), draw());
    assert!(config(1).failure_persistence.is_none());
}

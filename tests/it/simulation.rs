//! The anytime-valid comparisons of `kanari::stats` over a simulated stage (see [`monte_carlo`]):
//! a CI job looks every 10 minutes for 2 hours at the counts summed since the stage began. A
//! healthy canary (A/A) must be failed at some look in at most `alpha` of the stages, up to 3
//! standard errors of the simulation: the guarantee the old per-look Newcombe-Wilson test broke
//! (through this same simulation it failed 5.1-8.0% of the healthy error-rate canaries against its
//! nominal 1%). And a canary with 5× the errors must still be caught, so the first test cannot
//! pass by never failing anything. The full tables, with more runs, are
//! `cargo bench --bench simulation`.

// Shared with the benchmark, which uses the scenarios and tables this file does not.
#[allow(dead_code)]
pub mod monte_carlo;

use monte_carlo::{Anytime, Cell, Kind, SEED, Tally};

/// Runs per A/A cell: the limit α + 3 SE is then 1.67% for α = 1%, well under the old test's
/// 5.1-8.0%, and the file takes about 55 s of CPU in a debug build (30 s on 2 idle cores; the
/// errors' bisections dominate).
const AA_RUNS: u32 = 2_000;
/// Runs of the A/B cell: enough to tell "most" from "some".
const AB_RUNS: u32 = 200;

#[test]
fn healthy_canaries_are_failed_in_at_most_alpha_of_the_stages() {
    let run = |cells: Vec<Cell>| -> Vec<Tally> {
        cells.into_iter().map(|cell| monte_carlo::simulate(cell, AA_RUNS, SEED, &Anytime { margin: false })).collect()
    };
    let (errors, latency) = (run(monte_carlo::errors_aa()), run(monte_carlo::latency_aa()));
    let limit = monte_carlo::aa_limit(AA_RUNS as usize);
    let over: Vec<&Tally> = errors.iter().chain(&latency).filter(|t| t.share(|r| r.strict_fail) > limit).collect();
    assert!(
        over.is_empty(),
        "{} A/A cells failed more than {:.2}% of healthy canaries (seed {SEED}, {AA_RUNS} runs a cell):\n\n{}\n{}",
        over.len(),
        100.0 * limit,
        monte_carlo::aa_table(&errors, "50%"),
        monte_carlo::aa_table(&latency, "10%"),
    );
}

#[test]
fn five_times_the_errors_at_a_thousand_requests_a_minute_are_caught() {
    let five_times = |c: &Cell| c.kind == Kind::Errors { base: 0.01, factor: 5.0 } && c.canary_rpm == 1000.0;
    let cell = monte_carlo::errors_ab().into_iter().find(five_times).expect("one of the benchmark's cells");
    let tally = monte_carlo::simulate(cell, AB_RUNS, SEED, &Anytime { margin: true });
    assert!(
        tally.share(|r| r.margin_fail) > 0.9,
        "the test has lost its power (seed {SEED}):\n\n{}",
        monte_carlo::ab_table(std::slice::from_ref(&tally), "50%")
    );
}

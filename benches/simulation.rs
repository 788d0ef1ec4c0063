//! `cargo bench --bench simulation`: the simulation of `tests/it/simulation.rs` with more runs,
//! printed as the Markdown tables of BENCHMARKS.md. Run without `--bench` (as `cargo test
//! --benches` does) it runs 100 stages a cell, to check that it works.

#[path = "../tests/it/simulation/monte_carlo.rs"]
mod monte_carlo;

use std::time::Instant;

use monte_carlo::{ALPHA, Anytime, Cell, LOOKS, MINUTES_PER_LOOK, SEED, SIGMA, Tally};

/// Runs per A/A cell (the false failures are rare: many runs for a small standard error) and per
/// A/B cell.
const AA_RUNS: u32 = 20_000;
const AB_RUNS: u32 = 5_000;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (aa_runs, ab_runs) = if full { (AA_RUNS, AB_RUNS) } else { (100, 100) };
    let start = Instant::now();
    let run = |cells: Vec<Cell>, runs: u32| -> Vec<Tally> {
        cells.into_iter().map(|cell| monte_carlo::simulate(cell, runs, SEED, &Anytime { margin: true })).collect()
    };
    println!(
        "Seed {SEED}; a look every {MINUTES_PER_LOOK} minutes for {} minutes ({LOOKS} looks) at the counts since \
         the stage began; each version's requests in 10 minutes are Poisson, stable's 9× the canary's; α = {ALPHA}; \
         {aa_runs} runs per A/A and within-margin cell, {ab_runs} per A/B cell. SE is the share's standard error \
         (0 for a share of 0). A median is over all runs, a run that never got there counting as longer than \
         the stage (\"> {}\" when half of them or more).\n",
        LOOKS * MINUTES_PER_LOOK,
        LOOKS * MINUTES_PER_LOOK
    );
    println!("### errors-vs-stable, A/A (no tolerance; passes with a 50% margin)\n");
    println!("{}", monte_carlo::aa_table(&run(monte_carlo::errors_aa(), aa_runs), "50%"));
    println!("### errors-vs-stable, A/B (50% margin)\n");
    println!("{}", monte_carlo::ab_table(&run(monte_carlo::errors_ab(), ab_runs), "50%"));
    println!("### errors-vs-stable, worse but within the 50% margin (1.4×): healthy\n");
    println!("{}", monte_carlo::within_margin_table(&run(monte_carlo::errors_within_margin(), aa_runs), "50%"));
    println!(
        "### latency-vs-stable, A/A (log-normal, median 100 ms, σ = {SIGMA}; no tolerance; passes with a 10% margin)\n"
    );
    println!("{}", monte_carlo::aa_table(&run(monte_carlo::latency_aa(), aa_runs), "10%"));
    println!("### latency-vs-stable, A/B (10% margin)\n");
    println!("{}", monte_carlo::ab_table(&run(monte_carlo::latency_ab(), ab_runs), "10%"));
    println!("### latency-vs-stable, slower but within the 10% margin (5% and 8%): healthy\n");
    println!("{}", monte_carlo::within_margin_table(&run(monte_carlo::latency_within_margin(), aa_runs), "10%"));
    println!("Ran in {:.0} s.", start.elapsed().as_secs_f64());
}

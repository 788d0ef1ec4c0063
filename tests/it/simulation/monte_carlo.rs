//! A seeded Monte-Carlo simulation of a CI job that looks at a canary every 10 minutes for a
//! 2-hour stage (12 looks) and judges it on the counts summed since the stage began. Shared by
//! the test (`tests/it/simulation.rs`) and the benchmark (`benches/simulation.rs`, which reads
//! this file by `#[path]`); the judges are passed in, so the same runs can judge any code.
//!
//! How a look is drawn: each version's requests in the 10 minutes are a Poisson count at its rate
//! (stable serves 9× the canary's requests: a 10% stage); for errors, the failed ones are a
//! binomial draw at the version's error rate. Latencies are log-normal with median 100 ms (times
//! the canary's slowdown) and σ = 0.5 (about 68% of requests within 61-165 ms), counted in
//! Istio's default buckets; since the requests of a look are a Poisson count, the counts of the
//! buckets are independent Poisson draws at the requests' rate times each bucket's probability
//! (Poisson thinning), which is the same distribution as drawing every request and a hundred
//! times faster (10,000 requests a look at 100 a minute would not fit a debug test's time).
//! Every run has its own ChaCha8 stream (the seed, and the cell and run as the stream number), so
//! a result does not depend on how the runs are split across threads.

use std::fmt::Write as _;
use std::thread;

use kanari::stats::{Tolerance, Verdict, errors_vs_stable, latency_vs_stable};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Poisson};

/// The seed of every run (the test's and the benchmark's).
pub const SEED: u64 = 0x6b61_6e61_7269;

/// Looks in a stage, and minutes between looks.
pub const LOOKS: u32 = 12;
pub const MINUTES_PER_LOOK: u32 = 10;
/// Stable's requests per canary request (the canary takes 10% of the traffic).
pub const STABLE_PER_CANARY: f64 = 9.0;
/// The level every cell is judged at.
pub const ALPHA: f64 = 0.01;
/// The log-normal latencies: median (ms) and σ of the log.
pub const MEDIAN_MS: f64 = 100.0;
pub const SIGMA: f64 = 0.5;
/// Istio's default latency buckets (ms), `+Inf` last.
pub const ISTIO_BUCKETS: [f64; 20] = [
    0.5,
    1.0,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    10000.0,
    30000.0,
    60000.0,
    300000.0,
    600000.0,
    1800000.0,
    3600000.0,
    f64::INFINITY,
];

/// What a cell simulates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Error rates: stable's `base`, the canary's `base × factor` (1 for A/A).
    Errors { base: f64, factor: f64 },
    /// Latencies: the canary's multiplied by `slowdown` (1 for A/A).
    Latency { slowdown: f64 },
}

/// One scenario: what is drawn, and the canary's requests a minute. `id` numbers its random
/// streams, so a cell keeps its runs when others are added.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub id: u32,
    pub kind: Kind,
    pub canary_rpm: f64,
}

/// Errors A/A: base rates 0.1%, 1%, 5% at 10, 100, 1,000 canary requests a minute.
pub fn errors_aa() -> Vec<Cell> {
    errors(0, 1.0)
}

/// Errors A/B: the canary at 2× and 5× the base rate.
pub fn errors_ab() -> Vec<Cell> {
    [errors(100, 2.0), errors(200, 5.0)].concat()
}

/// Errors worse than stable's but within the `50%` margin (1.4×): healthy, so failed in at most
/// `alpha` of the stages.
pub fn errors_within_margin() -> Vec<Cell> {
    errors(600, 1.4)
}

fn errors(first: u32, factor: f64) -> Vec<Cell> {
    let mut cells = Vec::new();
    for base in [0.001, 0.01, 0.05] {
        for canary_rpm in [10.0, 100.0, 1000.0] {
            cells.push(Cell { id: first + cells.len() as u32, kind: Kind::Errors { base, factor }, canary_rpm });
        }
    }
    cells
}

/// Latency A/A at 5, 25, 100 canary requests a minute.
pub fn latency_aa() -> Vec<Cell> {
    latency(300, 1.0, &[5.0, 25.0, 100.0])
}

/// Latency A/B: the canary's latencies 20% and 50% higher.
pub fn latency_ab() -> Vec<Cell> {
    [latency(400, 1.2, &[5.0, 25.0, 100.0]), latency(500, 1.5, &[5.0, 25.0, 100.0])].concat()
}

/// Latencies higher than stable's but within the `10%` margin (5% and 8% higher): healthy, so
/// failed in at most `alpha` of the stages; up to 1,000 requests a minute.
pub fn latency_within_margin() -> Vec<Cell> {
    let rates = [5.0, 25.0, 100.0, 1000.0];
    [latency(700, 1.05, &rates), latency(710, 1.08, &rates)].concat()
}

fn latency(first: u32, slowdown: f64, rates: &[f64]) -> Vec<Cell> {
    rates
        .iter()
        .enumerate()
        .map(|(i, &canary_rpm)| Cell { id: first + i as u32, kind: Kind::Latency { slowdown }, canary_rpm })
        .collect()
}

/// A look's verdicts: with no tolerance (what an A/A cell must not fail), and with the margin
/// the A/B cells are judged with (None when the judge was not asked for it, to save time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdicts {
    pub strict: Verdict,
    pub margin: Option<Verdict>,
}

/// The code under test: a look's verdicts from each version's `(failed, requests)`, and from
/// each version's latency histogram (`(le, cumulative count)`, `+Inf` last).
pub trait Judge: Sync {
    fn errors(&self, canary: (u64, u64), stable: (u64, u64)) -> Verdicts;
    fn latency(&self, canary: &[(f64, f64)], stable: &[(f64, f64)]) -> Verdicts;
}

/// `kanari::stats` as the analysis calls it: with no tolerance, and (when `margin`) errors with
/// a `50%` margin and latency with `10%`.
pub struct Anytime {
    pub margin: bool,
}

impl Judge for Anytime {
    fn errors(&self, canary: (u64, u64), stable: (u64, u64)) -> Verdicts {
        let judge = |t| errors_vs_stable(canary, stable, ALPHA, t).map_or(Verdict::Inconclusive, |r| r.verdict);
        Verdicts { strict: judge(Tolerance::Absolute(0.0)), margin: self.margin.then(|| judge(Tolerance::Factor(1.5))) }
    }

    fn latency(&self, canary: &[(f64, f64)], stable: &[(f64, f64)]) -> Verdicts {
        let judge = |t| latency_vs_stable(canary, stable, ALPHA, t).map_or(Verdict::Inconclusive, |r| r.verdict);
        Verdicts { strict: judge(Tolerance::Absolute(0.0)), margin: self.margin.then(|| judge(Tolerance::Factor(1.1))) }
    }
}

/// The first look (1-based) at which each verdict was given in one run, if any; whether the
/// margin was judged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Firsts {
    pub margin_judged: bool,
    pub strict_fail: Option<u32>,
    pub strict_pass: Option<u32>,
    pub margin_fail: Option<u32>,
    pub margin_pass: Option<u32>,
}

/// A cell's runs.
#[derive(Debug, Clone)]
pub struct Tally {
    pub cell: Cell,
    pub runs: Vec<Firsts>,
}

impl Tally {
    /// The share of runs where `first` is some look.
    pub fn share(&self, first: impl Fn(&Firsts) -> Option<u32>) -> f64 {
        self.runs.iter().filter(|r| first(r).is_some()).count() as f64 / self.runs.len() as f64
    }

    /// The median, over all runs, of the minutes until `first` (a run where it never came
    /// counts as longer than the stage); None when that is more than half the runs.
    pub fn median_minutes(&self, first: impl Fn(&Firsts) -> Option<u32>) -> Option<u32> {
        let mut looks: Vec<u32> = self.runs.iter().map(|r| first(r).unwrap_or(u32::MAX)).collect();
        looks.sort_unstable();
        let middle = looks[(looks.len() - 1) / 2];
        (middle != u32::MAX).then_some(middle * MINUTES_PER_LOOK)
    }
}

/// A share's standard error over `runs` runs when its true value is `p`.
pub fn standard_error(p: f64, runs: usize) -> f64 {
    (p * (1.0 - p) / runs as f64).sqrt()
}

/// The most an A/A cell of `runs` runs may fail: `alpha` plus 3 standard errors.
pub fn aa_limit(runs: usize) -> f64 {
    ALPHA + 3.0 * standard_error(ALPHA, runs)
}

/// Runs `cell` `runs` times from `seed`, split over the machine's threads.
pub fn simulate(cell: Cell, runs: u32, seed: u64, judge: &impl Judge) -> Tally {
    let draws = &Draws::new(cell);
    let threads = thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let chunk = runs.div_ceil(threads);
    let runs = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * chunk).min(runs)..((t + 1) * chunk).min(runs);
                scope.spawn(move || range.map(|run| one_run(cell.id, draws, run, seed, judge)).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a simulation thread panicked")).collect()
    });
    Tally { cell, runs }
}

/// What a look draws for each version, canary first.
enum Draws {
    /// The requests, and the share of them that fail.
    Errors([(Poisson<f64>, f64); 2]),
    /// Each latency bucket's requests.
    Latency([Vec<Option<Poisson<f64>>>; 2]),
}

impl Draws {
    fn new(cell: Cell) -> Draws {
        let requests = [1.0, STABLE_PER_CANARY].map(|share| cell.canary_rpm * share * f64::from(MINUTES_PER_LOOK));
        match cell.kind {
            Kind::Errors { base, factor } => Draws::Errors(
                [(requests[0], base * factor), (requests[1], base)]
                    .map(|(n, rate)| (Poisson::new(n).expect("a positive rate"), rate)),
            ),
            Kind::Latency { slowdown } => {
                Draws::Latency([bucket_draws(requests[0], MEDIAN_MS * slowdown), bucket_draws(requests[1], MEDIAN_MS)])
            }
        }
    }
}

/// One stage of the cell `id`: 12 looks at the counts summed since it began.
fn one_run(id: u32, draws: &Draws, run: u32, seed: u64, judge: &impl Judge) -> Firsts {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((u64::from(id) << 32) | u64::from(run));
    let mut firsts = Firsts::default();
    let mut note = |look: u32, v: Verdicts| {
        let mark = |first: &mut Option<u32>, hit: bool| {
            if hit && first.is_none() {
                *first = Some(look);
            }
        };
        mark(&mut firsts.strict_fail, v.strict == Verdict::Fail);
        mark(&mut firsts.strict_pass, v.strict == Verdict::Pass);
        mark(&mut firsts.margin_fail, v.margin == Some(Verdict::Fail));
        mark(&mut firsts.margin_pass, v.margin == Some(Verdict::Pass));
        firsts.margin_judged |= v.margin.is_some();
    };
    match draws {
        Draws::Errors(versions) => {
            let mut counts = [(0, 0); 2];
            for look in 1..=LOOKS {
                for ((failed, total), (requests, rate)) in counts.iter_mut().zip(versions) {
                    let n = requests.sample(&mut rng) as u64;
                    *failed += Binomial::new(n, *rate).expect("a rate in [0, 1]").sample(&mut rng);
                    *total += n;
                }
                note(look, judge.errors(counts[0], counts[1]));
            }
        }
        Draws::Latency(versions) => {
            let mut counts = [[0u64; ISTIO_BUCKETS.len()]; 2];
            for look in 1..=LOOKS {
                for (buckets, draws) in counts.iter_mut().zip(versions) {
                    for (count, draw) in buckets.iter_mut().zip(draws) {
                        *count += draw.as_ref().map_or(0, |d| d.sample(&mut rng) as u64);
                    }
                }
                note(look, judge.latency(&cumulative(&counts[0]), &cumulative(&counts[1])));
            }
        }
    }
    firsts
}

/// Each bucket's count in a look of Poisson(`requests`) requests whose latencies are log-normal
/// with median `median` ms: Poisson at `requests` times the bucket's probability (None where
/// that is 0).
fn bucket_draws(requests: f64, median: f64) -> Vec<Option<Poisson<f64>>> {
    let z = |le: f64| (le / median).ln() / SIGMA;
    let mut below = f64::NEG_INFINITY;
    ISTIO_BUCKETS
        .iter()
        .map(|&le| {
            let mass = normal_mass(below, z(le));
            below = z(le);
            Poisson::new(requests * mass).ok()
        })
        .collect()
}

/// The probability that a standard normal lies in `[a, b]` (either end may be infinite), by
/// Simpson's rule with 2,000 steps over the part within ±12 (beyond, the mass is below 1e-32).
/// The buckets are at most 4 wide in z, so a step is at most 0.002 and the error at most
/// width·step⁴·max|φ⁗|/180 < 1e-12.
fn normal_mass(a: f64, b: f64) -> f64 {
    const STEPS: u32 = 2000;
    let (a, b) = (a.max(-12.0), b.min(12.0));
    if a >= b {
        return 0.0;
    }
    let step = (b - a) / f64::from(STEPS);
    let density = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let weight = |i: u32| match i {
        0 | STEPS => 1.0,
        i if i % 2 == 1 => 4.0,
        _ => 2.0,
    };
    (0..=STEPS).map(|i| weight(i) * density(a + step * f64::from(i))).sum::<f64>() * step / 3.0
}

/// Per-bucket counts as a Prometheus histogram: `(le, requests at most le)`.
fn cumulative(buckets: &[u64; ISTIO_BUCKETS.len()]) -> Vec<(f64, f64)> {
    let mut total = 0;
    ISTIO_BUCKETS
        .iter()
        .zip(buckets)
        .map(|(&le, &n)| {
            total += n;
            (le, total as f64)
        })
        .collect()
}

/// A share as a percentage.
fn percent(share: f64) -> String {
    format!("{:.2}%", 100.0 * share)
}

/// A share of runs, or "–" where the margin was not judged.
fn margin_share(t: &Tally, first: impl Fn(&Firsts) -> Option<u32>) -> String {
    if t.runs.iter().any(|r| r.margin_judged) { percent(t.share(first)) } else { "–".to_string() }
}

/// The median minutes, or "–" where the margin was not judged.
fn margin_minutes(t: &Tally, first: impl Fn(&Firsts) -> Option<u32>) -> String {
    if t.runs.iter().any(|r| r.margin_judged) { minutes(t.median_minutes(first)) } else { "–".to_string() }
}

fn minutes(median: Option<u32>) -> String {
    median.map_or(format!("> {}", LOOKS * MINUTES_PER_LOOK), |m| m.to_string())
}

/// A cell's traffic: the canary's and stable's requests a minute.
fn traffic(cell: &Cell) -> String {
    format!("{} | {}", cell.canary_rpm, cell.canary_rpm * STABLE_PER_CANARY)
}

/// The A/A cells as a Markdown table: the share ever failed (with no tolerance), its standard
/// error and the test's limit; then the share ever passed with no tolerance and with the margin
/// named `margin`, and the median minutes until passed with the margin.
pub fn aa_table(tallies: &[Tally], margin: &str) -> String {
    let mut out = format!(
        "| cell | canary rpm | stable rpm | runs | ever failed | SE | limit (α + 3 SE) | ever passed \
         | ever passed ({margin}) | median minutes to pass ({margin}) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for t in tallies {
        let failed = t.share(|r| r.strict_fail);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            describe(&t.cell),
            traffic(&t.cell),
            t.runs.len(),
            percent(failed),
            percent(standard_error(failed, t.runs.len())),
            percent(aa_limit(t.runs.len())),
            percent(t.share(|r| r.strict_pass)),
            margin_share(t, |r| r.margin_pass),
            margin_minutes(t, |r| r.margin_pass),
        );
    }
    out
}

/// The A/B cells as a Markdown table: the share caught (ever failed with the margin), its
/// standard error, and the median minutes until caught.
pub fn ab_table(tallies: &[Tally], margin: &str) -> String {
    let mut out = format!(
        "| cell | canary rpm | stable rpm | runs | caught ({margin}) | SE | median minutes to catch |\n\
         |---|---:|---:|---:|---:|---:|---:|\n"
    );
    for t in tallies {
        let caught = t.share(|r| r.margin_fail);
        assert!(t.runs.iter().all(|r| r.margin_judged), "an A/B cell is judged with its margin");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            describe(&t.cell),
            traffic(&t.cell),
            t.runs.len(),
            percent(caught),
            percent(standard_error(caught, t.runs.len())),
            minutes(t.median_minutes(|r| r.margin_fail)),
        );
    }
    out
}

/// Cells worse than stable but within the margin as a Markdown table: the share ever failed
/// with the margin, its standard error, and the limit an A/A cell is held to.
pub fn within_margin_table(tallies: &[Tally], margin: &str) -> String {
    let mut out = format!(
        "| cell | canary rpm | stable rpm | runs | ever failed ({margin}) | SE | limit (α + 3 SE) |\n\
         |---|---:|---:|---:|---:|---:|---:|\n"
    );
    for t in tallies {
        let failed = t.share(|r| r.margin_fail);
        assert!(t.runs.iter().all(|r| r.margin_judged), "the cell is judged with its margin");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            describe(&t.cell),
            traffic(&t.cell),
            t.runs.len(),
            percent(failed),
            percent(standard_error(failed, t.runs.len())),
            percent(aa_limit(t.runs.len())),
        );
    }
    out
}

fn describe(cell: &Cell) -> String {
    match cell.kind {
        Kind::Errors { base, factor: 1.0 } => format!("errors {}", percent(base)),
        Kind::Errors { base, factor } => format!("errors {} → {factor}×", percent(base)),
        Kind::Latency { slowdown: 1.0 } => "latency A/A".to_string(),
        Kind::Latency { slowdown } => format!("latency +{:.0}%", 100.0 * (slowdown - 1.0)),
    }
}

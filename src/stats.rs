//! The statistics the analysis judges a canary with: small pure functions on counts.
//!
//! # Anytime-valid comparisons
//!
//! A scheduled CI job looks at a canary every few minutes for hours. A test that is right "per
//! look" (a fixed-sample 98% interval, a p-value below 0.01) is wrong over many looks: each
//! look is another chance to fail a healthy canary, and over a 2-hour stage looked at every 10
//! minutes those chances add up (the old Newcombe-Wilson test failed 1.6-5.1% of healthy
//! canaries against its nominal 1%). The comparisons here are *confidence sequences*: bounds
//! that hold at every look at once, so the chance that a healthy canary is ever failed during a
//! whole stage, however often it is looked at, stays at most `alpha`.
//!
//! **The building block** is Robbins' mixture martingale for a stream of 0/1 outcomes (Robbins,
//! "Statistical methods related to the law of the iterated logarithm", Ann. Math. Stat. 41,
//! 1970; Howard, Ramdas, McAuliffe and Sekhon, "Time-uniform, nonparametric, nonasymptotic
//! confidence sequences", Ann. Stat. 49(2), 2021, §3 and Prop. 4). After `n` outcomes of which
//! `s` are 1, for any rate `p`,
//!
//! ```text
//! M_n(p) = ∫ q^s (1-q)^(n-s) π(dq) / (p^s (1-p)^(n-s))
//!        = B(a + s, b + n - s) / B(a, b) / (p^s (1-p)^(n-s))        π = Beta(a, b)
//! ```
//!
//! is a nonnegative martingale with `M_0 = 1` when the outcomes are independent with rate `p`,
//! so by Ville's inequality `P(∃n: M_n(p) ≥ 1/α) ≤ α`: the set `{p : M_n(p) < 1/α}` covers the
//! true rate at every `n` at once with probability at least `1 - α`. It is an interval (log M
//! is convex in p and at most 0 at `s/n`), found by bisection ([`rate_bounds`]). kanari mixes
//! over Jeffreys' `Beta(1/2, 1/2)`, whose mass near 0 keeps the bounds tight for rare errors.
//! Because `M_n` depends on the outcomes only through `(s, n)`, evaluating it on the counts a
//! look reads (the sums over the stage's window) is evaluating the martingale at a stopping
//! time: the guarantee covers any schedule of looks, and the verdict is a pure function of the
//! counts, so any look can be replayed.
//!
//! **`errors-vs-stable`** ([`errors_vs_stable`]) takes one such sequence per version at level
//! `α/2` (each version's requests are its own stream; the same window for both). With both
//! covering (probability at least `1 - α`, a union bound) the difference and the ratio of the
//! rates lie between the bounds' extremes, so: fail when even the canary's lowest rate exceeds
//! stable's highest by more than the margin; pass when the canary's highest rate is within the
//! margin of stable's lowest; else inconclusive. A healthy canary (worse by no more than the
//! margin) is then failed at any look, ever, with probability at most `α`; a canary worse by
//! more passes with probability at most `α`. The margin is absolute (percentage points) or
//! relative (`50%`: at most 1.5× stable's rate). One construction serves both margins; the
//! price of the union bound and of the two-sided sequences is width, which is what
//! `kanari analyze --explain` shows ([`needed`]).
//!
//! **`latency-vs-stable`** ([`latency_vs_stable`]) compares medians, read from Istio's latency
//! histograms summed over the window (every request counts, however thin the traffic). For the
//! true median `q`, whether a request is at most `q` is a 0/1 outcome of rate 1/2, so the counts
//! `k` for which `M_n(1/2)` stays below `2/α` ([`median_counts`]) hold `#{x ≤ q}` at every look
//! with probability at least `1 - α/2`, and the median lies between the `k_lo`-th and the
//! `(k_hi + 1)`-th smallest latency: the quantile confidence sequence of Howard and Ramdas
//! ("Sequential estimation of quantiles with applications to A/B-testing and best-arm
//! identification", Bernoulli 28(3), 2022, §2). The order statistics are read from the buckets
//! by interpolation inside a bucket, evenly in the logarithm of the latency ([`Spread`]); the
//! sequence is exact at bucket boundaries, and inside a bucket it is as right as that spread.
//! With Istio's default buckets (…, 100, 250, 500, … ms) a shift smaller than a bucket is an
//! estimate: a canary slower than stable by a little less than the margin, whose median falls
//! inside a wide bucket, can be read as slower than the margin and failed (the simulation in
//! BENCHMARKS.md shows how often); finer buckets (Istio's `sidecar.istio.io/statsHistogramBuckets`)
//! make it exact where it matters. Fail when the
//! canary's lowest median exceeds stable's highest plus the margin (ms, or a percent of stable's
//! median); pass when the canary's highest is below stable's lowest plus the margin.
//!
//! What the guarantee assumes: within a stage, each version's requests fail independently at a
//! steady rate, and latencies come from a steady distribution. Traffic that swings through the
//! day moves both versions together and the comparison stays fair; a rate that drifts for one
//! version only is a real difference.
//!
//! Nothing here reads a clock or does I/O; the caller passes the counts.

/// What an analysis concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The canary is no worse than stable by more than the margin.
    Pass,
    /// The canary is worse than stable, by more than the margin.
    Fail,
    /// The data cannot tell yet.
    Inconclusive,
}

/// How much worse than stable the canary may be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// In the measure's own unit: a rate's fraction (0.005 is half a point) or milliseconds.
    Absolute(f64),
    /// As a factor of stable's value: 1.5 for `50%`.
    Factor(f64),
}

impl Tolerance {
    /// The highest canary value within the tolerance of a stable value.
    pub fn limit(self, stable: f64) -> f64 {
        match self {
            Tolerance::Absolute(m) => stable + m,
            Tolerance::Factor(f) => stable * f,
        }
    }
}

/// ln Γ(x) for x > 0: Lanczos' approximation with Godfrey's coefficients (g = 7, 9 terms),
/// about 15 significant digits, with the recurrence Γ(x) = Γ(x + 1) / x below 0.5.
pub(crate) fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    #[allow(clippy::excessive_precision)]
    const C: [f64; 9] = [
        0.99999999999980993,
        676.5203681218851,
        -1259.1392167224028,
        771.32342877765313,
        -176.61502916214059,
        12.507343278686905,
        -0.13857109526572012,
        9.9843695780195716e-6,
        1.5056327351493116e-7,
    ];
    if x < 0.5 {
        // Γ(x) = Γ(x + 1) / x
        return ln_gamma(x + 1.0) - x.ln();
    }
    let x = x - 1.0;
    let mut sum = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// ln B(a, b).
pub(crate) fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// The mixing prior's parameters, Jeffreys' Beta(1/2, 1/2).
const PRIOR: f64 = 0.5;

/// ln M_n(p): the log of the Beta(1/2, 1/2) mixture martingale after `n` outcomes with `s` ones,
/// against the rate `p` (see the module's docs). +∞ where `p` is impossible (0 with a one seen,
/// 1 with a zero seen).
pub fn ln_mixture(s: u64, n: u64, p: f64) -> f64 {
    let (s, f) = (s as f64, n.saturating_sub(s) as f64);
    let ln_prior = ln_beta(s + PRIOR, f + PRIOR) - ln_beta(PRIOR, PRIOR);
    let term = |count: f64, ln_q: f64| if count == 0.0 { 0.0 } else { count * ln_q };
    ln_prior - term(s, p.ln()) - term(f, (-p).ln_1p())
}

/// A rate's bounds at one look, with its estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub low: f64,
    pub estimate: f64,
    pub high: f64,
}

/// The anytime-valid bounds of a rate from `s` ones in `n` outcomes, at level `1 - alpha`: the
/// set `{p : ln M_n(p) < ln(1/alpha)}`, its ends by bisection to 1e-12 of the bound (each end
/// is outside the set). ln M_n is a difference of terms of size n·ln n, so at a billion requests
/// the ends carry a relative error of about 1e-7: far below what a verdict turns on. `[0, 1]` when
/// `n` is 0.
pub fn rate_bounds(s: u64, n: u64, alpha: f64) -> Bounds {
    let s = s.min(n);
    if n == 0 {
        return Bounds { low: 0.0, estimate: f64::NAN, high: 1.0 };
    }
    let estimate = s as f64 / n as f64;
    let bar = (1.0 / alpha).ln();
    let outside = |p: f64| ln_mixture(s, n, p) >= bar;
    // Between an end of [0, 1] and the estimate, the boundary by bisection: `inner` is the
    // estimate's side. It stops at 1e-12 of the bound, or after 200 halvings (a double's
    // spacing at the least).
    let boundary = |mut outer: f64, mut inner: f64| {
        for _ in 0..200 {
            let mid = 0.5 * (outer + inner);
            if mid == outer || mid == inner || (outer - inner).abs() <= 1e-12 * outer.abs().max(inner.abs()) {
                break;
            }
            if outside(mid) {
                outer = mid;
            } else {
                inner = mid;
            }
        }
        outer
    };
    let low = if s == 0 || !outside(0.0) { 0.0 } else { boundary(0.0, estimate) };
    let high = if s == n || !outside(1.0) { 1.0 } else { boundary(1.0, estimate) };
    Bounds { low, estimate, high }
}

/// A comparison of the canary's and stable's error rates at one look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatesTest {
    /// Each version's rate, with its bounds at `alpha / 2`.
    pub canary: Bounds,
    pub stable: Bounds,
    pub verdict: Verdict,
}

/// `errors-vs-stable` on the counts `(failed, requests)` of each version over the same window,
/// at level `alpha` (see the module's docs). None when a version served no request.
pub fn errors_vs_stable(canary: (u64, u64), stable: (u64, u64), alpha: f64, tolerance: Tolerance) -> Option<RatesTest> {
    if canary.1 == 0 || stable.1 == 0 {
        return None;
    }
    let c = rate_bounds(canary.0, canary.1, alpha / 2.0);
    let s = rate_bounds(stable.0, stable.1, alpha / 2.0);
    let verdict = judge(c.low, c.high, s.low, s.high, tolerance);
    Some(RatesTest { canary: c, stable: s, verdict })
}

/// Fail when the canary's lowest exceeds the limit of stable's highest; pass when its highest is
/// below the limit of stable's lowest.
fn judge(canary_low: f64, canary_high: f64, stable_low: f64, stable_high: f64, tolerance: Tolerance) -> Verdict {
    if canary_low > tolerance.limit(stable_high) {
        Verdict::Fail
    } else if canary_high < tolerance.limit(stable_low) {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    }
}

/// A latency histogram summed over a window: `(le, requests at most le)` in increasing `le`,
/// the last `+Inf` (the total). Checked by the caller: finite, non-negative, non-decreasing.
pub(crate) type Histogram = [(f64, f64)];

/// How requests are taken to spread inside a bucket when an order statistic is read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spread {
    /// Evenly in the latency, as Prometheus' `histogram_quantile` reads a bucket.
    Linear,
    /// Evenly in the latency's logarithm (a bucket from 0 linearly): latencies are skewed to
    /// the right, and inside Istio's wide buckets (100 to 250 ms) an even spread reads a
    /// canary 8% slower than stable as 18% slower; spread by the logarithm, as 11% slower.
    Geometric,
}

/// The latency of the `c`-th request in order (`0 < c ≤ total`), read from the buckets by
/// interpolation inside the bucket that holds it ([`Spread`]; the first bucket from 0). A
/// position in the `+Inf` bucket reads as `top`: the highest finite bound for an estimate or a
/// lower bound, +∞ for an upper bound.
pub(crate) fn order_statistic(h: &Histogram, c: f64, top: f64, spread: Spread) -> f64 {
    let mut below = (0.0, 0.0);
    for &(le, count) in h {
        if count >= c && count > below.1 {
            if le.is_infinite() {
                return top;
            }
            let (lo, share) = (below.0, (c - below.1) / (count - below.1));
            return match spread {
                Spread::Geometric if lo > 0.0 => lo * (le / lo).powf(share),
                _ => lo + (le - lo) * share,
            };
        }
        if le.is_finite() {
            below = (le, count);
        }
    }
    top
}

/// The counts `[k_lo, k_hi]` of requests at most the true median that the median's confidence
/// sequence keeps at `n` requests, level `1 - alpha`: those where `ln M_n(1/2) < ln(1/alpha)`
/// (symmetric about n/2; `k_lo` found by bisection, as `ln M_n(1/2)` falls from 0 to n/2).
pub fn median_counts(n: u64, alpha: f64) -> (u64, u64) {
    let bar = (1.0 / alpha).ln();
    let inside = |k: u64| ln_mixture(k, n, 0.5) < bar;
    let half = n / 2;
    if inside(0) {
        return (0, n);
    }
    // inside(half) holds: the mixture is at most 1 at the estimate 1/2.
    let (mut out, mut inn) = (0u64, half);
    while inn - out > 1 {
        let mid = out + (inn - out) / 2;
        if inside(mid) {
            inn = mid;
        } else {
            out = mid;
        }
    }
    (inn, n - inn)
}

/// A version's median latency with its anytime-valid bounds at `alpha`, from its histogram
/// (read with [`Spread::Geometric`]). None without requests.
pub fn median_bounds(h: &Histogram, alpha: f64) -> Option<Bounds> {
    let total = h.last()?.1;
    let n = total.round() as u64;
    if n == 0 {
        return None;
    }
    let top = h.iter().rev().find(|(le, _)| le.is_finite()).map_or(0.0, |(le, _)| *le);
    let (k_lo, k_hi) = median_counts(n, alpha);
    let at = |c: f64, top: f64| order_statistic(h, c, top, Spread::Geometric);
    let low = if k_lo == 0 { 0.0 } else { at(k_lo as f64, top) };
    let high = if k_hi >= n { f64::INFINITY } else { at((k_hi + 1) as f64, f64::INFINITY) };
    Some(Bounds { low, estimate: at(total / 2.0, top), high })
}

/// A comparison of the canary's and stable's median latencies at one look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MediansTest {
    /// Each version's median in ms, with its bounds at `alpha / 2`.
    pub canary: Bounds,
    pub stable: Bounds,
    pub verdict: Verdict,
}

/// `latency-vs-stable` on each version's histogram over the same window, at level `alpha` (see
/// the module's docs). A percent tolerance is of stable's median. None when a version served no
/// request.
pub fn latency_vs_stable(
    canary: &Histogram,
    stable: &Histogram,
    alpha: f64,
    tolerance: Tolerance,
) -> Option<MediansTest> {
    let c = median_bounds(canary, alpha / 2.0)?;
    let s = median_bounds(stable, alpha / 2.0)?;
    let verdict = judge(c.low, c.high, s.low, s.high, tolerance);
    Some(MediansTest { canary: c, stable: s, verdict })
}

/// The fewest canary requests, at least `from`, with which `passes` holds, searched up to 10^12
/// (doubling, then bisection); None when even that many do not pass. `passes` must be monotone
/// (more requests at the same rates never turn a pass into no pass).
pub(crate) fn needed(from: u64, passes: impl Fn(u64) -> bool) -> Option<u64> {
    const MOST: u64 = 1_000_000_000_000;
    let mut low = from.max(1);
    if passes(low) {
        return Some(low);
    }
    let mut high = low;
    loop {
        if high >= MOST {
            return None;
        }
        high = (high * 2).min(MOST);
        if passes(high) {
            break;
        }
        low = high;
    }
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if passes(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    Some(high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_known_values() {
        // Γ(1) = Γ(2) = 1, Γ(1/2) = √π, Γ(10) = 9!, Γ(1e6) by Stirling's series.
        assert!(ln_gamma(1.0).abs() < 1e-14 && ln_gamma(2.0).abs() < 1e-14);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-14);
        assert!((ln_gamma(10.0) - 362880f64.ln()).abs() < 1e-12);
        let x: f64 = 1e6;
        let stirling = (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x);
        assert!((ln_gamma(x) - stirling).abs() < 1e-6, "{} vs {stirling}", ln_gamma(x));
    }

    #[test]
    fn bounds_hold_the_estimate_and_narrow_with_more_requests() {
        let few = rate_bounds(10, 1_000, 0.005);
        let many = rate_bounds(1_000, 100_000, 0.005);
        assert!(few.low < 0.01 && 0.01 < few.high, "{few:?}");
        assert!(few.low < many.low && many.high < few.high, "{few:?} {many:?}");
        assert_eq!(rate_bounds(0, 1_000, 0.005).low, 0.0);
        assert_eq!(rate_bounds(1_000, 1_000, 0.005).high, 1.0);
        let none = rate_bounds(0, 0, 0.005);
        assert!(none.low == 0.0 && none.high == 1.0 && none.estimate.is_nan(), "{none:?}");
    }
}

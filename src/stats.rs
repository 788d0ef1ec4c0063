//! The statistics the analysis judges a canary with: small pure functions on numbers.
//!
//! Two comparisons of a canary with the stable version over the same window. `errors-vs-stable`
//! takes a Newcombe-Wilson interval for the difference of the error rates ([`newcombe_difference`])
//! and judges it with [`errors_verdict`]. `latency-vs-stable` runs a one-sided Mann-Whitney test on
//! per-minute mean latencies with a Hodges-Lehmann shift ([`mann_whitney_greater`]) and judges it
//! with [`latency_verdict`]. Nothing here reads a clock or does I/O; the caller passes the counts.

/// The two-sided confidence of the error-rate interval `errors-vs-stable` judges.
pub const ERRORS_CONFIDENCE: f64 = 0.98;

/// The one-sided confidence of the latency shift's upper bound `latency-vs-stable` judges; a
/// latency fails only on a p-value below `1 - LATENCY_CONFIDENCE` (0.01).
pub const LATENCY_CONFIDENCE: f64 = 0.99;

/// The fewest paired minutes a latency verdict other than inconclusive needs.
pub const MIN_MINUTES: usize = 12;

/// The standard normal distribution function Φ(x).
///
/// Within |x| < 2 the Taylor series Φ(x) = 1/2 + φ(x) Σ x^(2k+1) / (1·3·…·(2k+1)) (Marsaglia,
/// "Evaluating the Normal Distribution", J. Stat. Software 11(4), 2004); beyond, the tail from
/// Laplace's continued fraction for the Mills ratio, so a small tail keeps its relative accuracy.
/// Agrees with R's `pnorm` to about 1e-14, relative.
pub fn normal_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x.abs() < 2.0 {
        let (mut sum, mut term) = (x, x);
        // The terms fall faster than geometrically here; 100 is far more than double precision needs.
        for k in 1..100 {
            term *= x * x / (2 * k + 1) as f64;
            let next = sum + term;
            if next == sum {
                break;
            }
            sum = next;
        }
        return 0.5 + density(x) * sum;
    }
    let tail = upper_tail(x.abs());
    if x > 0.0 { 1.0 - tail } else { tail }
}

/// 1 − Φ(x) for x ≥ 2: φ(x) / (x + 1/(x + 2/(x + 3/(x + …)))), evaluated from a fixed depth up.
fn upper_tail(x: f64) -> f64 {
    if x > 40.0 {
        return 0.0; // below the smallest double
    }
    let mut rest = 0.0;
    for k in (1..=100).rev() {
        rest = k as f64 / (x + rest);
    }
    density(x) / (x + rest)
}

/// The standard normal density, with x² split so that exp(−x²/2) keeps its accuracy in the tails.
fn density(x: f64) -> f64 {
    let head = (x * 16.0).trunc() / 16.0;
    let rest = (x - head) * (x + head);
    (-0.5 * head * head).exp() * (-0.5 * rest).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// The inverse of [`normal_cdf`]: the z with Φ(z) = p. −∞ at 0, +∞ at 1, NaN outside [0, 1].
///
/// Wichura's algorithm AS 241 (PPND16, Applied Statistics 37(3), 1988), accurate to about 1 part
/// in 10^16; R's `qnorm` uses the same.
pub fn normal_quantile(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q * poly(&AS241_A, r) / poly(&AS241_B, r);
    }
    let tail = if q < 0.0 { p } else { 1.0 - p };
    if tail == 0.0 {
        return if q < 0.0 { f64::NEG_INFINITY } else { f64::INFINITY };
    }
    let r = (-tail.ln()).sqrt();
    let z = if r <= 5.0 {
        poly(&AS241_C, r - 1.6) / poly(&AS241_D, r - 1.6)
    } else {
        poly(&AS241_E, r - 5.0) / poly(&AS241_F, r - 5.0)
    };
    if q < 0.0 { -z } else { z }
}

/// A polynomial's value at `x`, its coefficients lowest power first (Horner's rule).
fn poly(coefficients: &[f64], x: f64) -> f64 {
    coefficients.iter().rev().fold(0.0, |value, c| value * x + c)
}

// The coefficients of AS 241, lowest power first: A/B near the median, C/D and E/F in the tails.
#[allow(clippy::excessive_precision)]
const AS241_A: [f64; 8] = [
    3.3871328727963666080e0,
    1.3314166789178437745e2,
    1.9715909503065514427e3,
    1.3731693765509461125e4,
    4.5921953931549871457e4,
    6.7265770927008700853e4,
    3.3430575583588128105e4,
    2.5090809287301226727e3,
];
#[allow(clippy::excessive_precision)]
const AS241_B: [f64; 8] = [
    1.0,
    4.2313330701600911252e1,
    6.8718700749205790830e2,
    5.3941960214247511077e3,
    2.1213794301586595867e4,
    3.9307895800092710610e4,
    2.8729085735721942674e4,
    5.2264952788528545610e3,
];
#[allow(clippy::excessive_precision)]
const AS241_C: [f64; 8] = [
    1.42343711074968357734e0,
    4.63033784615654529590e0,
    5.76949722146069140550e0,
    3.64784832476320460504e0,
    1.27045825245236838258e0,
    2.41780725177450611770e-1,
    2.27238449892691845833e-2,
    7.74545014278341407640e-4,
];
#[allow(clippy::excessive_precision)]
const AS241_D: [f64; 8] = [
    1.0,
    2.05319162663775882187e0,
    1.67638483018380384940e0,
    6.89767334985100004550e-1,
    1.48103976427480074590e-1,
    1.51986665636164571966e-2,
    5.47593808499534494600e-4,
    1.05075007164441684324e-9,
];
#[allow(clippy::excessive_precision)]
const AS241_E: [f64; 8] = [
    6.65790464350110377720e0,
    5.46378491116411436990e0,
    1.78482653991729133580e0,
    2.96560571828504891230e-1,
    2.65321895265761230930e-2,
    1.24266094738807843860e-3,
    2.71155556874348757815e-5,
    2.01033439929228813265e-7,
];
#[allow(clippy::excessive_precision)]
const AS241_F: [f64; 8] = [
    1.0,
    5.99832206555887937690e-1,
    1.36929880922735805310e-1,
    1.48753612908506148525e-2,
    7.86869131145613259100e-4,
    1.84631831751005468180e-5,
    1.42151175831644588870e-7,
    2.04426310338993978564e-15,
];

/// The Wilson score interval (Wilson 1927) for a proportion `successes / n`, without continuity
/// correction, as proportions in [0, 1]: `z` is the standard normal quantile of the two-sided
/// confidence (1.96 for 95%). The same interval as R's `prop.test(x, n, correct = FALSE)`. With
/// `n` = 0 it is all of [0, 1]; a count above `n` counts as `n`.
pub fn wilson(successes: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let successes = successes.min(n);
    let (x, n_f) = (successes as f64, n as f64);
    let p = x / n_f;
    let z2 = z * z;
    let center = p + z2 / (2.0 * n_f);
    let spread = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    let scale = 1.0 + z2 / n_f;
    let low = if successes == 0 { 0.0 } else { ((center - spread) / scale).max(0.0) };
    let high = if successes == n { 1.0 } else { ((center + spread) / scale).min(1.0) };
    (low, high)
}

/// Whether `p` lies strictly between 0 and 1 (NaN does not).
fn within_unit(p: f64) -> bool {
    p > 0.0 && p < 1.0
}

/// A point estimate and the two ends of its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// The difference of two proportions `x1/n1 − x2/n2` (canary's error rate minus stable's) with
/// its Newcombe-Wilson hybrid score interval at the two-sided `confidence` (0.98 is 98%): method 10
/// of Newcombe, "Interval estimation for the difference between independent proportions",
/// Statistics in Medicine 17, 1998, built from each proportion's [`wilson`] interval without
/// continuity correction. All three numbers are in percentage points (100 × the proportions), the
/// unit of the margin [`errors_verdict`] compares with. None when a count of trials is 0, a count
/// exceeds its trials, or `confidence` is not inside (0, 1).
pub fn newcombe_difference(x1: u64, n1: u64, x2: u64, n2: u64, confidence: f64) -> Option<Interval> {
    if n1 == 0 || n2 == 0 || x1 > n1 || x2 > n2 || !within_unit(confidence) {
        return None;
    }
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let ((l1, u1), (l2, u2)) = (wilson(x1, n1, z), wilson(x2, n2, z));
    let estimate = p1 - p2;
    let low = estimate - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let high = estimate + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    Some(Interval { estimate: 100.0 * estimate, low: 100.0 * low, high: 100.0 * high })
}

/// The outcome of [`mann_whitney_greater`], in the samples' unit (milliseconds for latencies).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankTest {
    /// The Mann-Whitney statistic of the canary: the pairs (canary, stable) where the canary's
    /// value is greater, ties counting a half; R's `W`.
    pub u: f64,
    /// The one-sided p-value for "canary greater than stable".
    pub p_value: f64,
    /// The Hodges-Lehmann shift: the median of all differences `canary[i] − stable[j]`.
    pub shift: f64,
    /// The shift's one-sided upper confidence bound.
    pub shift_upper: f64,
}

/// The Wilcoxon-Mann-Whitney rank-sum test of `canary` against `stable` with the alternative
/// "canary greater", by the normal approximation with tie and continuity corrections, and the
/// Hodges-Lehmann estimate of the shift with its upper bound at the one-sided `confidence`.
///
/// `u` and `p_value` are R's `wilcox.test(canary, stable, alternative = "greater", exact = FALSE,
/// correct = TRUE)`. `shift_upper` is the upper end of R's `conf.int` for the same call with
/// `alternative = "less"` and `conf.level = confidence`: the shift where the corrected statistic
/// of `canary − shift` against `stable` crosses the normal quantile of `1 − confidence`. R finds
/// that crossing with `uniroot` (to within `tol.root`, 1e-4 by default); the statistic only
/// changes at a pairwise difference, so here the crossing is that difference, exactly.
/// `shift` is the median of the pairwise differences, the exact Hodges-Lehmann estimate; R's
/// `exact = FALSE` estimate is a root of the uncorrected statistic instead, which is the same
/// point except when that statistic is zero between the two middle differences: then R returns
/// some point between them and this the midpoint.
///
/// When every observation is tied the p-value is 1 and both shifts 0 (R gives no interval then). It
/// holds all m·n pairwise differences in memory (two million for a day of minutes). None when a
/// sample is empty or holds a value that is not finite, or `confidence` is not inside (0, 1).
pub fn mann_whitney_greater(canary: &[f64], stable: &[f64], confidence: f64) -> Option<RankTest> {
    let finite = |sample: &[f64]| !sample.is_empty() && sample.iter().all(|v| v.is_finite());
    if !finite(canary) || !finite(stable) || !within_unit(confidence) {
        return None;
    }
    let (u, z) = rank_statistic(canary, stable, 0.0, 0.5);
    let p_value = normal_cdf(-z);

    let mut diffs: Vec<f64> = canary.iter().flat_map(|x| stable.iter().map(move |y| x - y)).collect();
    diffs.sort_by(|a, b| a.total_cmp(b));
    let middle = diffs.len() / 2;
    let shift = if diffs.len() % 2 == 1 { diffs[middle] } else { (diffs[middle - 1] + diffs[middle]) / 2.0 };
    diffs.dedup();

    // The statistic for alternative "less" (correction −0.5) falls as the shift d grows; the bound
    // is where it crosses zq. R's `root`: the smallest difference if the statistic there is
    // already at or below zq, the largest if it is still at or above it there.
    let zq = normal_quantile(1.0 - confidence);
    let above = |d: f64| rank_statistic(canary, stable, d, -0.5).1 - zq;
    let last = diffs.len() - 1;
    let shift_upper = if above(diffs[0]) <= 0.0 {
        diffs[0]
    } else if above(diffs[last]) >= 0.0 {
        diffs[last]
    } else {
        // Between two neighbouring differences the statistic is constant: find the first gap where
        // it is at or below zq; the crossing is at the difference that opens that gap.
        let (mut lo, mut hi) = (0, last);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let inside = diffs[mid] + (diffs[mid + 1] - diffs[mid]) / 2.0;
            if above(inside) > 0.0 { lo = mid + 1 } else { hi = mid }
        }
        diffs[lo]
    };
    Some(RankTest { u, p_value, shift, shift_upper })
}

/// The Mann-Whitney statistic of `canary − d` against `stable` (midranks for ties) and its
/// standardized value (W − mn/2 − correction) / σ, with σ corrected for ties as R computes it.
fn rank_statistic(canary: &[f64], stable: &[f64], d: f64, correction: f64) -> (f64, f64) {
    let mut all: Vec<(f64, bool)> =
        canary.iter().map(|x| (x - d, true)).chain(stable.iter().map(|&y| (y, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut ties) = (0.0, 0.0);
    let mut start = 0;
    while start < all.len() {
        let group = all[start..].iter().take_while(|v| v.0 == all[start].0).count();
        let in_canary = all[start..start + group].iter().filter(|v| v.1).count() as f64;
        let t = group as f64;
        rank_sum += in_canary * (2 * start + group + 1) as f64 / 2.0;
        ties += t * t * t - t;
        start += group;
    }
    let (m, n) = (canary.len() as f64, stable.len() as f64);
    let u = rank_sum - m * (m + 1.0) / 2.0;
    let total = m + n;
    let sigma = (m * n / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)))).max(0.0).sqrt();
    (u, (u - m * n / 2.0 - correction) / sigma)
}

/// What an analysis concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The canary is no worse than stable by more than the margin.
    Pass,
    /// The canary is worse than stable, by at least the margin.
    Fail,
    /// The data cannot tell yet.
    Inconclusive,
}

/// The `errors-vs-stable` verdict on a [`newcombe_difference`] interval (taken at
/// [`ERRORS_CONFIDENCE`]) and a margin in percentage points (`margin: 0.5` is half a point): fail
/// when the whole interval lies above 0 and the observed difference is at least the margin; pass
/// when the interval's upper end is below the margin; inconclusive otherwise.
pub fn errors_verdict(interval: &Interval, margin: f64) -> Verdict {
    if interval.low > 0.0 && interval.estimate >= margin {
        Verdict::Fail
    } else if interval.high < margin {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    }
}

/// The `latency-vs-stable` verdict on a [`mann_whitney_greater`] test (taken at
/// [`LATENCY_CONFIDENCE`]) over `minutes` paired minutes, with a margin in the samples' unit (the
/// caller turns a percentage of stable's median into one): fail when p < 0.01 and the shift is at
/// least the margin; pass when the shift's upper bound is below the margin; inconclusive otherwise,
/// and always with no test or fewer than [`MIN_MINUTES`] minutes.
pub fn latency_verdict(test: Option<&RankTest>, minutes: usize, margin: f64) -> Verdict {
    match test {
        Some(test) if minutes >= MIN_MINUTES => {
            if test.p_value < 1.0 - LATENCY_CONFIDENCE && test.shift >= margin {
                Verdict::Fail
            } else if test.shift_upper < margin {
                Verdict::Pass
            } else {
                Verdict::Inconclusive
            }
        }
        _ => Verdict::Inconclusive,
    }
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // the reference values as R prints them with %.17g
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(actual: f64, expected: f64, relative: f64) -> bool {
        actual == expected || (actual - expected).abs() <= relative * expected.abs().max(1e-300)
    }

    // R 4.2.2: `sprintf("%.17g", qnorm(p))`.
    const QUANTILES: &[(f64, f64)] = &[
        (1e-300, -37.047096299361201),
        (1e-10, -6.3613409024040557),
        (0.001, -3.0902323061678132),
        (0.01, -2.3263478740408408),
        (0.025, -1.9599639845400538),
        (0.3, -0.52440051270804067),
        (0.5, 0.0),
        (0.9, 1.2815515655446008),
        (0.975, 1.9599639845400536),
        (0.99, 2.3263478740408408),
        (0.995, 2.5758293035488999),
        (1.0 - 1e-12, 7.0344869100478356),
    ];

    #[test]
    fn normal_quantile_matches_r() {
        for &(p, z) in QUANTILES {
            assert!(close(normal_quantile(p), z, 1e-15), "qnorm({p}) = {z}, got {}", normal_quantile(p));
        }
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
        assert!(normal_quantile(1.5).is_nan() && normal_quantile(f64::NAN).is_nan());
    }

    // R 4.2.2: `sprintf("%.17g", pnorm(x))`.
    const CDF: &[(f64, f64)] = &[
        (-37.0, 5.7255712225245771e-300),
        (-10.0, 7.6198530241605269e-24),
        (-5.0, 2.8665157187919391e-07),
        (-3.0, 0.0013498980316300946),
        (-2.0, 0.022750131948179212),
        (-1.5, 0.066807201268858071),
        (-0.3, 0.38208857781104733),
        (0.0, 0.5),
        (0.5, 0.69146246127401301),
        (1.959963984540054, 0.975),
        (2.0, 0.97724986805182079),
        (3.0, 0.9986501019683699),
        (6.0, 0.9999999990134123),
        (8.5, 1.0),
    ];

    #[test]
    fn normal_cdf_matches_r() {
        for &(x, p) in CDF {
            assert!(close(normal_cdf(x), p, 1e-14), "pnorm({x}) = {p}, got {}", normal_cdf(x));
        }
        assert_eq!((normal_cdf(f64::NEG_INFINITY), normal_cdf(f64::INFINITY)), (0.0, 1.0));
    }

    // R 4.2.2: `z <- qnorm(1 - (1 - conf)/2); prop.test(x, n, conf.level = conf, correct = FALSE)$conf.int`,
    // which is the Wilson interval; as (x, n, z, low, high).
    const WILSON: &[(u64, u64, f64, f64, f64)] = &[
        (0, 10, 1.9599639845400536, 0.0, 0.27753279986288915),
        (1, 10, 1.9599639845400536, 0.017876213095072892, 0.40415002679523837),
        (10, 10, 1.9599639845400536, 0.72246720013711085, 1.0),
        (56, 70, 1.9599639845400536, 0.69183355503746946, 0.87695260751637039),
        (48, 80, 1.9599639845400536, 0.49045465005160405, 0.70038172404129073),
        (3, 2000, 2.3263478740408408, 0.00042625426763830376, 0.005264294622963522),
        (37, 5000, 2.3263478740408408, 0.0050646070110227336, 0.010800599710407487),
    ];

    #[test]
    fn wilson_matches_r() {
        for &(x, n, z, low, high) in WILSON {
            let (l, h) = wilson(x, n, z);
            assert!(close(l, low, 1e-12) && close(h, high, 1e-12), "{x}/{n}: ({low}, {high}), got ({l}, {h})");
        }
        assert_eq!(wilson(0, 0, 1.96), (0.0, 1.0));
    }

    // Newcombe's method 10 written out in R 4.2.2 from the paper:
    //   wil <- function(x, n, conf) prop.test(x, n, conf.level = conf, correct = FALSE)$conf.int
    //   newcombe <- function(x1, n1, x2, n2, conf) {
    //     p1 <- x1/n1; p2 <- x2/n2; a <- wil(x1, n1, conf); b <- wil(x2, n2, conf); d <- p1 - p2
    //     100 * c(d, d - sqrt((p1 - a[1])^2 + (b[2] - p2)^2), d + sqrt((a[2] - p1)^2 + (p2 - b[1])^2))
    //   }
    // as (x1, n1, x2, n2, confidence, estimate, low, high) in percentage points. The first row is
    // Newcombe's own example (a), published as 0.0524 to 0.3339; the next seven are his other
    // examples; the last three are canary-sized counts at the analysis's 98%.
    type NewcombeRow = (u64, u64, u64, u64, f64, f64, f64, f64);
    const NEWCOMBE: &[NewcombeRow] = &[
        (56, 70, 48, 80, 0.95, 20.000000000000007, 5.2431472402364925, 33.387265403690584),
        (9, 10, 3, 10, 0.95, 60.000000000000007, 17.052272393450309, 80.901797353548801),
        (6, 7, 2, 7, 0.95, 57.142857142857139, 5.8227927482312314, 80.624963752422772),
        (5, 56, 0, 29, 0.95, 8.9285714285714288, -3.8137147903536852, 19.256001385511155),
        (0, 10, 0, 20, 0.95, 0.0, -16.11251580528193, 27.753279986288916),
        (0, 10, 0, 10, 0.95, 0.0, -27.753279986288916, 27.753279986288916),
        (10, 10, 0, 20, 0.95, 100.0, 67.908603714191486, 100.0),
        (10, 10, 0, 10, 0.95, 100.0, 60.750935043052436, 100.0),
        (37, 5000, 2100, 400000, 0.98, 0.215, -0.020124796347452834, 0.55604641227803586),
        (0, 800, 120, 60000, 0.98, -0.2, -0.24715723555334043, 0.47302471523104617),
        (90, 4000, 1200, 250000, 0.98, 1.77, 1.2844422611456061, 2.3842405459903295),
    ];

    #[test]
    fn newcombe_difference_matches_r_and_the_paper() {
        for &(x1, n1, x2, n2, confidence, estimate, low, high) in NEWCOMBE {
            let got = newcombe_difference(x1, n1, x2, n2, confidence).unwrap();
            let want = Interval { estimate, low, high };
            let near = |a: f64, b: f64| (a - b).abs() <= 1e-10;
            assert!(
                near(got.estimate, estimate) && near(got.low, low) && near(got.high, high),
                "{x1}/{n1} - {x2}/{n2}: {want:?}, got {got:?}"
            );
        }
        let published = newcombe_difference(56, 70, 48, 80, 0.95).unwrap();
        assert_eq!(
            (format!("{:.2}", published.low), format!("{:.2}", published.high)),
            ("5.24".into(), "33.39".into())
        );
    }

    #[test]
    fn newcombe_difference_refuses_empty_or_impossible_counts() {
        assert_eq!(newcombe_difference(0, 0, 1, 10, 0.98), None);
        assert_eq!(newcombe_difference(1, 10, 0, 0, 0.98), None);
        assert_eq!(newcombe_difference(11, 10, 1, 10, 0.98), None);
        assert_eq!(newcombe_difference(1, 10, 1, 10, 1.0), None);
    }

    // R 4.2.2, for each (x, y) below:
    //   g <- wilcox.test(x, y, alternative = "greater", exact = FALSE, correct = TRUE)
    //   l <- wilcox.test(x, y, alternative = "less", exact = FALSE, correct = TRUE, conf.int = TRUE,
    //                    conf.level = 0.99, tol.root = 1e-10)   # and conf.level = 0.95
    //   c(g$statistic, g$p.value, median(outer(x, y, "-")), l$conf.int[2])
    // Case A's `estimate` from R (exact = FALSE) is 1.8475…, inside the flat stretch between the
    // two middle differences, 1.8 and 2.0; the Hodges-Lehmann median is 1.9.
    struct RankCase {
        canary: &'static [f64],
        stable: &'static [f64],
        u: f64,
        p_value: f64,
        shift: f64,
        upper_99: f64,
        upper_95: f64,
    }

    const RANK_CASES: &[RankCase] = &[
        // A: no ties.
        RankCase {
            canary: &[12.1, 14.3, 15.2, 13.8, 16.0, 14.9],
            stable: &[11.5, 12.9, 13.1, 12.2, 14.0],
            u: 25.0,
            p_value: 0.041418712579403161,
            shift: 1.9,
            upper_99: 3.8,
            upper_95: 3.0,
        },
        // B: whole milliseconds, many ties within and across the samples.
        RankCase {
            canary: &[101.0, 103.0, 103.0, 105.0, 107.0, 107.0, 107.0, 110.0, 112.0, 115.0, 103.0, 108.0],
            stable: &[100.0, 101.0, 101.0, 103.0, 104.0, 104.0, 106.0, 107.0, 99.0, 102.0, 100.0, 105.0],
            u: 115.5,
            p_value: 0.0062570187141281867,
            shift: 4.0,
            upper_99: 8.0,
            upper_95: 6.0,
        },
        // C: fifteen minutes, the canary slower by about 3 ms.
        RankCase {
            canary: &[48.2, 51.7, 50.3, 55.1, 49.8, 53.4, 52.2, 56.9, 50.1, 54.6, 51.1, 53.0, 57.3, 49.5, 52.8],
            stable: &[47.9, 49.1, 46.5, 50.2, 48.8, 47.3, 51.0, 49.6, 48.1, 46.9, 50.7, 48.4, 49.9, 47.7, 48.0],
            u: 203.0,
            p_value: 9.4596490327216858e-05,
            shift: 3.4,
            upper_99: 5.8,
            upper_95: 5.0,
        },
        // D: the canary faster.
        RankCase {
            canary: &[20.5, 21.0, 19.8, 22.1, 20.0, 21.4, 19.5, 20.9, 21.8, 20.2, 19.9, 21.1],
            stable: &[22.0, 23.5, 21.9, 24.1, 22.8, 23.0, 21.5, 22.2, 24.6, 23.3, 22.7, 23.9, 22.4],
            u: 4.0,
            p_value: 0.99997463800307995,
            shift: -2.2,
            upper_99: -1.3,
            upper_95: -1.6,
        },
    ];

    #[test]
    fn mann_whitney_matches_r() {
        for (i, case) in RANK_CASES.iter().enumerate() {
            let test = mann_whitney_greater(case.canary, case.stable, 0.99).unwrap();
            let upper_95 = mann_whitney_greater(case.canary, case.stable, 0.95).unwrap().shift_upper;
            let near = |a: f64, b: f64| (a - b).abs() <= 1e-9;
            assert_eq!(test.u, case.u, "case {i}");
            assert!(close(test.p_value, case.p_value, 1e-12), "case {i}: p {}, got {test:?}", case.p_value);
            assert!(near(test.shift, case.shift), "case {i}: shift {}, got {test:?}", case.shift);
            assert!(near(test.shift_upper, case.upper_99), "case {i}: 99% bound {}, got {test:?}", case.upper_99);
            assert!(near(upper_95, case.upper_95), "case {i}: 95% bound {}, got {upper_95}", case.upper_95);
        }
    }

    #[test]
    fn mann_whitney_all_tied_and_refused_inputs() {
        // R: W = 72, p-value = 1 for twelve 50s against twelve 50s; it computes no interval.
        let tied = mann_whitney_greater(&[50.0; 12], &[50.0; 12], 0.99).unwrap();
        assert_eq!(tied, RankTest { u: 72.0, p_value: 1.0, shift: 0.0, shift_upper: 0.0 });
        assert_eq!(mann_whitney_greater(&[], &[1.0], 0.99), None);
        assert_eq!(mann_whitney_greater(&[1.0], &[f64::NAN], 0.99), None);
        assert_eq!(mann_whitney_greater(&[1.0], &[2.0], 0.0), None);
    }

    #[test]
    fn errors_verdicts() {
        let interval = |estimate, low, high| Interval { estimate, low, high };
        let cases = [
            (interval(1.77, 1.28, 2.38), 0.5, Verdict::Fail),
            (interval(0.4, 0.1, 0.7), 0.5, Verdict::Inconclusive), // above 0, but less than the margin
            (interval(0.215, -0.02, 0.556), 0.5, Verdict::Inconclusive),
            (interval(0.215, -0.02, 0.556), 1.0, Verdict::Pass),
            (interval(0.5, 0.1, 0.9), 0.5, Verdict::Fail), // the margin itself fails
            (interval(-0.2, -0.25, 0.47), 0.5, Verdict::Pass),
        ];
        for (interval, margin, verdict) in cases {
            assert_eq!(errors_verdict(&interval, margin), verdict, "{interval:?} against {margin}");
        }
    }

    #[test]
    fn latency_verdicts() {
        let test = |p_value, shift, shift_upper| RankTest { u: 0.0, p_value, shift, shift_upper };
        let cases = [
            (Some(test(0.0001, 3.4, 5.8)), 15, 2.0, Verdict::Fail),
            (Some(test(0.0001, 3.4, 5.8)), 15, 6.0, Verdict::Pass),
            (Some(test(0.0001, 3.4, 5.8)), 15, 4.0, Verdict::Inconclusive),
            (Some(test(0.02, 3.4, 5.8)), 15, 2.0, Verdict::Inconclusive), // not significant at 1%
            (Some(test(0.0001, 3.4, 5.8)), 11, 2.0, Verdict::Inconclusive), // too few minutes
            (Some(test(0.9999, -2.2, -1.3)), 12, 0.0, Verdict::Pass),
            (None, 60, 2.0, Verdict::Inconclusive),
        ];
        for (test, minutes, margin, verdict) in cases {
            assert_eq!(latency_verdict(test.as_ref(), minutes, margin), verdict, "{test:?}, {minutes}, {margin}");
        }
    }

    #[test]
    fn latency_verdict_on_r_case_c() {
        let case = &RANK_CASES[2];
        let test = mann_whitney_greater(case.canary, case.stable, LATENCY_CONFIDENCE);
        assert_eq!(latency_verdict(test.as_ref(), case.canary.len(), 3.0), Verdict::Fail);
        assert_eq!(latency_verdict(test.as_ref(), case.canary.len(), 6.0), Verdict::Pass);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn newcombe_interval_holds_its_estimate_and_mirrors(
            (x1, n1) in (1u64..100_000).prop_flat_map(|n| (0..=n, Just(n))),
            (x2, n2) in (1u64..100_000).prop_flat_map(|n| (0..=n, Just(n))),
            confidence in 0.5f64..0.999,
        ) {
            let i = newcombe_difference(x1, n1, x2, n2, confidence).unwrap();
            prop_assert!(-100.0 <= i.low && i.low <= i.estimate && i.estimate <= i.high && i.high <= 100.0, "{:?}", i);
            let swapped = newcombe_difference(x2, n2, x1, n1, confidence).unwrap();
            prop_assert!((swapped.low + i.high).abs() < 1e-9 && (swapped.high + i.low).abs() < 1e-9);
            let (l, h) = wilson(x1, n1, normal_quantile(confidence));
            let p = x1 as f64 / n1 as f64;
            prop_assert!(0.0 <= l && l <= p && p <= h && h <= 1.0);
        }

        #[test]
        fn mann_whitney_is_bounded_and_mirrors(
            // Whole numbers in a small range, so that ties are common.
            canary in prop::collection::vec(0u8..20, 1..25),
            stable in prop::collection::vec(0u8..20, 1..25),
        ) {
            let canary: Vec<f64> = canary.into_iter().map(f64::from).collect();
            let stable: Vec<f64> = stable.into_iter().map(f64::from).collect();
            let test = mann_whitney_greater(&canary, &stable, 0.99).unwrap();
            let mirror = mann_whitney_greater(&stable, &canary, 0.99).unwrap();
            let pairs = (canary.len() * stable.len()) as f64;
            prop_assert!((0.0..=1.0).contains(&test.p_value), "{:?}", test);
            prop_assert_eq!(test.u + mirror.u, pairs);
            prop_assert_eq!(test.shift, -mirror.shift);
            prop_assert!(test.shift <= test.shift_upper, "{:?}", test);
            let lowest = canary.iter().cloned().fold(f64::INFINITY, f64::min) - stable.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let highest = canary.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - stable.iter().cloned().fold(f64::INFINITY, f64::min);
            prop_assert!(lowest <= test.shift_upper && test.shift_upper <= highest);
            // A more confident bound is no lower.
            prop_assert!(mann_whitney_greater(&canary, &stable, 0.9).unwrap().shift_upper <= test.shift_upper);
        }

        #[test]
        fn normal_quantile_inverts_the_cdf(x in -30.0f64..2.0) {
            let back = normal_quantile(normal_cdf(x));
            prop_assert!((back - x).abs() <= 1e-9 * (1.0 + x.abs()), "{} -> {}", x, back);
        }
    }
}

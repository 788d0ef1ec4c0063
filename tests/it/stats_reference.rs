//! `kanari::stats` against values worked out independently, and properties over generated counts.
//!
//! The reference values come from Python (python3, mpmath 1.3 at 50 digits, mpmath's own
//! log-gamma and root finder: the definitions of the module's docs, not a port of its Rust). The
//! code that printed each table is in the comment above it; the definitions they share, and the
//! line that ran them, are just below. The properties run a fixed seed, so a run is repeatable.

use Tolerance::{Absolute, Factor};
use kanari::stats::{
    Bounds, Tolerance, Verdict, errors_vs_stable, latency_vs_stable, ln_mixture, median_bounds, median_counts,
    rate_bounds,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

// # The reference values of tests/it/stats_reference.rs: python3 with mpmath 1.3, 50 digits,
// # printed as the nearest double.
// from mpmath import mp, mpf, loggamma, log, exp, findroot
// mp.dps = 50
//
// def ln_beta(a, b):
//     return loggamma(a) + loggamma(b) - loggamma(a + b)
//
// def ln_m(s, n, p):  # ln M_n(p) of the Beta(1/2, 1/2) mixture after s ones in n
//     s, f, half = mpf(s), mpf(n) - s, mpf(1) / 2
//     v = ln_beta(half + s, half + f) - ln_beta(half, half)
//     if s: v -= s * log(p)
//     if f: v -= f * log(1 - p)
//     return v
//
// def root(g, b, a=None):  # g(a) > 0 > g(b): a root between, by mpmath's Anderson-Björck
//     if a is None:  # step down from b until g turns positive
//         d = mpf(1)
//         while g(b - d) < 0: d *= 2
//         a = b - d
//     assert g(a) > 0 > g(b)
//     x = findroot(g, (a, b), solver='anderson', maxsteps=200, verify=False)
//     e = abs(x) * mpf(10)**-30 + mpf(10)**-40  # checked: g changes sign within 1e-30 of it
//     assert (g(x - e) > 0) != (g(x + e) > 0)
//     return x
//
// def bounds(s, n, alpha):  # {p : ln M_n(p) < ln(1/alpha)}, its ends in ln p and ln(1 - p)
//     bar, est = log(1 / mpf(alpha)), mpf(s) / n
//     low, high = mpf(0), mpf(1)
//     if s > 0: low = exp(root(lambda u: ln_m(s, n, exp(u)) - bar, log(est)))
//     if s < n: high = 1 - exp(root(lambda w: ln_m(s, n, 1 - exp(w)) - bar, log(1 - est)))
//     return low, high
//
// for table in [rate_bounds_table, ln_mixture_table, median_counts_table, errors_table, latency_table]:
//     print(f"# {table.__name__}"); table()

// ---------------------------------------------------------------------------------------------
// Tolerances.

/// How far the double evaluation of ln M_n(p) may be from the exact value. It is a sum of five
/// terms, ln Γ(s + ½) + ln Γ(n − s + ½) − ln Γ(n + 1) (less the constant ln B(½, ½)), −s ln p and
/// −(n − s) ln(1 − p), each good to a few units in the last place of its own size (ln Γ by a
/// Lanczos sum of about 15 significant digits), and their sum mostly cancels: so 4ε times the sum
/// of their sizes. That is 1e-14 for small counts but 4e-5 at n = 1e9 (where ln Γ(n) ≈ 2e10) and
/// 0.05 at n = 1e12; what stats.rs gives is within a tenth of it.
fn ln_mixture_tolerance(s: u64, n: u64, p: f64) -> f64 {
    let (s, f) = (s as f64, (n - s) as f64);
    // |ln Γ(x)| ≤ x |ln x| + x + 1 for x ≥ ½.
    let ln_gamma_size = |x: f64| x * x.ln().abs() + x + 1.0;
    let term = |count: f64, q: f64| if count == 0.0 { 0.0 } else { count * q.ln().abs() };
    let size =
        ln_gamma_size(s + 0.5) + ln_gamma_size(f + 0.5) + ln_gamma_size(s + f + 1.0) + term(s, p) + term(f, 1.0 - p);
    4.0 * f64::EPSILON * size
}

/// How far a bound `p` of `s` in `n` may be from the exact one, relative: 1e-9 (the bisection
/// stops within 1e-12; the rest is room for a platform's `ln` differing in the last bits), plus
/// the error of ln M carried to the bound. Near the bound ln M moves by
/// |∂ ln M / ∂p| = |n p − s| / (p (1 − p)), so an error δ in ln M moves the bound by
/// δ (1 − p) / |n p − s| of itself. The second term is what limits the bounds from n ≈ 1e6 on:
/// at n = 1e9, one failure in 1e9 requests has its lower bound good only to about 1e-7.
fn bound_tolerance(s: u64, n: u64, p: f64) -> f64 {
    1e-9 + ln_mixture_tolerance(s, n, p) * (1.0 - p) / (n as f64 * p - s as f64).abs()
}

/// Whether `actual` is within `tolerance` of `expected`, relative (exact for 0 and ∞).
fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
    if expected == 0.0 || expected.is_infinite() {
        return actual == expected;
    }
    ((actual - expected) / expected).abs() <= tolerance
}

// ---------------------------------------------------------------------------------------------
// The tables.

// def rate_bounds_table():
//     for s, n, alpha in [
//             (0, 1, 0.05), (1, 1, 0.05), (0, 1, 0.005), (1, 2, 0.05), (3, 10, 0.005), (0, 100, 0.005),
//             (100, 100, 0.05), (1, 100, 0.05), (50, 100, 0.005), (10, 1000, 0.005), (999, 1000, 0.05),
//             (0, 10**4, 0.05), (10, 10**4, 0.005), (500, 10**4, 0.05), (1, 10**6, 0.005),
//             (10**4, 10**6, 0.005), (0, 10**9, 0.005), (1, 10**9, 0.05), (10**6, 10**9, 0.005),
//             (5 * 10**8, 10**9, 0.05), (999999999, 10**9, 0.05), (10**9, 10**9, 0.005)]:
//         low, high = bounds(s, n, alpha)
//         print(f"({s}, {n}, {alpha}, {float(low)!r}, {float(high)!r}),")
/// `(s, n, alpha, low, high)`.
const RATE_BOUNDS: &[(u64, u64, f64, f64, f64)] = &[
    (0, 1, 0.05, 0.0, 0.975),
    (1, 1, 0.05, 0.025, 1.0),
    (0, 1, 0.005, 0.0, 0.9975),
    (1, 2, 0.05, 0.006289558546712525, 0.9937104414532875),
    (3, 10, 0.005, 0.01445473140824248, 0.8259382523049752),
    (0, 100, 0.005, 0.0, 0.07849324731570984),
    (100, 100, 0.05, 0.9429714023612281, 1.0),
    (1, 100, 0.05, 1.4177795458913443e-05, 0.08402231446396656),
    (50, 100, 0.005, 0.30964493453266456, 0.6903550654673355),
    (10, 1000, 0.005, 0.0017998863899329112, 0.029655000629779285),
    (999, 1000, 0.05, 0.9900252527352503, 0.9999995536025952),
    (0, 10000, 0.05, 0.0, 0.0008169940687055274),
    (10, 10000, 0.005, 0.00015616828586263035, 0.003162302453969689),
    (500, 10000, 0.05, 0.04184332171226698, 0.05909517380725446),
    (1, 1000000, 0.005, 1.4104764772379012e-12, 1.6260188130219916e-05),
    (10000, 1000000, 0.005, 0.009511955655377493, 0.010504288096020302),
    (0, 1000000000, 0.005, 0.0, 1.6232315096326913e-08),
    (1, 1000000000, 0.05, 4.460312281492664e-16, 1.74841732667421e-08),
    (1000000, 1000000000, 0.005, 0.0009943767635598344, 0.0010056443750594522),
    (500000000, 1000000000, 0.05, 0.4999175889680916, 0.5000824110319084),
    (999999999, 1000000000, 0.05, 0.9999999825158268, 0.9999999999999996),
    (1000000000, 1000000000, 0.005, 0.999999983767685, 1.0),
];

#[test]
fn rate_bounds_match_the_reference() {
    let mut wrong = Vec::new();
    for &(s, n, alpha, low, high) in RATE_BOUNDS {
        let b = rate_bounds(s, n, alpha);
        // An end of [0, 1] is exact (no failure, or no success).
        let ok = |actual: f64, expected: f64| match expected {
            0.0 | 1.0 => actual == expected,
            _ => close(actual, expected, bound_tolerance(s, n, expected)),
        };
        if !ok(b.low, low) || !ok(b.high, high) || b.estimate != s as f64 / n as f64 {
            wrong.push(format!("rate_bounds({s}, {n}, {alpha}) = {b:?}, expected {low:e} to {high:e}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// def ln_mixture_table():
//     for s, n, p in [
//             (0, 0, 0.3), (0, 1, 0.5), (1, 1, 1e-9), (5, 10, 0.5), (3, 10, 0.2), (10, 1000, 0.02),
//             (1, 1000, 1e-9), (999, 1000, 0.999), (1000, 10**6, 1e-3), (500000, 10**6, 0.505),
//             (0, 10**9, 1e-9), (1, 10**9, 1.01e-9), (10**6, 10**9, 1.01e-3), (5 * 10**8, 10**9, 0.5),
//             (0, 10**12, 1.01e-12), (5 * 10**11, 10**12, 0.505)]:
//         print(f"({s}, {n}, {p!r}, {float(ln_m(s, n, mpf(p)))!r}),")
/// `(s, n, p, ln M_n(p))`.
const LN_MIXTURE: &[(u64, u64, f64, f64)] = &[
    (0, 0, 0.3, 0.0),
    (0, 1, 0.5, 0.0),
    (1, 1, 1e-09, 20.030118656386467),
    (5, 10, 0.5, -1.4020427180880297),
    (3, 10, 0.2, -1.123486023317339),
    (10, 1000, 0.02, -0.5645827129689258),
    (1, 1000, 1e-09, 9.09649691903545),
    (999, 1000, 0.999, -3.7195148046788735),
    (1000, 1000000, 0.001, -7.133588423332809),
    (500000, 1000000, 0.505, 42.86895328505239),
    (0, 1000000000, 1e-09, -9.933997861022906),
    (1, 1000000000, 1.01e-09, -10.627095372935969),
    (1000000, 1000000000, 0.00101, 39.13177290306154),
    (500000000, 1000000000, 0.5, -10.587424271367933),
    (0, 1000000000000, 1.01e-12, -13.377875500888589),
    (500000000000, 1000000000000, 0.505, 50002486.12537735),
];

#[test]
fn ln_mixture_matches_the_reference() {
    let mut wrong = Vec::new();
    for &(s, n, p, expected) in LN_MIXTURE {
        let actual = ln_mixture(s, n, p);
        let tolerance = ln_mixture_tolerance(s, n, p).max(1e-14 * expected.abs());
        if (actual - expected).abs() > tolerance {
            wrong.push(format!("ln_mixture({s}, {n}, {p:e}) = {actual}, expected {expected} within {tolerance:e}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// def median_counts(n, alpha):  # the k with ln M_n(1/2) < ln(1/alpha) after k ones: [k_lo, n - k_lo]
//     bar = log(1 / mpf(alpha))
//     g = lambda k: ln_m(k, n, mpf(1) / 2) - bar  # falls from k = 0 to n/2, symmetric about n/2
//     if g(0) < 0: return 0, n, None
//     k = int(mp.floor(root(g, mpf(n) / 2, mpf(0)))) + 1
//     assert g(k) < 0 <= g(k - 1)
//     return k, n - k, (g(k), g(k - 1))
//
// def median_counts_table():
//     for n in [1, 2, 3, 10, 11, 12, 50, 100, 1000, 12345, 10**6, 10**9]:
//         for alpha in [0.005, 0.05]:
//             k_lo, k_hi, gaps = median_counts(n, alpha)
//             if gaps: gaps = f"  // ln M - ln(1/alpha) {mp.nstr(gaps[0], 2)}, at k_lo - 1 {mp.nstr(gaps[1], 2)}"
//             print(f"({n}, {alpha}, {k_lo}, {k_hi}),{gaps or ''}")
/// `(n, alpha, k_lo, k_hi)`; the comment says how far from the bar the counts at `k_lo` and
/// `k_lo − 1` are, far more than ln M's error (see [`ln_mixture_tolerance`]).
const MEDIAN_COUNTS: &[(u64, f64, u64, u64)] = &[
    (1, 0.005, 0, 1),
    (1, 0.05, 0, 1),
    (2, 0.005, 0, 2),
    (2, 0.05, 0, 2),
    (3, 0.005, 0, 3),
    (3, 0.05, 0, 3),
    (10, 0.005, 0, 10),
    (10, 0.05, 1, 9),                          // ln M - ln(1/alpha) -0.74, at k_lo - 1 2.2
    (11, 0.005, 1, 10),                        // ln M - ln(1/alpha) -2.5, at k_lo - 1 0.54
    (11, 0.05, 1, 10),                         // ln M - ln(1/alpha) -0.2, at k_lo - 1 2.8
    (12, 0.005, 1, 11),                        // ln M - ln(1/alpha) -1.9, at k_lo - 1 1.2
    (12, 0.05, 2, 10),                         // ln M - ln(1/alpha) -1.6, at k_lo - 1 0.36
    (50, 0.005, 12, 38),                       // ln M - ln(1/alpha) -0.38, at k_lo - 1 0.83
    (50, 0.05, 14, 36),                        // ln M - ln(1/alpha) -0.17, at k_lo - 1 0.82
    (100, 0.005, 31, 69),                      // ln M - ln(1/alpha) -0.42, at k_lo - 1 0.4
    (100, 0.05, 34, 66),                       // ln M - ln(1/alpha) -0.32, at k_lo - 1 0.37
    (1000, 0.005, 434, 566),                   // ln M - ln(1/alpha) -0.24, at k_lo - 1 0.027
    (1000, 0.05, 443, 557),                    // ln M - ln(1/alpha) -0.16, at k_lo - 1 0.068
    (12345, 0.005, 5922, 6423),                // ln M - ln(1/alpha) -0.066, at k_lo - 1 0.016
    (12345, 0.05, 5952, 6393),                 // ln M - ln(1/alpha) -0.053, at k_lo - 1 0.018
    (1000000, 0.005, 497507, 502493),          // ln M - ln(1/alpha) -0.0017, at k_lo - 1 0.0083
    (1000000, 0.05, 497750, 502250),           // ln M - ln(1/alpha) -0.0042, at k_lo - 1 0.0048
    (1000000000, 0.005, 499910878, 500089122), // ln M - ln(1/alpha) -0.00028, at k_lo - 1 7.7e-5
    (1000000000, 0.05, 499917589, 500082411),  // ln M - ln(1/alpha) -1.1e-5, at k_lo - 1 0.00032
];

#[test]
fn median_counts_match_the_reference() {
    let wrong: Vec<String> = MEDIAN_COUNTS
        .iter()
        .filter(|&&(n, alpha, k_lo, k_hi)| median_counts(n, alpha) != (k_lo, k_hi))
        .map(|&(n, alpha, k_lo, k_hi)| {
            format!("median_counts({n}, {alpha}) = {:?}, expected ({k_lo}, {k_hi})", median_counts(n, alpha))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// def limit(tol, stable):  # ('Absolute', m) or ('Factor', f)
//     return stable + mpf(tol[1]) if tol[0] == 'Absolute' else stable * mpf(tol[1])
//
// def errors_verdict(canary, stable, alpha, tol):  # -> (fail gap, pass gap): fail, pass where > 0
//     (cl, ch), (sl, sh) = bounds(*canary, alpha / 2), bounds(*stable, alpha / 2)
//     return cl - limit(tol, sh), limit(tol, sl) - ch
//
// def least(ok, lo, hi):  # the least x in [lo, hi] with ok(x) (ok monotone), None if none
//     if not ok(hi): return None
//     while lo < hi:
//         mid = (lo + hi) // 2
//         lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
//     return lo
//
// def errors_table():  # the fewest canary failures that fail, the most that pass
//     for n, stable, alpha, tol in [
//             (1000, (10, 9000), 0.01, ('Absolute', 0)), (10**4, (100, 9 * 10**4), 0.01, ('Factor', 1.5)),
//             (100, (0, 900), 0.05, ('Absolute', 0.01)), (10**6, (5 * 10**4, 9 * 10**6), 0.01, ('Factor', 1.1)),
//             (50, (1, 450), 0.01, ('Absolute', 0)), (10**5, (500, 9 * 10**5), 0.01, ('Absolute', 0.005)),
//             (10**8, (10**5, 9 * 10**8), 0.005, ('Factor', 1.01))]:
//         gap = lambda x: errors_verdict((x, n), stable, alpha, tol)
//         fails = least(lambda x: gap(x)[0] > 0, 0, n)
//         passes = least(lambda x: gap(x)[1] <= 0, 0, n)
//         passes = None if passes in (None, 0) else passes - 1
//         near = [x for x in (fails and fails - 1, fails, passes, passes and passes + 1) if x is not None]
//         gaps = ', '.join(f"{x}: {mp.nstr(gap(x)[0], 2)}/{mp.nstr(gap(x)[1], 2)}" for x in near)
//         show = lambda x: 'None' if x is None else f"Some({x})"
//         print(f"// {gaps}\n({n}, {stable}, {alpha}, {tol[0]}({float(tol[1])!r}), {show(fails)}, {show(passes)}),")
/// `(canary requests, stable (failed, requests), alpha, tolerance, the fewest canary failures
/// that fail, the most that pass)`. Above each row, at those counts and their neighbours
/// (`failed: fail gap/pass gap`): how far the canary's low bound is above stable's limit, and
/// its high bound below it (in rate; positive fails, positive passes), far more than the
/// bounds' error.
type ErrorsRow = (u64, (u64, u64), f64, Tolerance, Option<u64>, Option<u64>);
const ERRORS_VERDICTS: &[ErrorsRow] = &[
    // 14: -1.1e-5/-0.036, 15: 0.00046/-0.037
    (1000, (10, 9000), 0.01, Absolute(0.0), Some(15), None),
    // 51: -5.9e-5/-0.008, 52: 9.7e-6/-0.0081
    (10000, (100, 90000), 0.01, Factor(1.5), Some(52), None),
    // 8: -0.0013/-0.2, 9: 0.0032/-0.21
    (100, (0, 900), 0.05, Absolute(0.01), Some(9), None),
    // 6651: -1.4e-7/-0.0011, 6652: 8.3e-7/-0.0011, 5590: -0.001/4.2e-7, 5591: -0.001/-6.1e-7
    (1000000, (50000, 9000000), 0.01, Factor(1.1), Some(6652), Some(5590)),
    // 7: -0.0048/-0.39, 8: 0.0028/-0.41
    (50, (1, 450), 0.01, Absolute(0.0), Some(8), None),
    // 685: -4.3e-6/-0.0027, 686: 4.8e-6/-0.0027, 437: -0.0022/4.3e-6, 438: -0.0022/-6.8e-6
    (100000, (500, 900000), 0.01, Absolute(0.005), Some(686), Some(437)),
    // 12026: -3.5e-9/-1.6e-5, 12027: 6.3e-9/-1.6e-5, 10441: -1.5e-5/5.5e-9, 10442: -1.5e-5/-4.7e-9
    (100000000, (100000, 900000000), 0.005, Factor(1.01), Some(12027), Some(10441)),
];

#[test]
fn errors_vs_stable_turns_where_the_reference_does() {
    let mut wrong = Vec::new();
    for &(n, stable, alpha, tolerance, fails, passes) in ERRORS_VERDICTS {
        let verdict = |failed: u64| errors_vs_stable((failed, n), stable, alpha, tolerance).map(|t| t.verdict);
        let mut expect = |failed: u64, expected: bool, what: &str| {
            if expected != (verdict(failed) == Some(if what == "fail" { Verdict::Fail } else { Verdict::Pass })) {
                let not = if expected { "" } else { "not " };
                wrong.push(format!(
                    "{failed} of {n} against {stable:?} at {alpha}, {tolerance:?}: {:?}, expected {not}{what}",
                    verdict(failed)
                ));
            }
        };
        match fails {
            Some(x) => {
                expect(x, true, "fail");
                expect(x - 1, false, "fail");
            }
            None => expect(n, false, "fail"),
        }
        match passes {
            Some(x) => {
                expect(x, true, "pass");
                expect(x + 1, false, "pass");
            }
            None => expect(0, false, "pass"),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// LE = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
//       1800000, 3600000, mp.inf]
//
// def nth(counts, c, top):  # the c-th smallest latency: even in log latency inside its bucket, linear from 0 in the first
//     seen, lo = 0, mpf(0)
//     for le, k in zip(LE, counts):
//         if k > 0 and seen + k >= c:
//             share = (c - seen) / mpf(k)
//             return top if le == mp.inf else lo * (mpf(le) / lo) ** share if lo > 0 else lo + (le - lo) * share
//         seen, lo = seen + k, mpf(le)
//     return top
//
// def median_bounds(counts, alpha):  # the k_lo-th, the middle, the (k_hi + 1)-th
//     n, top = sum(counts), mpf(LE[-2])
//     k_lo, k_hi, _ = median_counts(n, alpha)
//     return (0 if k_lo == 0 else nth(counts, k_lo, top), nth(counts, mpf(n) / 2, top),
//             mp.inf if k_hi >= n else nth(counts, k_hi + 1, mp.inf))
//
// def latency_table():
//     bucket = lambda requests: [requests.get(i, 0) for i in range(len(LE))]  # {bucket index: requests}
//     SLOW = bucket({5: 20, 6: 180, 7: 700, 8: 90, 9: 10})           # 1,000 requests, most 100-250 ms
//     USUAL = bucket({5: 900, 6: 6300, 7: 1700, 8: 90, 9: 10})       # 9,000, most 50-100 ms
//     USUAL_FEW = bucket({5: 100, 6: 700, 7: 189, 8: 10, 9: 1})      # 1,000 like USUAL
//     FAST = bucket({4: 300, 5: 650, 6: 50})                         # 1,000, most 25-50 ms
//     THIN = bucket({6: 3, 7: 2})                                    # 5 requests
//     STUCK = bucket({7: 400, 19: 600})                              # 1,000, 60% above the last bound
//     names = {id(v): k for k, v in locals().items() if isinstance(v, list)}
//     for c, s, alpha, tol in [
//             (SLOW, USUAL, 0.01, ('Absolute', 0)), (USUAL_FEW, USUAL, 0.01, ('Absolute', 0)),
//             (USUAL_FEW, USUAL, 0.01, ('Factor', 1.5)), (FAST, USUAL, 0.01, ('Absolute', 0)),
//             (SLOW, USUAL, 0.05, ('Factor', 2.5)), (SLOW, USUAL, 0.05, ('Absolute', 50)),
//             (THIN, USUAL, 0.01, ('Absolute', 0)), (STUCK, USUAL, 0.01, ('Absolute', 0)),
//             (USUAL, STUCK, 0.01, ('Factor', 1.1))]:
//         (cl, ce, ch), (sl, se, sh) = median_bounds(c, alpha / 2), median_bounds(s, alpha / 2)
//         v = 'Fail' if cl > limit(tol, sh) else 'Pass' if ch < limit(tol, sl) else 'Inconclusive'
//         f = lambda b: ', '.join(repr(float(x)) for x in b)
//         print(f"({names[id(c)]}, [{f((cl, ce, ch))}], {names[id(s)]}, [{f((sl, se, sh))}], {alpha}, "
//               f"{tol[0]}({float(tol[1])!r}), {v}),")
/// Istio's default latency buckets (ms); the histograms below are requests per bucket.
use crate::simulation::monte_carlo::ISTIO_BUCKETS as LE;
const SLOW: [u64; 20] = [0, 0, 0, 0, 0, 20, 180, 700, 90, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const USUAL: [u64; 20] = [0, 0, 0, 0, 0, 900, 6300, 1700, 90, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const USUAL_FEW: [u64; 20] = [0, 0, 0, 0, 0, 100, 700, 189, 10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const FAST: [u64; 20] = [0, 0, 0, 0, 300, 650, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const THIN: [u64; 20] = [0, 0, 0, 0, 0, 0, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const STUCK: [u64; 20] = [0, 0, 0, 0, 0, 0, 0, 400, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 600];

/// `(canary, its [low, estimate, high], stable, its [low, estimate, high], alpha, tolerance,
/// verdict)`.
type LatencyRow = (&'static [u64; 20], [f64; 3], &'static [u64; 20], [f64; 3], f64, Tolerance, Verdict);
const LATENCY_VERDICTS: &[LatencyRow] = &[
    (
        &SLOW,
        [135.83937041334943, 148.09681479725867, 161.67179555394827],
        &USUAL,
        [72.5867324031822, 74.29971445684743, 76.06148943745981],
        0.01,
        Absolute(0.0),
        Verdict::Fail,
    ),
    (
        &USUAL_FEW,
        [69.59921103562172, 74.29971445684743, 79.39625460250643],
        &USUAL,
        [72.5867324031822, 74.29971445684743, 76.06148943745981],
        0.01,
        Absolute(0.0),
        Verdict::Inconclusive,
    ),
    (
        &USUAL_FEW,
        [69.59921103562172, 74.29971445684743, 79.39625460250643],
        &USUAL,
        [72.5867324031822, 74.29971445684743, 76.06148943745981],
        0.01,
        Factor(1.5),
        Verdict::Pass,
    ),
    (
        &FAST,
        [28.84021542621946, 30.9431571326357, 33.234861129275906],
        &USUAL,
        [72.5867324031822, 74.29971445684743, 76.06148943745981],
        0.01,
        Absolute(0.0),
        Verdict::Pass,
    ),
    (
        &SLOW,
        [136.9104425895738, 148.09681479725867, 160.4070113737001],
        &USUAL,
        [72.72262546826332, 74.29971445684743, 75.9193572073906],
        0.05,
        Factor(2.5),
        Verdict::Pass,
    ),
    (
        &SLOW,
        [136.9104425895738, 148.09681479725867, 160.4070113737001],
        &USUAL,
        [72.72262546826332, 74.29971445684743, 75.9193572073906],
        0.05,
        Absolute(50.0),
        Verdict::Fail,
    ),
    (
        &THIN,
        [0.0, 89.08987181403393, f64::INFINITY],
        &USUAL,
        [72.5867324031822, 74.29971445684743, 76.06148943745981],
        0.01,
        Absolute(0.0),
        Verdict::Inconclusive,
    ),
    (
        &STUCK,
        [3600000.0, 3600000.0, f64::INFINITY],
        &USUAL,
        [72.5867324031822, 74.29971445684743, 76.06148943745981],
        0.01,
        Absolute(0.0),
        Verdict::Fail,
    ),
    (
        &USUAL,
        [72.5867324031822, 74.29971445684743, 76.06148943745981],
        &STUCK,
        [3600000.0, 3600000.0, f64::INFINITY],
        0.01,
        Factor(1.1),
        Verdict::Pass,
    ),
];

/// Requests per bucket as the histogram Prometheus gives: `(le, requests at most le)`.
fn histogram(requests: &[u64; 20]) -> Vec<(f64, f64)> {
    let mut total = 0;
    LE.iter()
        .zip(requests)
        .map(|(&le, &n)| {
            total += n;
            (le, total as f64)
        })
        .collect()
}

#[test]
fn latency_vs_stable_matches_the_reference() {
    let mut wrong = Vec::new();
    for &(canary, canary_bounds, stable, stable_bounds, alpha, tolerance, verdict) in LATENCY_VERDICTS {
        let Some(test) = latency_vs_stable(&histogram(canary), &histogram(stable), alpha, tolerance) else {
            wrong.push(format!("no verdict for {canary:?} against {stable:?}"));
            continue;
        };
        // Interpolation in bucket boundaries: arithmetic, good to a few units in the last place.
        let same = |b: Bounds, [low, estimate, high]: [f64; 3]| {
            close(b.low, low, 1e-13) && close(b.estimate, estimate, 1e-13) && close(b.high, high, 1e-13)
        };
        if !same(test.canary, canary_bounds) || !same(test.stable, stable_bounds) || test.verdict != verdict {
            wrong.push(format!(
                "{canary:?} against {stable:?} at {alpha}, {tolerance:?}: {test:?}, expected {canary_bounds:?}, \
                 {stable_bounds:?}, {verdict:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let none = [0; 20];
    assert!(latency_vs_stable(&histogram(&none), &histogram(&USUAL), 0.01, Absolute(0.0)).is_none());
    assert!(median_bounds(&histogram(&none), 0.01).is_none());
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// Runs `test` over `cases` cases of `strategy` ([`crate::proptesting`]); a failure panics with
/// the shrunk case.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    crate::proptesting::run(crate::proptesting::config(cases), strategy, test);
}

/// A count of requests from 1 to 10^12, as likely small as large (a power of ten, then a count
/// up to it).
fn requests() -> impl Strategy<Value = u64> {
    (0u32..=12).prop_flat_map(|e| 1..=10u64.pow(e))
}

/// `(failed, requests)` with `failed` at most `requests`, as likely 0 or all as a share.
fn counts() -> impl Strategy<Value = (u64, u64)> {
    requests().prop_flat_map(|n| (prop_oneof![Just(0), Just(n), 0..=n, 0..=n.min(100)], Just(n)))
}

/// A level from 1e-6 to 0.5, log-uniform.
fn alpha() -> impl Strategy<Value = f64> {
    (-6.0f64..(0.5f64).log10()).prop_map(|e| 10f64.powf(e))
}

fn tolerance() -> impl Strategy<Value = Tolerance> {
    prop_oneof![Just(Absolute(0.0)), (0.0..0.2).prop_map(Absolute), (1.0..3.0).prop_map(Factor)]
}

#[test]
fn bounds_hold_the_estimate() {
    check(512, (counts(), alpha()), |((s, n), alpha)| {
        let b = rate_bounds(s, n, alpha);
        prop_assert!(0.0 <= b.low && b.low <= b.estimate && b.estimate <= b.high && b.high <= 1.0, "{b:?}");
        Ok(())
    });
}

#[test]
fn more_requests_at_the_same_rate_narrow_the_bounds() {
    let cases = (counts(), 2u64..=1000, alpha()).prop_filter("at most 10^12 requests", |((_, n), k, _)| {
        n.checked_mul(*k).is_some_and(|kn| kn <= 1_000_000_000_000)
    });
    check(512, cases, |((s, n), k, alpha)| {
        let (few, many) = (rate_bounds(s, n, alpha), rate_bounds(k * s, k * n, alpha));
        prop_assert!(few.low <= many.low && many.high <= few.high, "{few:?} then {many:?}");
        Ok(())
    });
}

#[test]
fn a_lower_alpha_widens_the_bounds() {
    // 10% apart at least: ln(1/alpha) moves by 0.095, far more than ln M's error.
    check(512, (counts(), alpha(), 1.1f64..100.0), |((s, n), alpha, factor)| {
        let wider = rate_bounds(s, n, alpha);
        let narrower = rate_bounds(s, n, (alpha * factor).min(0.9));
        prop_assert!(wider.low <= narrower.low && narrower.high <= wider.high, "{wider:?} then {narrower:?}");
        Ok(())
    });
}

#[test]
fn a_canary_no_worse_than_stable_is_never_failed() {
    // Equal counts, and any canary whose observed rate is at most stable's: its low bound is
    // below its rate, below stable's, below stable's high bound.
    let cases = (counts(), requests(), 0.0..=1.0f64, alpha(), tolerance());
    check(512, cases, |((xs, ns), nc, share, alpha, tolerance)| {
        let at_most = ((nc as u128 * xs as u128) / ns as u128) as u64;
        for canary in [(xs, ns), ((at_most as f64 * share) as u64, nc)] {
            let test = errors_vs_stable(canary, (xs, ns), alpha, tolerance).expect("both served requests");
            prop_assert_ne!(test.verdict, Verdict::Fail, "{:?} against {:?}: {:?}", canary, (xs, ns), test);
        }
        Ok(())
    });
}

#[test]
fn a_canary_clearly_worse_than_the_margin_is_never_passed() {
    // The canary's observed rate above the limit of stable's: its high bound is above it.
    check(512, (counts(), counts(), alpha(), tolerance()), |(canary, stable, alpha, tolerance)| {
        let rate = |(x, n): (u64, u64)| x as f64 / n as f64;
        prop_assume!(rate(canary) > tolerance.limit(rate(stable)));
        let test = errors_vs_stable(canary, stable, alpha, tolerance).expect("both served requests");
        prop_assert_ne!(test.verdict, Verdict::Pass, "{:?}", test);
        Ok(())
    });
}

#[test]
fn any_counts_up_to_a_trillion_are_judged_without_a_panic() {
    let count = || prop_oneof![Just(0u64), 0..=100u64, 0..=1_000_000_000_000u64];
    let histogram = || {
        proptest::collection::vec(count(), 20).prop_map(|requests| histogram(&requests.try_into().expect("20 buckets")))
    };
    let cases = ((count(), count()), (count(), count()), histogram(), histogram(), alpha(), tolerance());
    check(256, cases, |(canary, stable, canary_latency, stable_latency, alpha, tolerance)| {
        match errors_vs_stable(canary, stable, alpha, tolerance) {
            None => prop_assert!(canary.1 == 0 || stable.1 == 0),
            Some(t) => {
                for b in [t.canary, t.stable] {
                    prop_assert!(0.0 <= b.low && b.low <= b.high && b.high <= 1.0, "{t:?}");
                }
            }
        }
        if let Some(t) = latency_vs_stable(&canary_latency, &stable_latency, alpha, tolerance) {
            for b in [t.canary, t.stable] {
                prop_assert!(0.0 <= b.low && b.low <= b.estimate && b.estimate <= b.high, "{t:?}");
            }
        }
        Ok(())
    });
}

#[test]
fn median_counts_are_symmetric_and_hold_the_middle() {
    check(512, (requests(), alpha()), |(n, alpha)| {
        let (k_lo, k_hi) = median_counts(n, alpha);
        prop_assert!(k_lo <= n / 2 && n - n / 2 <= k_hi && k_hi == n - k_lo, "({k_lo}, {k_hi}) of {n}");
        Ok(())
    });
}

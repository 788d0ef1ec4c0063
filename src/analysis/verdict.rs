//! What a check's numbers mean: the verdict of each kind of check from a release's
//! [`Reading`] (and, for a query of the spec's own, its answer), the deadline's rule, and what
//! a healthy canary still needs to pass (`analyze --explain`).

use std::time::Duration;

use super::ask::{Reading, Side};
use super::{Error, Outcome, Window, shown, word};
use crate::prometheus::Series;
use crate::spec::{Analysis, Margin, Metric, MetricKind, OnInconclusive, format_duration};
use crate::stats::{self, Tolerance, Verdict};

/// Judges a check of `w`'s analysis from the run's reading of the release and, for a query of
/// the spec's own, its answer. An answer of the wrong shape for a query of the spec's own is an
/// error at the check.
pub(crate) fn judge(w: &Window, metric: &Metric, reading: &Reading, own: Option<&[Series]>) -> Result<Outcome, Error> {
    let a = w.canary.analysis.as_ref().expect("a window implies an analysis");
    let mut out = Outcome {
        name: metric.name.clone(),
        verdict: "inconclusive",
        value: None,
        bound: bound(metric),
        detail: String::new(),
        requests: 0,
        window: w.promql(),
        explain: None,
        bad_data: false,
        limits: metric.min.into_iter().chain(metric.max).collect(),
    };
    let (verdict, value, detail) = match measured(w, metric, a, reading, own, &mut out)? {
        Found::Judged(v, value, detail) => (v, value, detail),
        Found::Bad(why) => {
            out.bad_data = true;
            (Verdict::Inconclusive, None, format!("bad data: {why}"))
        }
    };
    out.verdict = word(verdict);
    out.value = value;
    out.detail = detail;
    settle(&mut out, w, a);
    out.explain = Some(explain(w, metric, a, reading, out.requests));
    Ok(out)
}

/// What the numbers gave: a verdict with its value and detail, or data that cannot be judged.
enum Found {
    Judged(Verdict, Option<f64>, String),
    Bad(String),
}

fn measured(
    w: &Window,
    metric: &Metric,
    a: &Analysis,
    reading: &Reading,
    own: Option<&[Series]>,
    out: &mut Outcome,
) -> Result<Found, Error> {
    let requests = match &reading.canary.requests {
        Ok(n) => *n,
        Err(why) => return Ok(Found::Bad(why.clone())),
    };
    out.requests = requests.round() as u64;
    let builtin = !matches!(metric.kind, MetricKind::Query(_));
    if builtin && out.requests == 0 && w.expected_share() > 0.0 {
        let stable = reading.stable.requests.as_ref().map_or(0.0, |n| *n);
        if stable >= 1.0 && !w.stable_idle() {
            let detail = format!(
                "no traffic reaches the canary: 0 requests in {} (by the destination's and the source's count) while stable served {}",
                w.promql(),
                stable.round()
            );
            return Ok(Found::Judged(Verdict::Fail, None, detail));
        }
    }
    if out.requests < a.min_requests.max(1) {
        let detail = format!("{} canary requests, fewer than minRequests {}", out.requests, a.min_requests);
        return Ok(Found::Judged(Verdict::Inconclusive, None, detail));
    }
    let within = |v: f64| metric.min.is_none_or(|m| v >= m) && metric.max.is_none_or(|m| v <= m);
    let against = |v: f64| if within(v) { Verdict::Pass } else { Verdict::Fail };
    Ok(match &metric.kind {
        MetricKind::SuccessRate => {
            let errors = match &reading.canary.errors {
                Ok(e) => *e,
                Err(why) => return Ok(Found::Bad(why.clone())),
            };
            if errors > requests + 0.5 {
                return Ok(Found::Bad(more_errors(errors, requests, &w.workload(w.version))));
            }
            let rate = 100.0 * (1.0 - errors / requests);
            let detail = format!("{} of {} requests failed", errors.round(), out.requests);
            Found::Judged(against(rate), Some(rate), detail)
        }
        MetricKind::LatencyP99 => {
            let h = match &reading.canary.latency {
                Ok(h) if !h.is_empty() => h,
                Ok(_) => return Ok(Found::Judged(Verdict::Inconclusive, None, "no latency data".into())),
                Err(why) => return Ok(Found::Bad(why.clone())),
            };
            let total = h.last().map_or(0.0, |b| b.1);
            let top = h.iter().rev().find(|(le, _)| le.is_finite()).map_or(0.0, |(le, _)| *le);
            let p99 = stats::order_statistic(h, 0.99 * total, top, stats::Spread::Linear);
            let detail = format!("{} requests", total.round());
            Found::Judged(against(p99), Some(p99), detail)
        }
        MetricKind::TrafficShare => {
            let by = match &reading.share {
                Ok(by) => by,
                Err(why) => return Ok(Found::Bad(why.clone())),
            };
            let total: f64 = by.values().sum();
            let share = 100.0 * by.get(w.version).copied().unwrap_or(0.0) / total.max(1.0);
            // With matches the canary takes its weight and the matching requests: only a share
            // below the weight says the cluster is behind.
            let expected = w.expected_share();
            let off = match w.matched {
                true => (expected - share).max(0.0),
                false => (share - expected).abs(),
            };
            let says = match w.mirror {
                Some(p) => format!("the stage's mirror of {p}% makes it {}%", shown(expected, &[])),
                None => format!("the stage says {}%", w.weight),
            };
            let detail = format!(
                "the canary took {}% of {} requests in the last {}, {says}",
                shown(share, &[]),
                total.round(),
                reading.share_window
            );
            Found::Judged(against(off), Some(off), detail)
        }
        MetricKind::ErrorsVsStable => errors_vs_stable(w, metric, a, reading),
        MetricKind::LatencyVsStable => latency_vs_stable(metric, a, reading),
        MetricKind::Query(_) => match own.unwrap_or_default() {
            [] => Found::Judged(Verdict::Inconclusive, None, "no data".into()),
            [one] => match one.samples.last().map(|(_, v)| *v) {
                Some(v) if v.is_finite() => Found::Judged(against(v), Some(v), format!("{} requests", out.requests)),
                v => Found::Bad(format!("its query returned {}", shown(v.unwrap_or(f64::NAN), &[]))),
            },
            many => {
                return Err(Error {
                    metric: metric.name.clone(),
                    message: format!(
                        "its query returned {} series; a check's query must return one number (aggregate it with sum, max or similar)",
                        many.len()
                    ),
                });
            }
        },
    })
}

fn more_errors(errors: f64, requests: f64, workload: &str) -> String {
    format!("{} 5xx responses but {} requests to {workload}: the counters disagree", errors.round(), requests.round())
}

/// A margin as the statistics read it, for a measure in `unit` per point of the margin
/// (0.01 for a rate in points, 1 for milliseconds).
fn tolerance(metric: &Metric, unit: f64) -> Tolerance {
    match metric.margin {
        Some(Margin::Percent(p)) => Tolerance::Factor(1.0 + p / 100.0),
        Some(Margin::Absolute(m)) => Tolerance::Absolute(m * unit),
        None => Tolerance::Absolute(0.0),
    }
}

/// A side's counts, or the bad series.
fn counts(side: &Side, workload: &str) -> Result<(f64, f64), String> {
    let (n, x) = (side.requests.clone()?, side.errors.clone()?);
    if x > n + 0.5 {
        return Err(more_errors(x, n, workload));
    }
    Ok((x, n))
}

fn errors_vs_stable(w: &Window, metric: &Metric, a: &Analysis, reading: &Reading) -> Found {
    let c = match counts(&reading.canary, &w.workload(w.version)) {
        Ok(c) => c,
        Err(why) => return Found::Bad(why),
    };
    let s = match counts(&reading.stable, &w.workload(&w.canary.stable.version)) {
        Ok(s) => s,
        Err(why) => return Found::Bad(why),
    };
    let round = |(x, n): (f64, f64)| (x.round() as u64, n.round() as u64);
    let tol = tolerance(metric, 0.01);
    let Some(t) = stats::errors_vs_stable(round(c), round(s), a.alpha, tol) else {
        return Found::Judged(
            Verdict::Inconclusive,
            None,
            format!("stable served no requests in {} to compare with", reading.stable_window),
        );
    };
    let pct = |p: f64, against: &[f64]| {
        format!("{}%", shown(100.0 * p, &against.iter().map(|b| 100.0 * b).collect::<Vec<_>>()))
    };
    let [least, most, rule] = the_rule(pct, t.canary, t.stable, tol, a.alpha);
    let detail = format!(
        "canary {} of {} failed ({}, at least {least}, at most {most}), stable {} of {} in {} ({}, at most {}, at least {}); {rule}",
        c.0.round(),
        c.1.round(),
        pct(t.canary.estimate, &[]),
        s.0.round(),
        s.1.round(),
        reading.stable_window,
        pct(t.stable.estimate, &[]),
        pct(t.stable.high, &[]),
        pct(t.stable.low, &[]),
    );
    let difference = 100.0 * (t.canary.estimate - t.stable.estimate);
    Found::Judged(t.verdict, Some(difference), detail)
}

fn latency_vs_stable(metric: &Metric, a: &Analysis, reading: &Reading) -> Found {
    let (c, s) = match (&reading.canary.latency, &reading.stable.latency) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(why), _) | (_, Err(why)) => return Found::Bad(why.clone()),
    };
    let tol = tolerance(metric, 1.0);
    let Some(t) = stats::latency_vs_stable(c, s, a.alpha, tol) else {
        let who = if c.last().is_none_or(|b| b.1 < 0.5) { "the canary" } else { "stable" };
        return Found::Judged(
            Verdict::Inconclusive,
            None,
            format!("no latency data of {who} in {}", reading.stable_window),
        );
    };
    let ms = |v: f64, against: &[f64]| format!("{} ms", shown(v, against));
    let total = |h: &[(f64, f64)]| h.last().map_or(0.0, |b| b.1).round();
    let [least, most, rule] = the_rule(ms, t.canary, t.stable, tol, a.alpha);
    let detail = format!(
        "canary median {} of {} requests (at least {least}, at most {most}), stable {} of {} in {} (at most {}, at least {}); {rule}",
        ms(t.canary.estimate, &[]),
        total(c),
        ms(t.stable.estimate, &[]),
        total(s),
        reading.stable_window,
        ms(t.stable.high, &[]),
        ms(t.stable.low, &[]),
    );
    Found::Judged(t.verdict, Some(t.canary.estimate - t.stable.estimate), detail)
}

/// A comparison's rule as verdicts say it: the canary's least and most, each shown against the
/// limit it is held to, and `fails when the canary's least is above X, passes when its most is
/// below Y (99% confidence at every look)`.
fn the_rule(
    show: impl Fn(f64, &[f64]) -> String,
    canary: stats::Bounds,
    stable: stats::Bounds,
    tol: Tolerance,
    alpha: f64,
) -> [String; 3] {
    let (fail_above, pass_below) = (tol.limit(stable.high), tol.limit(stable.low));
    let rule = format!(
        "fails when the canary's least is above {}, passes when its most is below {} ({} confidence at every look)",
        show(fail_above, &[canary.low]),
        show(pass_below, &[canary.high]),
        confidence(alpha)
    );
    [show(canary.low, &[fail_above]), show(canary.high, &[pass_below]), rule]
}

/// `99%` for alpha 0.01.
fn confidence(alpha: f64) -> String {
    format!("{}%", shown(100.0 * (1.0 - alpha), &[]))
}

/// The deadline's rule: past `analysis.deadline`, an inconclusive check decides by
/// `onInconclusive` (bad data never passes: it holds).
fn settle(out: &mut Outcome, w: &Window, a: &Analysis) {
    if out.verdict() != Verdict::Inconclusive || w.seconds() < a.deadline.as_secs() as i64 {
        return;
    }
    let deadline = format_duration(a.deadline);
    let (verdict, said) = match a.on_inconclusive {
        OnInconclusive::Pass if out.bad_data => (Verdict::Inconclusive, "bad data is never passed".to_string()),
        OnInconclusive::Hold => (Verdict::Inconclusive, "onInconclusive: hold".to_string()),
        OnInconclusive::Pass => (Verdict::Pass, "passed by onInconclusive: pass".to_string()),
        OnInconclusive::Abort => (Verdict::Fail, "failed by onInconclusive: abort".to_string()),
    };
    out.verdict = word(verdict);
    out.detail = format!("{}; {} of {deadline} ({said})", out.detail, crate::spec::PAST_DEADLINE);
}

/// What a healthy canary still needs to pass this check, at the rates observed now: the
/// canary requests (in all) after which a canary as good as stable passes, and how long that
/// takes at the canary's observed rate.
fn explain(w: &Window, metric: &Metric, a: &Analysis, reading: &Reading, requests: u64) -> String {
    let floor = a.min_requests.max(1);
    let short = |needed: u64| -> String {
        if needed <= requests {
            return format!("a healthy canary needs {needed} canary requests; it has {requests}");
        }
        let per_minute = requests as f64 / (w.seconds() as f64 / 60.0);
        let more = needed - requests;
        let time = match per_minute > 0.0 {
            true => format!(
                ", about {} at the observed {} a minute",
                format_duration(Duration::from_secs(60 * (more as f64 / per_minute).ceil().min(1e12) as u64)),
                shown(per_minute, &[])
            ),
            false => String::new(),
        };
        format!("a healthy canary needs about {needed} canary requests in all, {more} more{time}")
    };
    // The stable requests that come with each canary request, as observed (or as the weights say).
    let ratio = |stable: f64| match requests {
        0 if w.weight > 0 && w.weight < 100 => f64::from(100 - w.weight) / f64::from(w.weight),
        0 => 1.0,
        _ => stable / requests as f64,
    };
    let never = |why: &str| format!("no number of requests passes it at the rates observed now: {why}");
    match &metric.kind {
        MetricKind::ErrorsVsStable => {
            let Ok((x, n)) = counts(&reading.stable, "stable") else { return never("stable's counts are bad") };
            if n < 1.0 {
                return never("stable served no requests");
            }
            let (p, tol, stable_n) = (x / n, tolerance(metric, 0.01), n);
            let r = if w.stable_idle() { 0.0 } else { ratio(stable_n) };
            let passes = |canary: u64| {
                let c = ((p * canary as f64).round() as u64, canary);
                // Stable grows with the canary, or stays as it is when read from before the stage.
                let s_n = if r == 0.0 { stable_n } else { (stable_n).max(canary as f64 * r) };
                let s = ((p * s_n).round() as u64, s_n.round() as u64);
                stats::errors_vs_stable(c, s, a.alpha, tol).is_some_and(|t| t.verdict == Verdict::Pass)
            };
            stats::needed(floor, passes).map_or_else(
                || never("a canary at stable's rate never proves itself within the margin (stable fails too rarely for a relative margin, or too few stable requests)"),
                short,
            )
        }
        MetricKind::LatencyVsStable => {
            let Ok(h) = &reading.stable.latency else { return never("stable's histogram is bad") };
            let total = h.last().map_or(0.0, |b| b.1);
            if total < 1.0 {
                return never("stable served no requests");
            }
            let tol = tolerance(metric, 1.0);
            let r = if w.stable_idle() { 0.0 } else { ratio(total) };
            let scaled =
                |to: f64| -> Vec<(f64, f64)> { h.iter().map(|(le, c)| (*le, (c * to / total).round())).collect() };
            let passes = |canary: u64| {
                let s_total = if r == 0.0 { total } else { total.max(canary as f64 * r) };
                stats::latency_vs_stable(&scaled(canary as f64), &scaled(s_total), a.alpha, tol)
                    .is_some_and(|t| t.verdict == Verdict::Pass)
            };
            stats::needed(floor, passes).map_or_else(
                || never("a canary as fast as stable never proves itself within the margin with these buckets"),
                short,
            )
        }
        _ => match requests >= floor {
            true => format!("compares its value with the bound once it has minRequests ({floor}); it has {requests}"),
            false => short(floor),
        },
    }
}

fn bound(metric: &Metric) -> String {
    let mut parts = Vec::new();
    if let Some(m) = metric.min {
        parts.push(format!("min {m}"));
    }
    if let Some(m) = metric.max {
        parts.push(format!("max {m}"));
    }
    match metric.margin {
        Some(Margin::Absolute(m)) => parts.push(format!("margin {m}")),
        Some(Margin::Percent(p)) => parts.push(format!("margin {p}%")),
        None => {}
    }
    parts.join(", ")
}

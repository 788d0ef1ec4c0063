//! The canary's health, judged from Prometheus: which queries each check of `spec.analysis`
//! asks ([`plan`]), and what their answers mean ([`judge`]). Pure: the commands run the queries
//! (through [`crate::prometheus`]) and hand the answers back, so every verdict is a function of
//! the spec, the stage, the window and the numbers.
//!
//! The window is the stage's age (`now - kanari.dev/since`), every query is evaluated at `now`,
//! and the builtins read Istio's standard metrics as the destination's proxy reports them
//! (`reporter="destination"`, `destination_workload_namespace`, `destination_workload` =
//! `<name>-<subset>`, the version's Deployment):
//! - `success-rate`: percent of the canary's responses that are not 5xx, against `min`;
//! - `latency-p99`: the canary's 99th percentile latency in ms (`histogram_quantile` over the
//!   window), against `max`;
//! - `traffic-share`: the canary's share of the release's requests, by
//!   `destination_canonical_revision`, against the stage's weight: the distance in points,
//!   against `max` (the cluster runs what Git says before the release moves on); in a stage
//!   with matches, only how far it falls below the weight; in a mirror stage of P% the canary's
//!   destination metrics count the copies, so its expected share of what both versions serve
//!   is P / (100 + P) (16.7% for a mirror of 20%);
//! - `errors-vs-stable`: 5xx and request counts of both versions summed over the window, a 98%
//!   Newcombe-Wilson interval on the difference of error rates, in points ([`crate::stats`]);
//! - `latency-vs-stable`: per-minute mean latencies of both versions (minutes where both served
//!   at least 20 requests), a one-sided Mann-Whitney U and the Hodges-Lehmann shift, in ms (a
//!   percent margin is of stable's median);
//! - a `query` of the spec's own: a minijinja template (`namespace`, `name`, `stable`, `canary`,
//!   `stable_workload`, `canary_workload`, `window`) that must return one number, against `min`
//!   and `max`.
//!
//! Fewer canary requests in the window than `minRequests`, or no data, is inconclusive: never a
//! pass.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

use crate::prometheus::Series;
use crate::spec::{Canary, Margin, Metric, MetricKind};
use crate::stats::{self, Verdict};

use stats::MIN_MINUTES;
/// Requests each version must have served in a minute for the minute to count.
const MIN_PER_MINUTE: f64 = 20.0;

/// What a release's analysis runs against: the stage and its window.
#[derive(Clone, Debug)]
pub struct Window<'a> {
    pub canary: &'a Canary,
    /// The canary's version.
    pub version: &'a str,
    /// The stage's weight: the canary's share of the catch-all traffic.
    pub weight: u32,
    /// Whether the stage also sends matching requests to the canary (then it takes at least
    /// its weight, not exactly).
    pub matched: bool,
    /// A mirror stage's percent: stable serves every request and the canary a copy of this share.
    pub mirror: Option<u32>,
    pub since: Timestamp,
    pub now: Timestamp,
}

impl Window<'_> {
    /// The canary's expected share of the requests both versions serve, in percent: the weight,
    /// or in a mirror stage P / (100 + P) (stable serves them all, the canary P% more as copies).
    pub fn expected_share(&self) -> f64 {
        match self.mirror {
            Some(p) => 100.0 * f64::from(p) / (100.0 + f64::from(p)),
            None => f64::from(self.weight),
        }
    }

    fn seconds(&self) -> i64 {
        (self.now.as_second() - self.since.as_second()).max(0)
    }

    /// The window as PromQL writes a duration: `1800s`.
    pub fn promql(&self) -> String {
        format!("{}s", self.seconds().max(1))
    }

    /// The workload (Deployment) of a version, named by its `version` label.
    fn workload(&self, version: &str) -> String {
        let versions = [Some(&self.canary.stable), self.canary.canary.as_ref()];
        let name = versions.into_iter().flatten().find(|v| v.version == version).map(|v| v.name.clone());
        format!("{}-{}", self.canary.name, name.unwrap_or_else(|| crate::spec::object_name(version)))
    }

    fn selector(&self, workloads: &[String]) -> String {
        let workload = match workloads {
            [one] => format!("destination_workload=\"{one}\""),
            many => format!("destination_workload=~\"{}\"", many.join("|")),
        };
        format!("reporter=\"destination\",destination_workload_namespace=\"{}\",{workload}", self.canary.namespace)
    }
}

/// A query to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// Evaluated at the window's end.
    Instant(String),
    /// Evaluated every minute of the window.
    Range(String),
}

impl Query {
    pub fn promql(&self) -> &str {
        match self {
            Query::Instant(q) | Query::Range(q) => q,
        }
    }
}

/// The queries of one check: the canary's request count first (the `minRequests` guard), then
/// the check's own.
#[derive(Clone, Debug)]
pub struct Planned<'a> {
    pub metric: &'a Metric,
    pub queries: Vec<Query>,
}

/// A check's template could not be rendered: an error at the check's place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub metric: String,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "check `{}`: {}", self.metric, self.message)
    }
}

/// What one check found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    pub name: String,
    pub verdict: &'static str,
    /// The value compared with the bound, when there is one.
    pub value: Option<f64>,
    /// The bound, as the spec says it: `min 99`, `max 500`, `margin 0.5`.
    pub bound: String,
    /// The numbers behind the verdict, in a line.
    pub detail: String,
    /// The canary's requests in the window.
    pub requests: u64,
    pub window: String,
}

impl Outcome {
    pub fn verdict(&self) -> Verdict {
        match self.verdict {
            "pass" => Verdict::Pass,
            "fail" => Verdict::Fail,
            _ => Verdict::Inconclusive,
        }
    }

    /// `success-rate 90.0 (min 99): fail; 3000 of 30000 requests failed, window 1800s`.
    pub fn line(&self) -> String {
        let value = self.value.map_or("no value".to_string(), |v| format!("{}", round(v)));
        format!("{} {value} ({}): {}; {}, window {}", self.name, self.bound, self.verdict, self.detail, self.window)
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The readiness query of a release: the pods each of its versions' Deployments has available,
/// as kube-state-metrics reports them, one series per Deployment (`deployment` label). Object
/// names are DNS-1123 labels, so they need no escaping inside the regex.
pub fn readiness_query(canary: &Canary) -> String {
    let versions = [Some(&canary.stable), canary.canary.as_ref()];
    let names: Vec<String> =
        versions.into_iter().flatten().map(|v| crate::plan::version_object_name(canary, v)).collect();
    format!(
        "max by (deployment) (kube_deployment_status_replicas_available{{namespace=\"{}\",deployment=~\"{}\"}})",
        canary.namespace,
        names.join("|")
    )
}

/// The queries every check of the release's analysis asks, in the spec's order.
pub fn plan<'a>(w: &Window, metrics: &'a [Metric]) -> Result<Vec<Planned<'a>>, Error> {
    let canary = w.workload(w.version);
    let stable = w.workload(&w.canary.stable.version);
    let win = w.promql();
    let one = w.selector(std::slice::from_ref(&canary));
    let both = w.selector(&[stable.clone(), canary.clone()]);
    let requests = Query::Instant(format!("sum(increase(istio_requests_total{{{one}}}[{win}]))"));
    metrics
        .iter()
        .map(|metric| {
            let own = match &metric.kind {
                MetricKind::SuccessRate => vec![Query::Instant(format!(
                    "sum(increase(istio_requests_total{{{one},response_code=~\"5..\"}}[{win}]))"
                ))],
                MetricKind::LatencyP99 => vec![Query::Instant(format!(
                    "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{{{one}}}[{win}])) by (le))"
                ))],
                MetricKind::TrafficShare => vec![Query::Instant(format!(
                    "sum(increase(istio_requests_total{{reporter=\"destination\",destination_workload_namespace=\"{}\",destination_app=\"{}\"}}[{win}])) by (destination_canonical_revision)",
                    w.canary.namespace, w.canary.name
                ))],
                MetricKind::ErrorsVsStable => vec![
                    Query::Instant(format!(
                        "sum by (destination_workload) (increase(istio_requests_total{{{both}}}[{win}]))"
                    )),
                    Query::Instant(format!(
                        "sum by (destination_workload) (increase(istio_requests_total{{{both},response_code=~\"5..\"}}[{win}]))"
                    )),
                ],
                MetricKind::LatencyVsStable => vec![
                    Query::Range(format!(
                        "sum by (destination_workload) (increase(istio_request_duration_milliseconds_sum{{{both}}}[1m])) / sum by (destination_workload) (increase(istio_request_duration_milliseconds_count{{{both}}}[1m]))"
                    )),
                    Query::Range(format!(
                        "sum by (destination_workload) (increase(istio_requests_total{{{both}}}[1m]))"
                    )),
                ],
                MetricKind::Query(template) => vec![Query::Instant(render(template, w, metric)?)],
            };
            Ok(Planned { metric, queries: std::iter::once(requests.clone()).chain(own).collect() })
        })
        .collect()
}

/// A check's own query, its template rendered.
fn render(template: &str, w: &Window, metric: &Metric) -> Result<String, Error> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let ctx = minijinja::context! {
        namespace => &w.canary.namespace,
        name => &w.canary.name,
        stable => &w.canary.stable.version,
        canary => w.version,
        stable_workload => w.workload(&w.canary.stable.version),
        canary_workload => w.workload(w.version),
        window => w.promql(),
    };
    env.render_str(template, ctx)
        .map(|q| q.trim().to_string())
        .map_err(|e| Error {
            metric: metric.name.clone(),
            message: format!(
                "its query does not render: {e} (a query may use namespace, name, stable, canary, stable_workload, canary_workload and window)"
            ),
        })
}

/// The one number of an instant answer: exactly one series with one finite sample.
fn number(answer: &[Series]) -> Result<Option<f64>, usize> {
    match answer {
        [] => Ok(None),
        [one] => Ok(one.samples.last().map(|(_, v)| *v).filter(|v| v.is_finite())),
        many => Err(many.len()),
    }
}

/// Judges a check from its answers, one per query of [`plan`], in order. An answer of the
/// wrong shape for a query of the spec's own is an error at the check.
pub fn judge(w: &Window, planned: &Planned, answers: &[Vec<Series>], min_requests: u64) -> Result<Outcome, Error> {
    let metric = planned.metric;
    let several = |n: usize| Error {
        metric: metric.name.clone(),
        message: format!(
            "its query returned {n} series; a check's query must return one number (aggregate it with sum, max or similar)"
        ),
    };
    let requests = number(&answers[0]).ok().flatten().unwrap_or(0.0).round().max(0.0) as u64;
    let mut out = Outcome {
        name: metric.name.clone(),
        verdict: "inconclusive",
        value: None,
        bound: bound(metric),
        detail: String::new(),
        requests,
        window: w.promql(),
    };
    if requests < min_requests.max(1) {
        out.detail = format!("{requests} canary requests, fewer than minRequests {min_requests}");
        return Ok(out);
    }
    let within = |v: f64| metric.min.is_none_or(|m| v >= m) && metric.max.is_none_or(|m| v <= m);
    let (verdict, value, detail) = match &metric.kind {
        MetricKind::SuccessRate | MetricKind::LatencyP99 | MetricKind::Query(_) => {
            let v = number(&answers[1]).map_err(several)?;
            let v = match (&metric.kind, v) {
                (MetricKind::SuccessRate, errors) => Some(100.0 * (1.0 - errors.unwrap_or(0.0) / requests as f64)),
                (_, v) => v,
            };
            let detail = match &metric.kind {
                MetricKind::SuccessRate => {
                    format!(
                        "{} of {requests} requests failed",
                        round(requests as f64 * (1.0 - v.unwrap_or(100.0) / 100.0))
                    )
                }
                _ => format!("{requests} requests"),
            };
            match v {
                None => (Verdict::Inconclusive, None, "no data".to_string()),
                Some(v) if within(v) => (Verdict::Pass, Some(v), detail),
                Some(v) => (Verdict::Fail, Some(v), detail),
            }
        }
        MetricKind::TrafficShare => {
            let by: BTreeMap<&str, f64> = answers[1]
                .iter()
                .filter_map(|s| Some((s.label("destination_canonical_revision"), s.samples.last()?.1)))
                .collect();
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
                Some(p) => format!("the stage's mirror of {p}% makes it {}%", round(expected)),
                None => format!("the stage says {}%", w.weight),
            };
            let detail = format!("the canary took {}% of {} requests, {says}", round(share), total.round());
            (if within(off) { Verdict::Pass } else { Verdict::Fail }, Some(off), detail)
        }
        MetricKind::ErrorsVsStable => errors_vs_stable(w, metric, &answers[1], &answers[2]),
        MetricKind::LatencyVsStable => latency_vs_stable(w, metric, &answers[1], &answers[2]),
    };
    out.verdict = match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
    };
    out.value = value;
    out.detail = detail;
    Ok(out)
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

/// The last sample of each workload's series.
fn by_workload(answer: &[Series]) -> BTreeMap<String, f64> {
    answer.iter().filter_map(|s| Some((s.label("destination_workload").to_string(), s.samples.last()?.1))).collect()
}

fn errors_vs_stable(
    w: &Window,
    metric: &Metric,
    totals: &[Series],
    errors: &[Series],
) -> (Verdict, Option<f64>, String) {
    let (totals, errors) = (by_workload(totals), by_workload(errors));
    let count =
        |m: &BTreeMap<String, f64>, v: &str| m.get(&w.workload(v)).copied().unwrap_or(0.0).round().max(0.0) as u64;
    let stable = &w.canary.stable.version;
    let (n1, x1, n2, x2) =
        (count(&totals, w.version), count(&errors, w.version), count(&totals, stable), count(&errors, stable));
    let Some(interval) = stats::newcombe_difference(x1, n1, x2, n2, stats::ERRORS_CONFIDENCE) else {
        return (Verdict::Inconclusive, None, "no stable requests to compare with".into());
    };
    let margin = match metric.margin {
        Some(Margin::Absolute(m)) => m,
        _ => 0.0,
    };
    // The interval and the margin are in percentage points.
    let points = round;
    let verdict = stats::errors_verdict(&interval, margin);
    let detail = format!(
        "canary {x1} of {n1} failed, stable {x2} of {n2}; difference {} points, 98% interval {} to {}",
        points(interval.estimate),
        points(interval.low),
        points(interval.high)
    );
    (verdict, Some(points(interval.estimate)), detail)
}

fn latency_vs_stable(
    w: &Window,
    metric: &Metric,
    means: &[Series],
    counts: &[Series],
) -> (Verdict, Option<f64>, String) {
    let series = |answer: &[Series], workload: &str| -> BTreeMap<i64, f64> {
        answer
            .iter()
            .filter(|s| s.label("destination_workload") == workload)
            .flat_map(|s| s.samples.iter().map(|(t, v)| (*t as i64, *v)))
            .collect()
    };
    let (cw, sw) = (w.workload(w.version), w.workload(&w.canary.stable.version));
    let (cm, sm, cc, sc) = (series(means, &cw), series(means, &sw), series(counts, &cw), series(counts, &sw));
    let busy = |counts: &BTreeMap<i64, f64>, t: &i64| counts.get(t).is_some_and(|n| *n >= MIN_PER_MINUTE);
    let minutes: Vec<i64> = cm
        .keys()
        .filter(|t| sm.contains_key(t) && busy(&cc, t) && busy(&sc, t))
        .filter(|t| cm[t].is_finite() && sm[t].is_finite())
        .copied()
        .collect();
    let canary: Vec<f64> = minutes.iter().map(|t| cm[t]).collect();
    let stable: Vec<f64> = minutes.iter().map(|t| sm[t]).collect();
    let margin = match metric.margin {
        Some(Margin::Percent(p)) => median(&stable) * p / 100.0,
        Some(Margin::Absolute(m)) => m,
        None => 0.0,
    };
    let test = (minutes.len() >= MIN_MINUTES)
        .then(|| stats::mann_whitney_greater(&canary, &stable, stats::LATENCY_CONFIDENCE))
        .flatten();
    let verdict = stats::latency_verdict(test.as_ref(), minutes.len(), margin);
    let detail = match &test {
        Some(t) => format!(
            "{} minutes; shift {} ms (upper {} ms, margin {} ms), p = {}",
            minutes.len(),
            round(t.shift),
            round(t.shift_upper),
            round(margin),
            round(t.p_value)
        ),
        None => format!(
            "{} minutes where both versions served {MIN_PER_MINUTE} requests; {MIN_MINUTES} needed",
            minutes.len()
        ),
    };
    (verdict, test.map(|t| round(t.shift)), detail)
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_file;
    use std::path::Path;

    const SPEC: &str = "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {name: reviews, namespace: bookinfo}
spec:
  service: {port: 9080}
  stable: {version: v1, image: r:1}
  canary: {version: v2, image: r:2}
  analysis:
    minRequests: 100
    metrics:
      - {name: ok, builtin: success-rate, min: 99}
      - {name: share, builtin: traffic-share, max: 5}
      - {name: jobs, query: 'sum(rate(jobs{ns=\"{{ namespace }}\",w=\"{{ canary_workload }}\"}[{{ window }}]))', max: 1}
  stages:
    - {name: a, weight: 10}
";

    fn series(labels: &[(&str, &str)], value: f64) -> Series {
        Series {
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            samples: vec![(0.0, value)],
        }
    }

    #[test]
    fn checks_ask_istio_metrics_of_the_window_and_judge_their_answers() {
        let c = parse_file(Path::new("c.yaml"), SPEC).0.remove(0);
        let since: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let now: Timestamp = "2026-03-01T10:30:00Z".parse().unwrap();
        let w = Window { canary: &c, version: "v2", weight: 10, matched: false, mirror: None, since, now };
        let metrics = &c.analysis.as_ref().unwrap().metrics;
        let planned = plan(&w, metrics).unwrap();
        assert_eq!(
            planned[0].queries[0].promql(),
            "sum(increase(istio_requests_total{reporter=\"destination\",destination_workload_namespace=\"bookinfo\",destination_workload=\"reviews-v2\"}[1800s]))"
        );
        assert_eq!(planned[2].queries[1].promql(), "sum(rate(jobs{ns=\"bookinfo\",w=\"reviews-v2\"}[1800s]))");

        let requests = vec![series(&[], 3000.0)];
        let judged = |i: usize, answer: Vec<Series>, requests: &Vec<Series>| {
            judge(&w, &planned[i], &[requests.clone(), answer], 100)
        };
        // 10% errors: fail, with the numbers.
        let o = judged(0, vec![series(&[], 300.0)], &requests).unwrap();
        assert_eq!((o.verdict, o.value), ("fail", Some(90.0)));
        assert!(o.line().contains("300 of 3000 requests failed, window 1800s"), "{}", o.line());
        assert_eq!(judged(0, vec![series(&[], 3.0)], &requests).unwrap().verdict, "pass");
        // Too few requests: inconclusive, never a pass.
        let few = vec![series(&[], 99.0)];
        assert_eq!(judged(0, vec![], &few).unwrap().verdict, "inconclusive");
        assert_eq!(judged(0, vec![], &vec![]).unwrap().verdict, "inconclusive");
        // The cluster still on the previous weights: the canary takes 0% of a 10% stage.
        let by = |v: &str, n: f64| series(&[("destination_canonical_revision", v)], n);
        assert_eq!(judged(1, vec![by("v1", 2700.0), by("v2", 300.0)], &requests).unwrap().verdict, "pass");
        assert_eq!(judged(1, vec![by("v1", 3000.0)], &requests).unwrap().verdict, "fail");
        // In a stage with matches the canary takes more than its weight: only less is a mismatch.
        let matched = Window { matched: true, ..w.clone() };
        let judged_matched = |answer: Vec<Series>| judge(&matched, &planned[1], &[requests.clone(), answer], 100);
        assert_eq!(judged_matched(vec![by("v1", 1500.0), by("v2", 1500.0)]).unwrap().verdict, "pass");
        assert_eq!(judged_matched(vec![by("v1", 3000.0)]).unwrap().verdict, "fail");
        // A mirror of 20%: the canary serves a copy of a fifth of stable's requests, 1/6 of all.
        let mirrored = Window { weight: 0, mirror: Some(20), ..w.clone() };
        let judged_mirrored = |answer: Vec<Series>| judge(&mirrored, &planned[1], &[requests.clone(), answer], 100);
        let o = judged_mirrored(vec![by("v1", 3000.0), by("v2", 600.0)]).unwrap();
        assert_eq!(o.verdict, "pass", "{}", o.line());
        assert!(
            o.detail.ends_with("the canary took 16.667% of 3600 requests, the stage's mirror of 20% makes it 16.667%")
        );
        assert_eq!(judged_mirrored(vec![by("v1", 3000.0)]).unwrap().verdict, "fail");
        // A query of the spec's own returning several series is the spec's mistake.
        let two = vec![series(&[("w", "a")], 1.0), series(&[("w", "b")], 1.0)];
        let e = judged(2, two, &requests).unwrap_err();
        assert!(e.message.contains("returned 2 series"), "{e}");
        assert_eq!(judged(2, vec![series(&[], 0.5)], &requests).unwrap().verdict, "pass");
        assert_eq!(judged(2, vec![], &requests).unwrap().verdict, "inconclusive");
    }

    #[test]
    fn latency_against_stable_counts_busy_minutes_and_judges_the_shift() {
        let spec = SPEC.replace(
            "      - {name: ok, builtin: success-rate, min: 99}\n",
            "      - {name: slow, builtin: latency-vs-stable, margin: 10%}\n",
        );
        let c = parse_file(Path::new("c.yaml"), &spec).0.remove(0);
        let since: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let now: Timestamp = "2026-03-01T10:30:00Z".parse().unwrap();
        let w = Window { canary: &c, version: "v2", weight: 10, matched: false, mirror: None, since, now };
        let planned = plan(&w, &c.analysis.as_ref().unwrap().metrics).unwrap();
        let minutes = |workload: &str, f: &dyn Fn(usize) -> f64| Series {
            labels: vec![("destination_workload".into(), workload.into())],
            samples: (0..20).map(|m| (60.0 * m as f64, f(m))).collect(),
        };
        let judge_with = |canary_ms: &dyn Fn(usize) -> f64, canary_requests: f64| {
            let means = vec![minutes("reviews-v1", &|m| 100.0 + (m % 5) as f64), minutes("reviews-v2", canary_ms)];
            let counts = vec![minutes("reviews-v1", &|_| 200.0), minutes("reviews-v2", &|_| canary_requests)];
            judge(&w, &planned[0], &[vec![series(&[], 3000.0)], means, counts], 100).unwrap()
        };
        // 50 ms slower every minute, against a 10% margin of stable's ~102 ms median: fail.
        let slow = judge_with(&|m| 150.0 + (m % 5) as f64, 100.0);
        assert_eq!(slow.verdict, "fail", "{}", slow.line());
        assert!(slow.detail.starts_with("20 minutes; shift 50 ms"), "{}", slow.detail);
        // The same latency: pass.
        assert_eq!(judge_with(&|m| 100.0 + (m % 5) as f64, 100.0).verdict, "pass");
        // Minutes where the canary served fewer than 20 requests do not count: inconclusive.
        let idle = judge_with(&|m| 150.0 + (m % 5) as f64, 10.0);
        assert_eq!(idle.verdict, "inconclusive", "{}", idle.line());
        assert!(idle.detail.starts_with("0 minutes"), "{}", idle.detail);
    }
}

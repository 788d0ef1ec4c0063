//! The canary's health, judged from Prometheus: which queries a run asks ([`ask`]: one per
//! measure for every release due, grouped by workload), and what their answers mean
//! ([`verdict`]). Pure: the commands run the queries (through [`crate::prometheus`]) and hand the
//! answers back, so every verdict is a function of the spec, the stage, the window and the
//! numbers, and any look can be replayed.
//!
//! The window is the stage's age (`now - kanari.dev/since`), every query is evaluated at `now`,
//! and the builtins read Istio's standard metrics (`destination_workload_namespace`,
//! `destination_workload` = `<name>-<subset>`, the version's Deployment):
//! - `success-rate`: percent of the canary's responses that are not 5xx, against `min`;
//! - `latency-p99`: the canary's 99th percentile latency in ms, read from its histogram over
//!   the window as `histogram_quantile` reads it, against `max`;
//! - `traffic-share`: the canary's share of the release's requests over the last 5 minutes
//!   (by `destination_canonical_revision`), against the stage's weight: the distance in
//!   points, against `max` (the cluster runs what Git says before the release moves on); in a
//!   stage with matches, only how far it falls below the weight; in a mirror stage of P% the
//!   canary's destination metrics count the copies, so its expected share of what both versions
//!   serve is P / (100 + P) (16.7% for a mirror of 20%);
//! - `errors-vs-stable` and `latency-vs-stable`: anytime-valid comparisons with stable over the
//!   same window ([`crate::stats`] has the construction and its references): the chance that a
//!   healthy canary is ever failed during a stage, however often it is looked at, is at most
//!   `analysis.alpha`;
//! - a `query` of the spec's own: a minijinja template (`namespace`, `name`, `stable`, `canary`,
//!   `stable_workload`, `canary_workload`, `window`) that must return one number, against `min`
//!   and `max`.
//!
//! Requests and errors are counted as users see them: the larger of the destination's and the
//! source's view (`reporter="destination"` and `reporter="source"`) of the requests to each
//! version, so a canary whose pods cannot be reached (clients get 503s their own proxies
//! report) is not taken for an idle one. In a stage that sends the canary traffic, no canary
//! request while stable serves fails every builtin check ("no traffic reaches the canary").
//!
//! A stage that sends stable nothing (weight 100) compares the canary with stable's counts from
//! the window just before the stage began, as long as the stage's age, at most an hour.
//!
//! Bad data is never a pass: a NaN, an infinity, a negative count, more 5xx than requests, a
//! histogram whose buckets fall: the checks that read it are inconclusive, naming the series,
//! and no deadline turns that into a pass. Fewer canary requests in the window than
//! `minRequests` is inconclusive too.
//!
//! Past `analysis.deadline` (the stage's age), a check still inconclusive decides by
//! `analysis.onInconclusive`: `hold` (said as "inconclusive past the deadline"), `pass` or
//! `abort` (a failure).

pub(crate) mod ask;
#[cfg(test)]
mod tests;
pub(crate) mod verdict;

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

use crate::spec::Canary;
use crate::stats::Verdict;

#[cfg(test)]
use ask::Reading;
pub(crate) use verdict::judge;

/// What a release's analysis runs against: the stage and its window.
#[derive(Clone, Debug)]
pub(crate) struct Window<'a> {
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

/// The longest window before a stage that stable's counts are read from, in seconds.
const BEFORE_AT_MOST: i64 = 3600;
/// The window `traffic-share` judges, in seconds: the split the cluster runs now.
const SHARE_WINDOW: i64 = 300;

impl Window<'_> {
    /// The canary's expected share of the requests both versions serve, in percent: the weight,
    /// or in a mirror stage P / (100 + P) (stable serves them all, the canary P% more as copies).
    pub(crate) fn expected_share(&self) -> f64 {
        match self.mirror {
            Some(p) => 100.0 * f64::from(p) / (100.0 + f64::from(p)),
            None => f64::from(self.weight),
        }
    }

    /// The stage's age in seconds, at least 1.
    pub(crate) fn seconds(&self) -> i64 {
        (self.now.as_second() - self.since.as_second()).max(1)
    }

    /// The window as PromQL writes a duration: `1800s`.
    pub(crate) fn promql(&self) -> String {
        format!("{}s", self.seconds())
    }

    /// Whether stable serves nothing in the stage (a weight of 100 with no mirror): then its
    /// counts come from before the stage.
    pub(crate) fn stable_idle(&self) -> bool {
        self.weight >= 100 && self.mirror.is_none()
    }

    /// The window stable's counts come from before the stage, in seconds: as long as the
    /// stage's age, at most an hour.
    pub(crate) fn before_seconds(&self) -> i64 {
        self.seconds().min(BEFORE_AT_MOST)
    }

    /// The window `traffic-share` judges, in seconds.
    pub(crate) fn share_seconds(&self) -> i64 {
        self.seconds().min(SHARE_WINDOW)
    }

    /// The workload (Deployment) of a version, named by its `version` label.
    pub(crate) fn workload(&self, version: &str) -> String {
        let versions = [Some(&self.canary.stable), self.canary.canary.as_ref()];
        let name = versions.into_iter().flatten().find(|v| v.version == version).map(|v| v.name.clone());
        crate::spec::version_object(&self.canary.name, &name.unwrap_or_else(|| crate::spec::object_name(version)))
    }
}

/// A check's template could not be rendered: an error at the check's place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Error {
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
pub(crate) struct Outcome {
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
    /// What the check needs to pass, for a healthy canary at the rates observed now
    /// (`analyze --explain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<String>,
    /// Whether the check read bad data (a NaN, a negative count): never passed by a deadline.
    #[serde(skip)]
    pub bad_data: bool,
    /// The check's `min` and `max`: the value is printed with the digits that show its side of each.
    #[serde(skip)]
    pub limits: Vec<f64>,
}

impl Outcome {
    pub(crate) fn verdict(&self) -> Verdict {
        match self.verdict {
            "pass" => Verdict::Pass,
            "fail" => Verdict::Fail,
            _ => Verdict::Inconclusive,
        }
    }

    /// `success-rate 90 (min 99): fail; 3000 of 30000 requests failed, window 1800s`.
    pub(crate) fn line(&self) -> String {
        let value = self.value.map_or("no value".to_string(), |v| shown(v, &self.limits));
        format!("{} {value} ({}): {}; {}, window {}", self.name, self.bound, self.verdict, self.detail, self.window)
    }
}

/// A verdict's word.
pub(crate) fn word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
    }
}

/// A number as verdicts print it: at least 3 significant digits, and as many more as it takes to
/// show on which side of each of `against` it lies (`0.00954` against a bound of `0.01`, never
/// `0.01`); a very small or large one in scientific notation (`3.2e-7`); never `-0`.
pub(crate) fn shown(v: f64, against: &[f64]) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let mut text = String::new();
    for digits in 3..=17 {
        text = with_digits(v, digits);
        let read: f64 = text.parse().unwrap_or(v);
        // On the same side of each bound, and nearer the value than the bound is.
        let clear = |b: &f64| read.partial_cmp(b) == v.partial_cmp(b) && (v == *b || (read - v).abs() < (v - b).abs());
        if against.iter().all(clear) {
            break;
        }
    }
    text
}

/// `v` to `digits` significant digits, without trailing zeros.
fn with_digits(v: f64, digits: usize) -> String {
    let magnitude = v.abs().log10().floor() as i32;
    if !(-4..15).contains(&magnitude) {
        let text = format!("{:.*e}", digits - 1, v);
        let (mantissa, exponent) = text.split_once('e').expect("scientific notation");
        let mantissa = trim_zeros(mantissa);
        return format!("{mantissa}e{exponent}");
    }
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    let text = trim_zeros(&format!("{v:.decimals$}"));
    if text == "-0" { "0".to_string() } else { text }
}

fn trim_zeros(text: &str) -> String {
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => text.to_string(),
    }
}

/// The readiness query of releases: the pods each of their versions' Deployments has
/// available, as kube-state-metrics reports them, one series per namespace and Deployment. One
/// query for them all: the selector may take more (a Deployment of one release's name in
/// another's namespace), which the reader ignores. Object names are DNS-1123 labels, so they
/// need no escaping inside the regex.
pub(crate) fn readiness_query<'a>(canaries: impl IntoIterator<Item = &'a Canary>) -> String {
    let mut namespaces = std::collections::BTreeSet::new();
    let mut names = std::collections::BTreeSet::new();
    for canary in canaries {
        namespaces.insert(canary.namespace.clone());
        for v in [Some(&canary.stable), canary.canary.as_ref()].into_iter().flatten() {
            names.insert(crate::plan::version_object_name(canary, v));
        }
    }
    let join = |set: std::collections::BTreeSet<String>| set.into_iter().collect::<Vec<_>>().join("|");
    format!(
        "max by (namespace, deployment) (kube_deployment_status_replicas_available{{namespace=~\"{}\",deployment=~\"{}\"}})",
        join(namespaces),
        join(names)
    )
}

/// A check's own query, its template rendered.
pub(crate) fn render(template: &str, w: &Window, metric: &crate::spec::Metric) -> Result<String, Error> {
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

/// Every query template of `w`'s analysis rendered (lint's check of their syntax and names).
pub(crate) fn render_all(w: &Window, metrics: &[crate::spec::Metric]) -> Result<(), Error> {
    for metric in metrics {
        if let crate::spec::MetricKind::Query(template) = &metric.kind {
            render(template, w, metric)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod numbers {
    use super::*;

    #[test]
    fn numbers_show_which_side_of_their_bound_they_are() {
        assert_eq!(shown(0.00954, &[0.01]), "0.00954");
        assert_eq!(shown(0.0099999, &[0.01]), "0.0099999");
        assert_eq!(shown(99.95, &[100.0]), "99.95");
        assert_eq!(shown(99.95, &[99.9]), "99.95");
        assert_eq!(shown(98.999, &[99.0]), "98.999");
        assert_eq!(shown(3.2e-7, &[]), "3.2e-7");
        assert_eq!(shown(-0.0, &[]), "0");
        assert_eq!(shown(-0.00001, &[0.0]), "-1e-5");
        assert_eq!(shown(1234.5678, &[]), "1235");
        assert_eq!(shown(0.5, &[0.5]), "0.5");
        assert_eq!(shown(f64::NAN, &[]), "NaN");
    }
}

//! `spec.analysis` validated: the Prometheus URL, the request floor, what a failure does, and
//! each check with the bounds its kind needs. Queries are checked as text here; whether a
//! template renders and returns one number is the analysis's to find, at the check's place.

use super::raw::{RawAnalysis, RawMargin, RawMetric, S};
use super::rules::parse_duration;
use super::validate::Validator;
use super::{
    Analysis, DEFAULT_ALPHA, DEFAULT_MIN_REQUESTS, Margin, Metric, MetricKind, OnFailure, OnInconclusive, Stage,
};

/// The builtin checks by name, with the bound each needs.
pub const BUILTINS: [(&str, &str); 5] = [
    ("success-rate", "min"),
    ("latency-p99", "max"),
    ("traffic-share", "max"),
    ("errors-vs-stable", "margin"),
    ("latency-vs-stable", "margin"),
];

impl Validator<'_> {
    /// A Prometheus base URL (`what` names the field): http or https, at most 2048 bytes, no
    /// space or control character; its trailing `/` dropped.
    pub(super) fn prometheus_url(&mut self, p: &S<String>, what: &str) -> String {
        let ok = (p.value.starts_with("http://") || p.value.starts_with("https://"))
            && p.value.len() <= 2048
            && !p.value.contains(|c: char| c.is_whitespace() || c.is_control());
        self.check(p, ok, || format!("{what} `{}` must be an http:// or https:// URL", p.value));
        p.value.trim_end_matches('/').to_string()
    }

    pub(super) fn analysis(&mut self, raw: &S<RawAnalysis>, stages: &[Stage]) -> Option<Analysis> {
        let before = self.problems.len();
        let a = &raw.value;
        let prometheus = a.prometheus.as_ref().map(|p| self.prometheus_url(p, "analysis.prometheus"));
        let min_requests = match &a.min_requests {
            Some(n) => {
                let ok = (0..=1_000_000_000).contains(&n.value);
                self.check(n, ok, || format!("analysis.minRequests must be from 0 to 1000000000, got {}", n.value));
                n.value.max(0) as u64
            }
            None => DEFAULT_MIN_REQUESTS,
        };
        let on_failure = match a.on_failure.as_ref().map(|o| (o, o.value.as_str())) {
            None | Some((_, "abort")) => OnFailure::Abort,
            Some((_, "hold")) => OnFailure::Hold,
            Some((o, other)) => {
                self.problem(o, format!("analysis.onFailure `{other}` must be `abort` or `hold`"));
                OnFailure::Abort
            }
        };
        let on_inconclusive = match a.on_inconclusive.as_ref().map(|o| (o, o.value.as_str())) {
            None | Some((_, "hold")) => OnInconclusive::Hold,
            Some((_, "pass")) => OnInconclusive::Pass,
            Some((_, "abort")) => OnInconclusive::Abort,
            Some((o, other)) => {
                self.problem(o, format!("analysis.onInconclusive `{other}` must be `hold`, `pass` or `abort`"));
                OnInconclusive::Hold
            }
        };
        let alpha = match &a.alpha {
            Some(x) => {
                let ok = x.value > 0.0 && x.value <= 0.5;
                self.check(x, ok, || {
                    format!("analysis.alpha must be above 0 and at most 0.5 (0.01 is 1%), got {}", x.value)
                });
                if ok { x.value } else { DEFAULT_ALPHA }
            }
            None => DEFAULT_ALPHA,
        };
        let deadline = match &a.deadline {
            Some(d) => match parse_duration(&d.value) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => {
                    self.problem(d, "analysis.deadline must be longer than 0s");
                    default_deadline(stages)
                }
                Err(why) => {
                    self.problem(d, format!("analysis.deadline `{}` {why}", d.value));
                    default_deadline(stages)
                }
            },
            None => default_deadline(stages),
        };
        if a.metrics.is_empty() {
            self.problem(raw, "analysis needs at least one check under analysis.metrics");
        }
        let mut metrics: Vec<Metric> = Vec::new();
        for m in &a.metrics {
            if let Some(metric) = self.metric(m) {
                if metrics.iter().any(|other| other.name == metric.name) {
                    self.problem(&m.value.name, format!("two checks are named `{}`", metric.name));
                }
                metrics.push(metric);
            }
        }
        (self.problems.len() == before).then_some(Analysis {
            prometheus,
            min_requests,
            on_failure,
            alpha,
            deadline,
            on_inconclusive,
            metrics,
        })
    }

    fn metric(&mut self, raw: &S<RawMetric>) -> Option<Metric> {
        let m = &raw.value;
        let name = &m.name;
        let named = !name.value.is_empty()
            && name.value.len() <= 63
            && name.value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        self.check(name, named, || format!("check name `{}` must be 1 to 63 letters, digits, `-` and `_`", name.value));
        let kind = match (&m.builtin, &m.query) {
            (Some(b), None) => match b.value.as_str() {
                "success-rate" => MetricKind::SuccessRate,
                "latency-p99" => MetricKind::LatencyP99,
                "traffic-share" => MetricKind::TrafficShare,
                "errors-vs-stable" => MetricKind::ErrorsVsStable,
                "latency-vs-stable" => MetricKind::LatencyVsStable,
                other => {
                    let known: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
                    self.problem(b, format!("`{other}` is no builtin check (expected one of {})", known.join(", ")));
                    return None;
                }
            },
            (None, Some(q)) => {
                let ok = !q.value.trim().is_empty() && q.value.len() <= 16 * 1024;
                self.check(q, ok, || "a query must be 1 to 16384 characters of PromQL".to_string());
                MetricKind::Query(q.value.clone())
            }
            (Some(b), Some(_)) => {
                self.problem(b, "a check has either `builtin` or `query`, not both");
                return None;
            }
            (None, None) => {
                self.problem(name, format!("check `{}` needs `builtin` or `query`", name.value));
                return None;
            }
        };
        for v in [&m.min, &m.max].into_iter().flatten() {
            let x = v.value;
            self.check(v, x.is_finite(), || format!("a bound must be a finite number, got {x}"));
        }
        let margin = m.margin.as_ref().and_then(|raw| {
            let parsed = match &raw.value {
                RawMargin::Number(n) if n.is_finite() && *n > 0.0 => Some(Margin::Absolute(*n)),
                RawMargin::Text(t) => t
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse::<f64>().ok())
                    .filter(|n| n.is_finite() && *n > 0.0)
                    .map(Margin::Percent),
                RawMargin::Number(_) => None,
            };
            if parsed.is_none() {
                // A margin of 0 asks the canary to be proven no worse at all: no test can ever pass it.
                self.problem(
                    raw,
                    "margin must be a number above 0 (points, or ms), or a percent above 0 such as `10%` (a margin of 0 can never pass)",
                );
            }
            parsed
        });
        let needs = match &kind {
            MetricKind::SuccessRate => m.min.is_some(),
            MetricKind::LatencyP99 | MetricKind::TrafficShare => m.max.is_some(),
            MetricKind::ErrorsVsStable | MetricKind::LatencyVsStable => true,
            MetricKind::Query(_) => m.min.is_some() || m.max.is_some(),
        };
        let what = match &kind {
            MetricKind::SuccessRate => "`min` (percent of responses that are not 5xx)",
            MetricKind::LatencyP99 => "`max` (ms)",
            MetricKind::TrafficShare => "`max` (percentage points off the stage's weight)",
            MetricKind::ErrorsVsStable => "a `margin`: percentage points (`0.5`) or a percent of stable's rate (`50%`)",
            MetricKind::LatencyVsStable => "a `margin`: ms (`20`) or a percent of stable's median (`10%`)",
            MetricKind::Query(_) => "`min` or `max`",
        };
        self.check(name, needs, || format!("check `{}` needs {what}", name.value));
        if matches!(kind, MetricKind::ErrorsVsStable | MetricKind::LatencyVsStable) && m.margin.is_none() {
            self.problem(name, format!("check `{}` needs {what}", name.value));
        }
        Some(Metric {
            name: name.value.clone(),
            kind,
            min: m.min.as_ref().map(|v| v.value),
            max: m.max.as_ref().map(|v| v.value),
            margin,
            at: self.place(name),
        })
    }
}

/// `analysis.deadline` when the spec does not say: three times the longest bake, at least an hour.
fn default_deadline(stages: &[Stage]) -> std::time::Duration {
    let longest = stages.iter().filter_map(|s| s.pause.duration).max().unwrap_or_default();
    (longest * 3).max(std::time::Duration::from_secs(3600))
}

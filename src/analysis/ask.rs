//! What a run asks Prometheus, for every release due at once: one instant query per measure
//! (requests, 5xx, latency buckets, the traffic split), each summed by namespace and workload,
//! so the queries a run sends do not grow with the number of releases ([`Spans::requests`]).
//! Releases whose windows differ are asked in one query all the same: each distinct window is a
//! part of it (`increase(...[1800s])`, or `[3600s] @ <since>` for stable's counts before a
//! stage), its series tagged with the part's number (`kanari_span`), the parts joined by `or`
//! in a balanced tree. A part's selector may take more series than its releases need (a
//! workload of one namespace's release in another's namespace); the reader takes only the
//! exact ones ([`Spans::read`]).
//!
//! Namespaces, release names and version object names are DNS-1123 labels, so they go into the
//! regexes and strings as they are.

use std::collections::{BTreeMap, BTreeSet};

use super::Window;
use crate::prometheus::Series;
use crate::spec::MetricKind;

/// What a query measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Measure {
    /// Requests to each version, by reporter.
    Requests,
    /// 5xx responses of each version, by reporter.
    Errors,
    /// Each version's latency histogram (the destination's).
    Latency,
    /// The requests to each revision of each app, over the last minutes.
    Share,
    /// Each version's counters summed over every sample of the window (`sum_over_time`): NaN
    /// or infinite when any sample inside the window is, which `increase` skips over.
    Samples,
}

/// A query to run at the windows' `now`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub measure: Measure,
    pub promql: String,
}

/// A window's length in seconds and, for a window before a stage, the unix second it ends.
type Span = (i64, Option<i64>);

/// The distinct windows of the releases due, each with the workloads read over it.
#[derive(Debug, Default)]
pub(crate) struct Spans {
    counts: BTreeMap<Span, BTreeMap<String, BTreeSet<String>>>,
    /// The workloads whose latency histograms a check reads (a subset of `counts`): the
    /// canary's for `latency-p99`, both versions' for `latency-vs-stable`. Histograms are the
    /// bulk of what a run reads (20 buckets a series), so no other is asked.
    histograms: BTreeMap<Span, BTreeMap<String, BTreeSet<String>>>,
    shares: BTreeMap<i64, BTreeMap<String, BTreeSet<String>>>,
    measures: BTreeSet<Measure>,
}

/// One version's counts over its window: each `Err` names the series that was bad.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Side {
    /// Requests: the larger of the destination's and the source's count.
    pub requests: Result<f64, String>,
    /// 5xx responses: the larger of the two reporters' counts.
    pub errors: Result<f64, String>,
    /// The latency histogram summed over the window, `(le, requests at most le)`, `+Inf` last;
    /// empty without requests.
    pub latency: Result<Vec<(f64, f64)>, String>,
}

/// What Prometheus said about one release.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reading {
    pub canary: Side,
    pub stable: Side,
    /// Where stable's counts come from: `1800s`, or `the 1800s before the stage`.
    pub stable_window: String,
    /// The requests to each revision over the last minutes, and that window (`300s`).
    pub share: Result<BTreeMap<String, f64>, String>,
    pub share_window: String,
}

impl Spans {
    /// The windows of `windows` and the measures their checks read.
    pub(crate) fn of(windows: &[Window]) -> Spans {
        let mut spans = Spans::default();
        for w in windows {
            let Some(a) = &w.canary.analysis else { continue };
            let ns = w.canary.namespace.clone();
            let (canary, stable) = (w.workload(w.version), w.workload(&w.canary.stable.version));
            let now = (w.seconds(), None);
            let stable_span = match w.stable_idle() {
                true => (w.before_seconds(), Some(w.since.as_second())),
                false => now,
            };
            let add = |map: &mut BTreeMap<Span, BTreeMap<String, BTreeSet<String>>>, span: Span, workload: &str| {
                map.entry(span).or_default().entry(ns.clone()).or_default().insert(workload.to_string());
            };
            add(&mut spans.counts, now, &canary);
            add(&mut spans.counts, stable_span, &stable);
            spans.measures.extend([Measure::Requests, Measure::Samples]);
            for m in &a.metrics {
                let measure = match m.kind {
                    MetricKind::SuccessRate | MetricKind::ErrorsVsStable => Measure::Errors,
                    MetricKind::LatencyP99 => {
                        add(&mut spans.histograms, now, &canary);
                        Measure::Latency
                    }
                    MetricKind::LatencyVsStable => {
                        add(&mut spans.histograms, now, &canary);
                        add(&mut spans.histograms, stable_span, &stable);
                        Measure::Latency
                    }
                    MetricKind::TrafficShare => {
                        let apps = spans.shares.entry(w.share_seconds()).or_default();
                        apps.entry(ns.clone()).or_default().insert(w.canary.name.clone());
                        Measure::Share
                    }
                    MetricKind::Query(_) => continue,
                };
                spans.measures.insert(measure);
            }
        }
        spans
    }

    /// The queries to run: one per measure the checks read.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.measures
            .iter()
            .map(|&measure| {
                let parts: Vec<String> = match measure {
                    Measure::Share => self
                        .shares
                        .iter()
                        .enumerate()
                        .map(|(i, (seconds, apps))| share_part(i, *seconds, apps))
                        .collect(),
                    Measure::Samples => self
                        .counts
                        .iter()
                        .enumerate()
                        .map(|(i, (span, wl))| samples_part(i, *span, wl, self.histograms.get(span)))
                        .collect(),
                    // The same part numbers as the counts', for the spans with histograms to read.
                    Measure::Latency => self
                        .counts
                        .keys()
                        .enumerate()
                        .filter_map(|(i, span)| Some(count_part(measure, i, *span, self.histograms.get(span)?)))
                        .collect(),
                    _ => self
                        .counts
                        .iter()
                        .enumerate()
                        .map(|(i, (span, wl))| count_part(measure, i, *span, wl))
                        .collect(),
                };
                Request { measure, promql: balanced(&parts) }
            })
            .collect()
    }

    /// Each window's reading from the answers to [`Spans::requests`] (a measure not asked
    /// reads as no requests).
    pub(crate) fn read(&self, windows: &[Window], answers: &[(Measure, Vec<Series>)]) -> Vec<Reading> {
        let answer = |m: Measure| answers.iter().find(|(x, _)| *x == m).map_or(&[][..], |(_, s)| &s[..]);
        let (requests, errors) =
            (by_key(answer(Measure::Requests), WORKLOAD), by_key(answer(Measure::Errors), WORKLOAD));
        let (latency, shared) = (by_key(answer(Measure::Latency), WORKLOAD), by_key(answer(Measure::Share), APP));
        let samples = by_key(answer(Measure::Samples), WORKLOAD);
        let index: BTreeMap<Span, usize> = self.counts.keys().enumerate().map(|(i, s)| (*s, i)).collect();
        let shares: BTreeMap<i64, usize> = self.shares.keys().enumerate().map(|(i, s)| (*s, i)).collect();
        windows
            .iter()
            .map(|w| {
                let ns = &w.canary.namespace;
                let now = index.get(&(w.seconds(), None)).copied();
                let (stable_span, stable_window) = match w.stable_idle() {
                    true => (
                        index.get(&(w.before_seconds(), Some(w.since.as_second()))).copied(),
                        format!("the {}s before the stage", w.before_seconds()),
                    ),
                    false => (now, w.promql()),
                };
                let side = |span: Option<usize>, version: &str| {
                    let workload = w.workload(version);
                    let seconds = if span == now { w.seconds() } else { w.before_seconds() };
                    let key = |span: usize| (span, ns.as_str(), workload.as_str());
                    side((&requests, &errors, &latency, &samples), span.map(key), seconds)
                };
                let share_span = shares.get(&w.share_seconds()).copied();
                Reading {
                    canary: side(now, w.version),
                    stable: side(stable_span, &w.canary.stable.version),
                    stable_window,
                    share: share(
                        &shared,
                        share_span.map(|span| (span, ns.as_str(), w.canary.name.as_str())),
                        w.share_seconds(),
                    ),
                    share_window: format!("{}s", w.share_seconds()),
                }
            })
            .collect()
    }
}

/// The selector of a part: the namespaces and names, as one regex each.
fn selector(first: &str, names: &BTreeMap<String, BTreeSet<String>>, label: &str) -> String {
    let namespaces: Vec<&str> = names.keys().map(String::as_str).collect();
    let all: BTreeSet<&str> = names.values().flatten().map(String::as_str).collect();
    let all: Vec<&str> = all.into_iter().collect();
    format!("{first},destination_workload_namespace=~\"{}\",{label}=~\"{}\"", namespaces.join("|"), all.join("|"))
}

/// `label_replace(..., "kanari_span", "<i>", "", "")`: a part's series tagged with its number.
fn tagged(i: usize, expr: String) -> String {
    format!("label_replace({expr}, \"kanari_span\", \"{i}\", \"\", \"\")")
}

fn count_part(
    measure: Measure,
    i: usize,
    (seconds, at): Span,
    workloads: &BTreeMap<String, BTreeSet<String>>,
) -> String {
    let at = at.map_or(String::new(), |t| format!(" @ {t}"));
    let (metric, first, by) = match measure {
        Measure::Requests => ("istio_requests_total", "reporter=~\"destination|source\"", "reporter, "),
        Measure::Errors => {
            ("istio_requests_total", "reporter=~\"destination|source\",response_code=~\"5..\"", "reporter, ")
        }
        _ => ("istio_request_duration_milliseconds_bucket", "reporter=\"destination\"", "le, "),
    };
    let sel = selector(first, workloads, "destination_workload");
    tagged(
        i,
        format!(
            "sum by ({by}destination_workload_namespace, destination_workload) (increase({metric}{{{sel}}}[{seconds}s]{at}))"
        ),
    )
}

/// The counters' samples inside the window, summed: bad (NaN, infinite) when any is. Each
/// metric's part is tagged with its name (`kanari_metric`), for the message. Of a histogram,
/// the `+Inf` bucket (every request of the version) stands for the others: reading every
/// bucket's every sample again would double what a run reads.
fn samples_part(
    i: usize,
    (seconds, at): Span,
    workloads: &BTreeMap<String, BTreeSet<String>>,
    histograms: Option<&BTreeMap<String, BTreeSet<String>>>,
) -> String {
    let at = at.map_or(String::new(), |t| format!(" @ {t}"));
    let counters = ("istio_requests_total", "reporter=~\"destination|source\"", workloads);
    let buckets =
        histograms.map(|h| ("istio_request_duration_milliseconds_bucket", "reporter=\"destination\",le=\"+Inf\"", h));
    let parts: Vec<String> = std::iter::once(counters)
        .chain(buckets)
        .map(|(metric, first, workloads)| {
            let sel = selector(first, workloads, WORKLOAD);
            format!(
                "label_replace(sum by (reporter, destination_workload_namespace, destination_workload) (sum_over_time({metric}{{{sel}}}[{seconds}s]{at})), \"kanari_metric\", \"{metric}\", \"\", \"\")"
            )
        })
        .collect();
    tagged(i, balanced(&parts))
}

fn share_part(i: usize, seconds: i64, apps: &BTreeMap<String, BTreeSet<String>>) -> String {
    let sel = selector("reporter=\"destination\"", apps, "destination_app");
    tagged(
        i,
        format!(
            "sum by (destination_workload_namespace, destination_app, destination_canonical_revision) (increase(istio_requests_total{{{sel}}}[{seconds}s]))"
        ),
    )
}

/// The parts joined by `or`, as a balanced tree (so a thousand parts nest ten deep).
fn balanced(parts: &[String]) -> String {
    match parts {
        [] => "vector(0) unless vector(0)".to_string(),
        [one] => one.clone(),
        _ => {
            let (left, right) = parts.split_at(parts.len() / 2);
            format!("({} or {})", balanced(left), balanced(right))
        }
    }
}

const WORKLOAD: &str = "destination_workload";
const APP: &str = "destination_app";

/// An answer's series by part, namespace and the value of `label`: the reader's index, so
/// reading a thousand releases does not scan every series for each.
type Index<'a> = BTreeMap<(usize, &'a str, &'a str), Vec<&'a Series>>;

fn by_key<'a>(answer: &'a [Series], label: &str) -> Index<'a> {
    let mut index: Index = BTreeMap::new();
    for s in answer {
        let Ok(span) = s.label("kanari_span").parse::<usize>() else { continue };
        index.entry((span, s.label("destination_workload_namespace"), s.label(label))).or_default().push(s);
    }
    index
}

/// A part, a namespace and a workload (or app): the key of an [`Index`].
type Key<'a> = (usize, &'a str, &'a str);

/// The series of `key` in `index`.
fn matching<'k>(index: &Index<'k>, key: Key<'k>) -> Vec<&'k Series> {
    index.get(&key).cloned().unwrap_or_default()
}

/// A series as messages name it: `istio_requests_total{reporter="source",...} over 1800s`.
fn named(metric: &str, s: &Series, seconds: i64) -> String {
    let labels: Vec<String> =
        s.labels.iter().filter(|(k, _)| !k.starts_with("kanari_")).map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{metric}{{{}}} over {seconds}s", labels.join(","))
}

/// A series' value when it is a count: finite and not negative; else why not, naming it.
fn count(metric: &str, s: &Series, seconds: i64) -> Result<f64, String> {
    let v = s.samples.last().map_or(f64::NAN, |(_, v)| *v);
    match v.is_finite() && v >= 0.0 {
        true => Ok(v),
        false => Err(format!("{} is {}, not a count", named(metric, s, seconds), super::shown(v, &[]))),
    }
}

fn side(
    (requests, errors, latency, samples): (&Index, &Index, &Index, &Index),
    key: Option<Key>,
    seconds: i64,
) -> Side {
    let Some(key) = key else {
        return Side { requests: Ok(0.0), errors: Ok(0.0), latency: Ok(Vec::new()) };
    };
    // A NaN or infinite sample inside the window, which `increase` steps over, by metric.
    let bad = |metric: &str| -> Result<(), String> {
        let found = matching(samples, key)
            .into_iter()
            .find(|s| s.label("kanari_metric") == metric && !s.samples.last().is_some_and(|(_, v)| v.is_finite()));
        match found {
            Some(s) => Err(format!("{} has a NaN or infinite sample", named(metric, s, seconds))),
            None => Ok(()),
        }
    };
    let (counters, buckets) = (bad("istio_requests_total"), bad("istio_request_duration_milliseconds_bucket"));
    let (_, ns, workload) = key;
    let largest = |index: &Index| -> Result<f64, String> {
        matching(index, key)
            .into_iter()
            .map(|s| count("istio_requests_total", s, seconds))
            .try_fold(0.0f64, |most, v| Ok(most.max(v?)))
    };
    let latency = (|| {
        let metric = "istio_request_duration_milliseconds_bucket";
        let mut buckets = Vec::new();
        for s in matching(latency, key) {
            let le: f64 = match s.label("le") {
                "+Inf" => f64::INFINITY,
                le => le
                    .parse()
                    .map_err(|_| format!("{} has the bucket le=\"{le}\", not a number", named(metric, s, seconds)))?,
            };
            buckets.push((le, count(metric, s, seconds)?));
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let Some(w) = buckets.windows(2).find(|w| w[1].1 < w[0].1) {
            return Err(format!(
                "{metric}{{destination_workload_namespace=\"{ns}\",destination_workload=\"{workload}\"}} over {seconds}s falls from {} at le={} to {} at le={}: its buckets are not cumulative",
                super::shown(w[0].1, &[]),
                super::shown(w[0].0, &[]),
                super::shown(w[1].1, &[]),
                super::shown(w[1].0, &[])
            ));
        }
        if buckets.last().is_some_and(|(le, _)| le.is_finite()) {
            return Err(format!(
                "{metric}{{destination_workload_namespace=\"{ns}\",destination_workload=\"{workload}\"}} over {seconds}s has no +Inf bucket"
            ));
        }
        Ok(buckets)
    })();
    Side {
        requests: counters.clone().and_then(|()| largest(requests)),
        errors: counters.and_then(|()| largest(errors)),
        latency: buckets.and(latency),
    }
}

fn share(index: &Index, key: Option<Key>, seconds: i64) -> Result<BTreeMap<String, f64>, String> {
    let Some(key) = key else { return Ok(BTreeMap::new()) };
    let mut by = BTreeMap::new();
    for s in index.get(&key).into_iter().flatten() {
        let v = count("istio_requests_total", s, seconds)?;
        *by.entry(s.label("destination_canonical_revision").to_string()).or_insert(0.0) += v;
    }
    Ok(by)
}

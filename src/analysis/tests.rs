//! The analysis on made-up answers: the grouped queries' shape, how answers are read (bad data
//! named), and the verdicts with the deadline's rule.

use std::path::Path;

use jiff::Timestamp;

use super::ask::{Measure, Side, Spans};
use super::*;
use crate::prometheus::Series;
use crate::spec::{Canary, parse_file};

const SPEC: &str = "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {name: reviews, namespace: bookinfo}
spec:
  service: {port: 9080}
  stable: {version: v1, image: r:1}
  canary: {version: v2, image: r:2}
  analysis:
    minRequests: 100
    deadline: 1h
    metrics:
      - {name: ok, builtin: success-rate, min: 99}
      - {name: errors, builtin: errors-vs-stable, margin: 50%}
      - {name: slow, builtin: latency-vs-stable, margin: 10%}
      - {name: share, builtin: traffic-share, max: 5}
  stages:
    - {name: a, weight: 10}
    - {name: all, weight: 100}
";

fn canary(extra: &str) -> Canary {
    let text = SPEC.replace("    deadline: 1h\n", &format!("    deadline: 1h\n{extra}"));
    let (mut loaded, problems) = parse_file(Path::new("c.yaml"), &text);
    assert!(problems.is_empty(), "{problems:?}");
    loaded.remove(0)
}

fn at(minute: i64) -> Timestamp {
    "2026-03-01T10:00:00Z".parse::<Timestamp>().unwrap() + jiff::SignedDuration::from_mins(minute)
}

fn window(c: &Canary, weight: u32, minutes: i64) -> Window<'_> {
    Window { canary: c, version: "v2", weight, matched: false, mirror: None, since: at(0), now: at(minutes) }
}

fn series(labels: &[(&str, &str)], value: f64) -> Series {
    Series { labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), samples: vec![(0.0, value)] }
}

fn side(requests: f64, errors: f64) -> Side {
    Side { requests: Ok(requests), errors: Ok(errors), latency: Ok(Vec::new()) }
}

fn reading(canary: Side, stable: Side) -> Reading {
    Reading {
        canary,
        stable,
        stable_window: "1800s".into(),
        share: Ok([("v1".to_string(), 900.0), ("v2".to_string(), 100.0)].into()),
        share_window: "300s".into(),
    }
}

fn judged(c: &Canary, w: &Window, check: usize, r: &Reading) -> Outcome {
    judge(w, &c.analysis.as_ref().unwrap().metrics[check], r, None).unwrap()
}

#[test]
fn one_query_per_measure_asks_every_window_each_part_tagged() {
    let c = canary("");
    let other = canary("");
    let windows = [window(&c, 10, 30), window(&other, 10, 45), window(&c, 100, 20)];
    let spans = Spans::of(&windows);
    let requests = spans.requests();
    let measures: Vec<Measure> = requests.iter().map(|r| r.measure).collect();
    assert_eq!(measures, [Measure::Requests, Measure::Errors, Measure::Latency, Measure::Share, Measure::Samples]);
    let q = &requests[0].promql;
    // Three windows now (1800s, 2700s, 1200s) and stable's hour before the weight-100 stage.
    for part in ["[1200s]))", "[1800s]))", "[2700s]))", &format!("[1200s] @ {}))", at(0).as_second())] {
        assert!(q.contains(part), "{part} in {q}");
    }
    assert_eq!(q.matches("label_replace(").count(), 4, "{q}");
    assert_eq!(q.matches(" or ").count(), 3, "{q}");
    assert!(q.starts_with("((label_replace(sum by (reporter, destination_workload_namespace, destination_workload) (increase(istio_requests_total{reporter=~\"destination|source\",destination_workload_namespace=~\"bookinfo\",destination_workload=~\""), "{q}");
    assert!(requests[1].promql.contains("response_code=~\"5..\""));
    assert!(requests[2].promql.contains("sum by (le, destination_workload_namespace, destination_workload)"));
    assert!(requests[3].promql.contains("[300s]"), "{}", requests[3].promql);
    // Every sample inside each window, for the NaN that `increase` steps over.
    assert!(requests[4].promql.contains("(sum_over_time(istio_requests_total{"), "{}", requests[4].promql);
    assert!(requests[4].promql.contains("(sum_over_time(istio_request_duration_milliseconds_bucket{"));
}

#[test]
fn answers_are_read_per_release_with_bad_series_named() {
    let c = canary("");
    let windows = [window(&c, 10, 30)];
    let spans = Spans::of(&windows);
    let tag = |reporter: &str, wl: &str, v: f64| {
        series(
            &[
                ("kanari_span", "0"),
                ("reporter", reporter),
                ("destination_workload_namespace", "bookinfo"),
                ("destination_workload", wl),
            ],
            v,
        )
    };
    let bucket = |le: &str, v: f64| {
        series(
            &[
                ("kanari_span", "0"),
                ("le", le),
                ("destination_workload_namespace", "bookinfo"),
                ("destination_workload", "reviews-v2"),
            ],
            v,
        )
    };
    let answers = vec![
        // The source side saw more requests to the canary than the destination: it counts.
        (
            Measure::Requests,
            vec![
                tag("destination", "reviews-v2", 100.0),
                tag("source", "reviews-v2", 400.0),
                tag("destination", "reviews-v1", 9000.0),
            ],
        ),
        (Measure::Errors, vec![tag("source", "reviews-v2", 300.0), tag("destination", "reviews-v1", f64::NAN)]),
        (Measure::Latency, vec![bucket("100", 50.0), bucket("50", 60.0), bucket("+Inf", 100.0)]),
    ];
    let r = spans.read(&windows, &answers).remove(0);
    assert_eq!((r.canary.requests.clone(), r.canary.errors.clone()), (Ok(400.0), Ok(300.0)));
    let nan = r.stable.errors.clone().unwrap_err();
    assert!(nan.contains("istio_requests_total{reporter=\"destination\",destination_workload_namespace=\"bookinfo\",destination_workload=\"reviews-v1\"} over 1800s is NaN"), "{nan}");
    let falls = r.canary.latency.clone().unwrap_err();
    assert!(falls.contains("falls from 60 at le=50 to 50 at le=100"), "{falls}");
    // A series of another part (another window) is not this release's.
    let other = vec![(
        Measure::Requests,
        vec![series(
            &[
                ("kanari_span", "1"),
                ("reporter", "destination"),
                ("destination_workload_namespace", "bookinfo"),
                ("destination_workload", "reviews-v2"),
            ],
            5.0,
        )],
    )];
    assert_eq!(spans.read(&windows, &other)[0].canary.requests, Ok(0.0));
}

#[test]
fn bad_data_is_never_a_pass_and_numbers_in_verdicts_are_exact() {
    let c = canary("");
    let w = window(&c, 10, 30);
    let nan =
        Side { errors: Err("istio_requests_total{...} over 1800s is NaN, not a count".into()), ..side(3000.0, 0.0) };
    let o = judged(&c, &w, 0, &reading(nan.clone(), side(27000.0, 27.0)));
    assert_eq!(o.verdict, "inconclusive", "{}", o.line());
    assert!(o.detail.starts_with("bad data: istio_requests_total{...} over 1800s is NaN") && o.value.is_none());
    // More 5xx than requests: the counters disagree, never a success rate above 100%.
    let o = judged(&c, &w, 0, &reading(side(3000.0, 3500.0), side(27000.0, 27.0)));
    assert!(o.verdict == "inconclusive" && o.detail.contains("the counters disagree"), "{}", o.line());
    // Past the deadline with onInconclusive: pass, bad data still holds.
    let passing = canary("    onInconclusive: pass\n");
    let late = window(&passing, 10, 90);
    let o = judged(&passing, &late, 0, &reading(nan, side(27000.0, 27.0)));
    assert_eq!(o.verdict, "inconclusive", "{}", o.line());
    assert!(o.detail.ends_with("inconclusive past the deadline of 1h (bad data is never passed)"), "{}", o.detail);
    // A success rate just under its bound shows the digits that put it there.
    let o = judged(&c, &w, 0, &reading(side(100_000.0, 1001.0), side(27000.0, 27.0)));
    assert_eq!(o.verdict, "fail");
    assert!(
        o.line().starts_with("ok 98.999 (min 99): fail; 1001 of 100000 requests failed, window 1800s"),
        "{}",
        o.line()
    );
}

#[test]
fn no_traffic_reaching_the_canary_fails_and_stable_idle_reads_before() {
    let c = canary("");
    let w = window(&c, 10, 30);
    let o = judged(&c, &w, 1, &reading(side(0.0, 0.0), side(27000.0, 27.0)));
    assert_eq!(o.verdict, "fail", "{}", o.line());
    assert!(o.detail.starts_with("no traffic reaches the canary: 0 requests in 1800s"), "{}", o.detail);
    // No stable traffic either: nothing to say yet.
    let o = judged(&c, &w, 1, &reading(side(0.0, 0.0), side(0.0, 0.0)));
    assert_eq!(o.verdict, "inconclusive", "{}", o.line());
    // At weight 100 the canary fails half its requests against stable's window before the stage.
    let all = window(&c, 100, 30);
    let before = Reading {
        stable_window: "the 1800s before the stage".into(),
        ..reading(side(3000.0, 1500.0), side(30000.0, 30.0))
    };
    let o = judged(&c, &all, 1, &before);
    assert_eq!(o.verdict, "fail", "{}", o.line());
    assert!(o.detail.contains("stable 30 of 30000 in the 1800s before the stage"), "{}", o.detail);
}

#[test]
fn comparisons_judge_relative_margins_and_the_deadline_decides_what_stays_open() {
    let c = canary("");
    let w = window(&c, 10, 30);
    // 5% against 1%, with a margin of 50%: clearly worse.
    let o = judged(&c, &w, 1, &reading(side(10_000.0, 500.0), side(90_000.0, 900.0)));
    assert_eq!(o.verdict, "fail", "{}", o.line());
    assert_eq!(o.value.map(|v| (v * 1000.0).round()), Some(4000.0), "{}", o.line());
    // The same rate on many requests: within 50%.
    let o = judged(&c, &w, 1, &reading(side(100_000.0, 1000.0), side(900_000.0, 9000.0)));
    assert_eq!(o.verdict, "pass", "{}", o.line());
    // The same rate on few: open, and --explain says how many requests a healthy canary needs.
    let r = reading(side(1000.0, 10.0), side(9000.0, 90.0));
    let o = judged(&c, &w, 1, &r);
    assert_eq!(o.verdict, "inconclusive", "{}", o.line());
    let explain = o.explain.clone().unwrap();
    assert!(explain.starts_with("a healthy canary needs about "), "{explain}");
    let needed: u64 = explain.split_whitespace().nth(5).unwrap().parse().unwrap();
    assert!((1000..1_000_000).contains(&needed), "{explain}");
    // Past the deadline: hold says so, pass passes, abort fails.
    for (policy, verdict, said) in [
        ("hold", "inconclusive", "(onInconclusive: hold)"),
        ("pass", "pass", "(passed by onInconclusive: pass)"),
        ("abort", "fail", "(failed by onInconclusive: abort)"),
    ] {
        let c = canary(&format!("    onInconclusive: {policy}\n"));
        let late = window(&c, 10, 61);
        let o = judged(&c, &late, 1, &r);
        assert_eq!(o.verdict, verdict, "{}", o.line());
        assert!(o.detail.ends_with(&format!("inconclusive past the deadline of 1h {said}")), "{}", o.detail);
        // Before it, the check stays open.
        assert_eq!(judged(&c, &window(&c, 10, 59), 1, &r).verdict, "inconclusive");
    }
}

#[test]
fn latency_compares_medians_of_the_histograms() {
    let c = canary("");
    let w = window(&c, 10, 30);
    let histogram = |n: f64, below_100: f64, below_250: f64| {
        Ok(vec![(50.0, 0.0), (100.0, n * below_100), (250.0, n * below_250), (500.0, n), (f64::INFINITY, n)])
    };
    let with = |canary, stable| Reading {
        canary: Side { latency: canary, ..side(150.0, 0.0) },
        stable: Side { latency: stable, ..side(1350.0, 0.0) },
        ..reading(side(0.0, 0.0), side(0.0, 0.0))
    };
    // 150 canary requests (5 a minute), most over 250 ms, against a stable median near 100 ms.
    let o = judged(&c, &w, 2, &with(histogram(150.0, 0.0, 0.1), histogram(1350.0, 0.5, 1.0)));
    assert_eq!(o.verdict, "fail", "{}", o.line());
    let o = judged(&c, &w, 2, &with(histogram(150.0, 0.5, 1.0), histogram(1350.0, 0.5, 1.0)));
    assert_ne!(o.verdict, "fail", "{}", o.line());
}

#[test]
fn histograms_are_asked_only_for_the_workloads_a_check_reads() {
    let text = SPEC.replace(
        "      - {name: slow, builtin: latency-vs-stable, margin: 10%}\n",
        "      - {name: p99, builtin: latency-p99, max: 500}\n",
    );
    let c = parse_file(Path::new("c.yaml"), &text).0.remove(0);
    let windows = [window(&c, 10, 30)];
    let requests = Spans::of(&windows).requests();
    let latency = &requests.iter().find(|r| r.measure == Measure::Latency).unwrap().promql;
    assert!(latency.contains("destination_workload=~\"reviews-v2\"}[1800s]"), "{latency}");
    let samples = &requests.iter().find(|r| r.measure == Measure::Samples).unwrap().promql;
    assert!(samples.contains("reporter=\"destination\",le=\"+Inf\",destination_workload_namespace=~\"bookinfo\",destination_workload=~\"reviews-v2\"}"), "{samples}");
    assert!(samples.contains("destination_workload=~\"reviews-v1|reviews-v2\"}"), "{samples}");
}

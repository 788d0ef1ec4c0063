//! The test Prometheus answers what the data says: counters, rates and quantiles over
//! backfilled Istio metrics, at exact times; and it is gone once dropped.

use std::collections::BTreeMap;
use std::net::TcpStream;

use jiff::SignedDuration;

use super::{Latency, OpenMetrics, Prometheus, Replicas, Reporter, Traffic, at_minute, day};
use crate::servers::live_members;

/// reviews-v1 (stable) for 60 minutes and reviews-v2 (canary) for the first 30, in `shop`: 1000
/// requests a minute each; the canary fails 10% of them and is slower.
fn canary() -> OpenMetrics {
    let mut series = OpenMetrics::every(15);
    series
        .traffic(Traffic::steady("shop", "reviews", "v1", 60, 1000.0))
        .traffic(Traffic {
            error_ratio: 0.1,
            latency: |_| Latency::around(400.0, 50.0),
            ..Traffic::steady("shop", "reviews", "v2", 30, 1000.0)
        })
        .replicas(Replicas {
            namespace: "shop".into(),
            deployment: "reviews-v2".into(),
            from: day(),
            minutes: 60,
            available: |minute| if minute < 5 { 0 } else { 3 },
        });
    series
}

const V2_5XX: &str = r#"istio_requests_total{destination_workload="reviews-v2",response_code=~"5.."}"#;

#[test]
fn a_canary_failing_one_request_in_ten_shows_3000_errors_and_a_90_percent_success_rate() {
    let prometheus = Prometheus::start(&canary());
    eprintln!(
        "prometheus: backfill {:?}, ready {:?} (2 versions x 60 minutes)",
        prometheus.backfill_took, prometheus.ready_took
    );
    let end = at_minute(30);
    // increase() is the last sample minus the first within the window, stretched to the
    // window's edges when a sample lies more than 1.1 average intervals from an edge (else only
    // up to the edge, or to where the counter would have been zero). Here samples sit on both
    // edges (every 15 s from 00:00 to 00:30, the window [00:00, 00:30] includes both ends), so
    // nothing is stretched: 3000 - 0. A left-open window (Prometheus 3) drops the sample at
    // 00:00 and stretches 2975 over the 15 s gap back to exactly where the counter was zero:
    // 3000 again. Only the floating-point arithmetic may move it.
    let errors = prometheus.value(&format!("sum(increase({V2_5XX}[30m]))"), end);
    assert!((errors - 3000.0).abs() < 0.5, "5xx of reviews-v2 over 30m: {errors}");

    let success = prometheus.value(
        r#"sum(rate(istio_requests_total{destination_workload="reviews-v2",response_code!~"5.."}[30m]))
           / sum(rate(istio_requests_total{destination_workload="reviews-v2"}[30m]))"#,
        end,
    );
    assert!((success - 0.9).abs() < 1e-9, "success rate of reviews-v2 over 30m: {success}");

    let per_second = prometheus.value(r#"sum(rate(istio_requests_total{destination_app="reviews"}[5m]))"#, end);
    assert!((per_second - 2000.0 / 60.0).abs() < 1e-6, "requests a second to reviews: {per_second}");

    // The stable version never failed: no 5xx series at all, as with Istio.
    let stable =
        prometheus.query(r#"istio_requests_total{destination_workload="reviews-v1",response_code=~"5.."}"#, end);
    assert_eq!(stable["result"], serde_json::json!([]), "{stable}");

    // 100 failures a minute: 1000 in the last 10 minutes.
    let recent = prometheus.value(&format!("sum(increase({V2_5XX}[10m]))"), end);
    assert!((recent - 1000.0).abs() < 0.5, "5xx of reviews-v2 in its last 10 minutes: {recent}");

    let replicas = r#"kube_deployment_status_replicas_available{namespace="shop",deployment="reviews-v2"}"#;
    assert_eq!(prometheus.value(replicas, at_minute(2)), 0.0);
    assert_eq!(prometheus.value(replicas, at_minute(5)), 3.0);

    // The labels of one series, as kanari's queries will filter on them.
    let one = prometheus.query(r#"istio_requests_total{destination_workload="reviews-v2",response_code="503"}"#, end);
    let labels: BTreeMap<String, String> = serde_json::from_value(one["result"][0]["metric"].clone()).unwrap();
    let expected = [
        ("__name__", "istio_requests_total"),
        ("destination_app", "reviews"),
        ("destination_canonical_revision", "v2"),
        ("destination_service_name", "reviews"),
        ("destination_workload", "reviews-v2"),
        ("destination_workload_namespace", "shop"),
        ("reporter", "destination"),
        ("response_code", "503"),
    ];
    assert_eq!(labels, expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
}

#[test]
fn the_p99_latency_lands_in_the_bucket_of_the_latency_sent() {
    let prometheus = Prometheus::start(&canary());
    let p99 = |workload: &str| {
        prometheus.value(
            &format!(
                r#"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{{reporter="destination",destination_workload_namespace="shop",destination_workload="{workload}"}}[10m])) by (le))"#
            ),
            at_minute(30),
        )
    };
    // 100 ± 50 ms, evenly: half the requests within the 100 ms bucket, all within 250 ms; the
    // quantile interpolates linearly inside (100, 250]: 100 + 150 * 0.49 / 0.5 = 247.
    let stable = p99("reviews-v1");
    assert!(100.0 < stable && stable <= 250.0, "p99 of reviews-v1: {stable}");
    assert!((stable - 247.0).abs() < 0.5, "p99 of reviews-v1: {stable}");
    // 400 ± 50 ms: every request in (250, 500].
    let canary = p99("reviews-v2");
    assert!(250.0 < canary && canary <= 500.0, "p99 of reviews-v2: {canary}");

    let mean = prometheus.value(
        r#"sum(rate(istio_request_duration_milliseconds_sum{destination_workload="reviews-v2"}[10m]))
           / sum(rate(istio_request_duration_milliseconds_count{destination_workload="reviews-v2"}[10m]))"#,
        at_minute(30),
    );
    assert!((mean - 400.0).abs() < 1e-6, "mean latency of reviews-v2: {mean}");
}

#[test]
fn the_server_is_gone_once_dropped() {
    let mut series = OpenMetrics::every(60);
    series.traffic(Traffic::steady("shop", "reviews", "v1", 5, 60.0));
    let prometheus = Prometheus::start(&series);
    let (port, pgid, dir) = (prometheus.port, prometheus.pgid(), prometheus.dir().to_path_buf());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok(), "prometheus is not listening on {port}");
    assert!(!live_members(pgid).is_empty());
    let up = prometheus.value("sum(istio_requests_total)", day() + SignedDuration::from_mins(5));
    assert_eq!(up, 300.0);
    drop(prometheus);
    let refused = TcpStream::connect(("127.0.0.1", port));
    assert!(refused.is_err(), "port {port} still accepts connections after the drop");
    assert_eq!(live_members(pgid), Vec::<String>::new(), "processes left in group {pgid}");
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

/// Each series of the text (name and labels) with its samples, in order.
fn parse(text: &str) -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut series: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let (rest, time) = line.rsplit_once(' ').unwrap();
        let (key, value) = rest.rsplit_once(' ').unwrap();
        series.entry(key.to_string()).or_default().push((time.parse().unwrap(), value.parse().unwrap()));
    }
    series
}

#[test]
fn the_text_is_openmetrics_with_counters_that_never_go_down() {
    let mut series = canary();
    series.traffic(Traffic {
        requests_per_minute: 7.3,
        error_ratio: 0.37,
        latency: |minute| Latency::around(f64::from(minute) * 40.0 + 1.0, f64::from(minute) * 20.0),
        ..Traffic::steady("shop", "ratings", "v3", 45, 0.0)
    });
    let text = series.text();
    assert!(text.ends_with("\n# EOF\n"), "{}", &text[text.len() - 100..]);
    assert_eq!(text, series.text(), "the same series give the same text");
    let parsed = parse(&text);
    for (key, samples) in &parsed {
        assert!(samples.windows(2).all(|w| w[0].0 < w[1].0), "{key}: samples out of time order");
        if !key.starts_with("kube_") {
            assert!(samples.windows(2).all(|w| w[0].1 <= w[1].1), "{key}: the counter goes down: {samples:?}");
        }
    }
    // Along `le`, each histogram's buckets never go down, and `+Inf` is `_count`.
    let v3 = r#"reporter="destination",destination_workload_namespace="shop",destination_workload="ratings-v3",destination_app="ratings",destination_canonical_revision="v3",destination_service_name="ratings",response_code="503""#;
    let bucket = |le: &str| &parsed[&format!("istio_request_duration_milliseconds_bucket{{{v3},le=\"{le}\"}}")];
    let les: Vec<String> =
        super::openmetrics::ISTIO_BUCKETS_MS.iter().map(|le| le.to_string()).chain(["+Inf".to_string()]).collect();
    assert_eq!(les[..3], ["0.5", "1", "5"]);
    for pair in les.windows(2) {
        let (low, high) = (bucket(&pair[0]), bucket(&pair[1]));
        assert!(low.iter().zip(high).all(|(l, h)| l.1 <= h.1), "le={} above le={}", pair[0], pair[1]);
    }
    assert_eq!(bucket("+Inf"), &parsed[&format!("istio_request_duration_milliseconds_count{{{v3}}}")]);
    let total = parsed[&format!("istio_requests_total{{{v3}}}")].last().unwrap().1;
    assert_eq!(total, (7.3f64 * 0.37 * 45.0).round());
    assert_eq!(parsed.keys().filter(|k| k.contains("ratings-v3") && k.contains("_bucket")).count(), 2 * 20);
}

/// reviews-v2 restarts just before minute 15; ratings-v2 fails from minute 10 and stops at 20;
/// details-v2's requests read NaN from minute 20 to 25; clients see reviews-v3 answer 503.
fn troubled() -> OpenMetrics {
    let mut series = OpenMetrics::every(15);
    series
        .traffic(Traffic {
            error_ratio: 0.1,
            reset_at: Some(15),
            ..Traffic::steady("shop", "reviews", "v2", 30, 1000.0)
        })
        .traffic(Traffic {
            error_ratio: 0.5,
            errors_from: 10,
            stops_at: Some(20),
            ..Traffic::steady("shop", "ratings", "v2", 30, 100.0)
        })
        .traffic(Traffic { nan: Some((200, 20..25)), ..Traffic::steady("shop", "details", "v2", 30, 100.0) })
        .traffic(Traffic::steady("shop", "reviews", "v3", 30, 0.0))
        .traffic(Traffic {
            error_ratio: 1.0,
            reporter: Reporter::Source,
            ..Traffic::steady("shop", "reviews", "v3", 30, 60.0)
        });
    series
}

#[test]
fn a_restart_a_stop_nan_samples_and_the_clients_view_read_as_istio_shows_them() {
    let text = troubled().text();
    let parsed = parse(&text);
    let v2 = r#"reporter="destination",destination_workload_namespace="shop",destination_workload="reviews-v2",destination_app="reviews",destination_canonical_revision="v2",destination_service_name="reviews",response_code="200""#;
    let ok = &parsed[&format!("istio_requests_total{{{v2}}}")];
    // Every 15 s: 225 successes a quarter of a minute; the restart's first sample counts the
    // requests since the last sample before it.
    let around: Vec<f64> = ok[58..62].iter().map(|s| s.1).collect();
    assert_eq!(around, [13050.0, 13275.0, 225.0, 450.0]);
    let prometheus = Prometheus::start(&troubled());
    let sum = |q: &str, minute: u32| prometheus.value(&format!("sum({q})"), at_minute(minute));
    let workload = |w: &str, code: &str| {
        format!(r#"istio_requests_total{{reporter="destination",destination_workload="{w}",response_code=~"{code}"}}"#)
    };
    // increase() counts through the restart: the same numbers as without it, the histogram's
    // too.
    assert_eq!(sum(&format!("increase({}[30m])", workload("reviews-v2", "5..")), 30), 3000.0);
    assert_eq!(sum(&format!("increase({}[30m])", workload("reviews-v2", ".*")), 30), 30000.0);
    let inf = r#"istio_request_duration_milliseconds_bucket{destination_workload="reviews-v2",le="+Inf"}"#;
    assert_eq!(sum(&format!("increase({inf}[30m])"), 30), 30000.0);
    let within = r#"istio_request_duration_milliseconds_bucket{destination_workload="reviews-v2",le="100"}"#;
    // Half of them within 100 ms; each code's buckets are rounded before and after the restart.
    let half = sum(&format!("increase({within}[30m])"), 30);
    assert!((half - 15000.0).abs() <= 4.0, "requests to reviews-v2 within 100 ms: {half}");
    // Failures from minute 10, requests until minute 20: 500 failures and 1500 successes.
    assert_eq!(sum(&format!("increase({}[30m])", workload("ratings-v2", "5..")), 30), 500.0);
    assert_eq!(sum(&format!("increase({}[30m])", workload("ratings-v2", "2..")), 30), 1500.0);
    assert_eq!(sum(&format!("increase({}[5m])", workload("ratings-v2", ".*")), 30), 0.0);
    // A NaN at either end of the window makes increase() NaN; in between, Prometheus takes the
    // last sample less the first and never sees it.
    assert!(sum(&format!("increase({}[10m])", workload("details-v2", ".*")), 22).is_nan());
    assert_eq!(sum(&format!("increase({}[30m])", workload("details-v2", ".*")), 30), 3000.0);
    // The clients count 60 requests a minute to reviews-v3, all 503; its own proxy counts none.
    let source = r#"istio_requests_total{reporter="source",destination_workload="reviews-v3",response_code="503"}"#;
    assert_eq!(sum(&format!("increase({source}[30m])"), 30), 1800.0);
    assert_eq!(sum(&format!("increase({}[30m])", workload("reviews-v3", ".*")), 30), 0.0);
}

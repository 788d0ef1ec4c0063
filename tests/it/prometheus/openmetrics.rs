//! Istio's standard metrics (and kube-state-metrics' available replicas) as OpenMetrics text,
//! made from a description of the traffic: the input `promtool tsdb create-blocks-from
//! openmetrics` backfills. Deterministic: the same description gives the same bytes.
//!
//! Only what kanari's queries read is written: the `reporter="destination"` side of Istio's
//! metrics, with the destination labels below; the source labels, `destination_service`,
//! `request_protocol` and the rest are left out.

use std::io::{self, Write};

use jiff::{SignedDuration, Timestamp};

/// Istio's default buckets for `istio_request_duration_milliseconds`, in milliseconds (`+Inf`
/// comes after them).
pub const ISTIO_BUCKETS_MS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0, 60000.0, 300000.0,
    600000.0, 1800000.0, 3600000.0,
];

/// The day the tests' data lives on, 2026-06-01T00:00:00Z: a day in the past, see
/// [`super::Prometheus`] for why.
pub fn day() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

/// `minute` minutes into [`day`].
pub fn at_minute(minute: u32) -> Timestamp {
    day() + SignedDuration::from_mins(i64::from(minute))
}

/// How long the requests of one minute take: spread evenly over `mean_ms ± spread_ms`.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    pub mean_ms: f64,
    pub spread_ms: f64,
}

impl Latency {
    pub fn around(mean_ms: f64, spread_ms: f64) -> Latency {
        assert!(0.0 <= spread_ms && spread_ms <= mean_ms, "latency {mean_ms} ± {spread_ms} ms goes below 0");
        Latency { mean_ms, spread_ms }
    }

    /// The share of requests that take at most `le` milliseconds.
    fn share_within(self, le: f64) -> f64 {
        let (low, high) = (self.mean_ms - self.spread_ms, self.mean_ms + self.spread_ms);
        if le >= high {
            1.0
        } else if le < low {
            0.0
        } else {
            (le - low) / (high - low)
        }
    }
}

/// The requests one version of an app receives, steady, from `from` for `minutes` minutes.
/// Workload `<app>-<version>`, service `<app>`. Failed requests answer `503`, the others `200`;
/// both take the same time. No failed request, no `503` series (as with Istio).
#[derive(Clone, Debug)]
pub struct Traffic {
    pub namespace: String,
    pub app: String,
    pub version: String,
    pub from: Timestamp,
    pub minutes: u32,
    pub requests_per_minute: f64,
    /// The share of requests that fail, 0 to 1.
    pub error_ratio: f64,
    /// How long the requests of minute `m` (0-based, from `from`) take.
    pub latency: fn(u32) -> Latency,
}

impl Traffic {
    /// `requests_per_minute` requests a minute to `<app>-<version>` in `namespace`, from [`day`]
    /// for `minutes` minutes, none failing, all taking 100 ± 50 ms.
    pub fn steady(namespace: &str, app: &str, version: &str, minutes: u32, requests_per_minute: f64) -> Traffic {
        Traffic {
            namespace: namespace.to_string(),
            app: app.to_string(),
            version: version.to_string(),
            from: day(),
            minutes,
            requests_per_minute,
            error_ratio: 0.0,
            latency: |_| Latency::around(100.0, 50.0),
        }
    }

    fn labels(&self, code: u16) -> String {
        format!(
            "reporter=\"destination\",destination_workload_namespace=\"{ns}\",destination_workload=\"{app}-{v}\",\
             destination_app=\"{app}\",destination_canonical_revision=\"{v}\",destination_service_name=\"{app}\",\
             response_code=\"{code}\"",
            ns = self.namespace,
            app = self.app,
            v = self.version,
        )
    }

    /// The response codes it answers with, each with its share of the requests.
    fn codes(&self) -> Vec<(u16, f64)> {
        assert!((0.0..=1.0).contains(&self.error_ratio), "error_ratio {} is not within 0..=1", self.error_ratio);
        let mut codes = vec![(200, 1.0 - self.error_ratio)];
        if self.error_ratio > 0.0 {
            codes.push((503, self.error_ratio));
        }
        codes
    }
}

/// `kube_deployment_status_replicas_available{namespace, deployment}` from `from` for `minutes`
/// minutes: `available(m)` at minute `m`.
#[derive(Clone, Debug)]
pub struct Replicas {
    pub namespace: String,
    pub deployment: String,
    pub from: Timestamp,
    pub minutes: u32,
    pub available: fn(u32) -> u32,
}

/// The series a test loads into Prometheus, sampled every `step` seconds.
#[derive(Clone, Debug)]
pub struct OpenMetrics {
    step: u32,
    traffic: Vec<Traffic>,
    replicas: Vec<Replicas>,
}

/// One sample time of a series that starts at `from` and lasts `minutes`.
struct Sample {
    time: i64,
    /// Minutes since the start.
    elapsed: f64,
    /// The minute the requests since the sample before fell in.
    minute: u32,
}

impl OpenMetrics {
    /// Series sampled every `step` seconds (Prometheus' own scrape intervals: 15 or 60); `step`
    /// must divide a minute.
    pub fn every(step: u32) -> OpenMetrics {
        assert!(step > 0 && 60 % step == 0, "a step of {step} s does not divide a minute");
        OpenMetrics { step, traffic: Vec::new(), replicas: Vec::new() }
    }

    /// Adds the traffic of one workload; a workload has one [`Traffic`] (its counters start at 0).
    pub fn traffic(&mut self, traffic: Traffic) -> &mut Self {
        let (ns, app, v) = (&traffic.namespace, &traffic.app, &traffic.version);
        let taken = self.traffic.iter().any(|t| (&t.namespace, &t.app, &t.version) == (ns, app, v));
        assert!(!taken, "{ns}/{app}-{v} has traffic already");
        self.traffic.push(traffic);
        self
    }

    /// Adds the replicas of one deployment; a deployment has one [`Replicas`].
    pub fn replicas(&mut self, replicas: Replicas) -> &mut Self {
        let (ns, deployment) = (&replicas.namespace, &replicas.deployment);
        let taken = self.replicas.iter().any(|r| (&r.namespace, &r.deployment) == (ns, deployment));
        assert!(!taken, "{ns}/{deployment} has replicas already");
        self.replicas.push(replicas);
        self
    }

    /// The samples of a series from `from` to `from + minutes` (both included).
    fn samples(&self, from: Timestamp, minutes: u32) -> impl Iterator<Item = Sample> + use<> {
        let (step, start) = (self.step, from.as_second());
        (0..=minutes * 60 / step).map(move |k| Sample {
            time: start + i64::from(k * step),
            elapsed: f64::from(k * step) / 60.0,
            minute: (k.max(1) - 1) * step / 60,
        })
    }

    /// The whole exposition, ending in `# EOF`.
    pub fn text(&self) -> String {
        let mut out = Vec::new();
        self.write_to(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Writes the exposition: each family's samples together, each series' samples in time
    /// order (promtool rejects a sample older than the one before it in its series).
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "# HELP istio_requests Total number of requests.")?;
        writeln!(out, "# TYPE istio_requests counter")?;
        for traffic in &self.traffic {
            for (code, share) in traffic.codes() {
                let labels = traffic.labels(code);
                for s in self.samples(traffic.from, traffic.minutes) {
                    let count = requests(traffic, share, s.elapsed);
                    writeln!(out, "istio_requests_total{{{labels}}} {count} {}", s.time)?;
                }
            }
        }
        writeln!(out, "# HELP istio_request_duration_milliseconds Request duration in milliseconds.")?;
        writeln!(out, "# TYPE istio_request_duration_milliseconds histogram")?;
        for traffic in &self.traffic {
            for (code, share) in traffic.codes() {
                self.write_histogram(out, traffic, code, share)?;
            }
        }
        writeln!(out, "# HELP kube_deployment_status_replicas_available The number of available replicas.")?;
        writeln!(out, "# TYPE kube_deployment_status_replicas_available gauge")?;
        for r in &self.replicas {
            let labels = format!("namespace=\"{}\",deployment=\"{}\"", r.namespace, r.deployment);
            for s in self.samples(r.from, r.minutes) {
                let minute = s.elapsed.floor() as u32;
                writeln!(
                    out,
                    "kube_deployment_status_replicas_available{{{labels}}} {} {}",
                    (r.available)(minute),
                    s.time
                )?;
            }
        }
        writeln!(out, "# EOF")
    }

    /// One histogram: at each sample time its buckets, `_sum` and `_count` (an OpenMetrics
    /// MetricPoint). The requests since the sample before are spread over the buckets by their
    /// minute's latency; counts are rounded cumulative sums, so they never go down, neither over
    /// time nor along `le`, and the `+Inf` bucket is exactly `_count`.
    fn write_histogram(&self, out: &mut dyn Write, traffic: &Traffic, code: u16, share: f64) -> io::Result<()> {
        let labels = traffic.labels(code);
        let mut within = [0.0; ISTIO_BUCKETS_MS.len()];
        let (mut count, mut sum) = (0.0, 0.0);
        for s in self.samples(traffic.from, traffic.minutes) {
            let total = requests(traffic, share, s.elapsed);
            let new = total - count;
            let latency = (traffic.latency)(s.minute);
            for (acc, le) in within.iter_mut().zip(ISTIO_BUCKETS_MS) {
                *acc += new * latency.share_within(le);
            }
            count = total;
            sum += new * latency.mean_ms;
            for (acc, le) in within.iter().zip(ISTIO_BUCKETS_MS) {
                let n = acc.round().min(count);
                writeln!(out, "istio_request_duration_milliseconds_bucket{{{labels},le=\"{le}\"}} {n} {}", s.time)?;
            }
            writeln!(out, "istio_request_duration_milliseconds_bucket{{{labels},le=\"+Inf\"}} {count} {}", s.time)?;
            writeln!(out, "istio_request_duration_milliseconds_sum{{{labels}}} {sum} {}", s.time)?;
            writeln!(out, "istio_request_duration_milliseconds_count{{{labels}}} {count} {}", s.time)?;
        }
        Ok(())
    }
}

/// The requests with a `share` of the traffic in the first `elapsed` minutes: a whole number,
/// rounded from the exact figure, so the counter never goes down.
fn requests(traffic: &Traffic, share: f64, elapsed: f64) -> f64 {
    (traffic.requests_per_minute * share * elapsed).round()
}

//! Istio's standard metrics (and kube-state-metrics' available replicas) as OpenMetrics text,
//! made from a description of the traffic: the input `promtool tsdb create-blocks-from
//! openmetrics` backfills. Deterministic: the same description gives the same bytes.
//!
//! Only what kanari's queries read is written: Istio's metrics as one reporter sees them
//! (`reporter="destination"` unless a [`Traffic`] says [`Reporter::Source`]), with the
//! destination labels below; `destination_service`, `request_protocol` and the rest are left
//! out. Besides steady traffic, a [`Traffic`] can fail from some minute on, stop, restart its
//! pod (every counter drops to 0 and climbs again) or report NaN for some minutes: what the
//! analysis must read right, or refuse to read.

use std::io::{self, Write};
use std::ops::Range;

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

/// Which proxy reports a series: the destination's (the server's sidecar) or the source's (the
/// client's, which also sees requests that never reached a server, answered `503` by its own
/// proxy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reporter {
    Destination,
    Source,
}

impl Reporter {
    fn label(self) -> &'static str {
        match self {
            Reporter::Destination => "destination",
            Reporter::Source => "source",
        }
    }
}

/// The requests one version of an app receives, steady, from `from` for `minutes` minutes, as
/// `reporter` counts them. Workload `<app>-<version>`, service `<app>`. Failed requests answer
/// `503`, the others `200`; both take the same time. No failed request, no `503` series (as with
/// Istio); with failures from `errors_from` on, the `503` series reads 0 until then.
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
    /// Who counts these requests (one [`Traffic`] per workload and reporter).
    pub reporter: Reporter,
    /// The minute (from `from`) the failures start: before it every request succeeds.
    pub errors_from: u32,
    /// The minute (from `from`) the requests stop: the counters stay where they are after it
    /// (the pods still run and report).
    pub stops_at: Option<u32>,
    /// A pod restart just before this minute (from `from`): every counter of the workload, the
    /// histogram's too, drops to 0 at its first sample from then and climbs again. Counted
    /// since the sample before, so no request is lost: `increase()` gives the same numbers as
    /// without the restart.
    pub reset_at: Option<u32>,
    /// `istio_requests_total` of this response code reads NaN at the samples from minute
    /// `start` up to (not including) minute `end` (from `from`); the histogram is left alone.
    pub nan: Option<(u16, Range<u32>)>,
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
            reporter: Reporter::Destination,
            errors_from: 0,
            stops_at: None,
            reset_at: None,
            nan: None,
        }
    }

    fn labels(&self, code: u16) -> String {
        // The source's view names the client too; the server is the same workload.
        let client = match self.reporter {
            Reporter::Destination => String::new(),
            Reporter::Source => {
                format!("source_workload_namespace=\"{}\",source_workload=\"productpage-v1\",", self.namespace)
            }
        };
        format!(
            "reporter=\"{reporter}\",{client}destination_workload_namespace=\"{ns}\",destination_workload=\"{app}-{v}\",\
             destination_app=\"{app}\",destination_canonical_revision=\"{v}\",destination_service_name=\"{app}\",\
             response_code=\"{code}\"",
            reporter = self.reporter.label(),
            ns = self.namespace,
            app = self.app,
            v = self.version,
        )
    }

    /// The requests answered with `code` in the first `elapsed` minutes, as if no pod ever
    /// restarted: a whole number, rounded from the exact figure, so it never goes down (the
    /// successes grow by the requests less the failures, never less than by 0).
    fn cumulative(&self, code: u16, elapsed: f64) -> f64 {
        let rate = self.requests_per_minute;
        let active = self.stops_at.map_or(elapsed, |m| elapsed.min(f64::from(m)));
        let failing = (active - f64::from(self.errors_from)).max(0.0);
        match code {
            503 => (rate * self.error_ratio * failing).round(),
            _ => (rate * (1.0 - self.error_ratio) * active + rate * self.error_ratio * (active - failing)).round(),
        }
    }

    /// The first sample of the restarted pod, and the last of the one before, in elapsed
    /// minutes, for samples every `step` seconds.
    fn restart(&self, step: u32) -> Option<(f64, f64)> {
        self.reset_at.map(|m| (f64::from(m), f64::from(m) - f64::from(step) / 60.0))
    }

    /// What the counter of `code` reads at `elapsed` minutes: [`Traffic::cumulative`] since the
    /// pod's last start.
    fn counter(&self, code: u16, elapsed: f64, step: u32) -> f64 {
        match self.restart(step) {
            Some((first, before)) if elapsed >= first => self.cumulative(code, elapsed) - self.cumulative(code, before),
            _ => self.cumulative(code, elapsed),
        }
    }

    /// The response codes it answers with.
    fn codes(&self) -> Vec<u16> {
        assert!((0.0..=1.0).contains(&self.error_ratio), "error_ratio {} is not within 0..=1", self.error_ratio);
        let mut codes = vec![200];
        if self.error_ratio > 0.0 {
            codes.push(503);
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

    /// Adds the traffic of one workload as one reporter counts it; a workload has one
    /// [`Traffic`] per reporter (its counters start at 0).
    pub fn traffic(&mut self, traffic: Traffic) -> &mut Self {
        let (ns, app, v, by) = (&traffic.namespace, &traffic.app, &traffic.version, traffic.reporter);
        let taken = self.traffic.iter().any(|t| (&t.namespace, &t.app, &t.version, t.reporter) == (ns, app, v, by));
        assert!(!taken, "{ns}/{app}-{v} has traffic reported by the {} already", by.label());
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
            for code in traffic.codes() {
                let labels = traffic.labels(code);
                for s in self.samples(traffic.from, traffic.minutes) {
                    let nan = traffic.nan.as_ref().filter(|(c, _)| *c == code).is_some_and(|(_, minutes)| {
                        f64::from(minutes.start) <= s.elapsed && s.elapsed < f64::from(minutes.end)
                    });
                    match nan {
                        true => writeln!(out, "istio_requests_total{{{labels}}} NaN {}", s.time)?,
                        false => {
                            let count = traffic.counter(code, s.elapsed, self.step);
                            writeln!(out, "istio_requests_total{{{labels}}} {count} {}", s.time)?
                        }
                    }
                }
            }
        }
        writeln!(out, "# HELP istio_request_duration_milliseconds Request duration in milliseconds.")?;
        writeln!(out, "# TYPE istio_request_duration_milliseconds histogram")?;
        for traffic in &self.traffic {
            for code in traffic.codes() {
                self.write_histogram(out, traffic, code)?;
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
    /// time nor along `le` (but all at once at a pod's restart), and the `+Inf` bucket is
    /// exactly `_count`.
    fn write_histogram(&self, out: &mut dyn Write, traffic: &Traffic, code: u16) -> io::Result<()> {
        let labels = traffic.labels(code);
        let mut within = [0.0; ISTIO_BUCKETS_MS.len()];
        let (mut count, mut sum, mut before) = (0.0, 0.0, 0.0);
        let restart = traffic.restart(self.step).map(|(first, _)| first);
        for s in self.samples(traffic.from, traffic.minutes) {
            let total = traffic.cumulative(code, s.elapsed);
            let new = total - before;
            before = total;
            if restart == Some(s.elapsed) {
                (within, count, sum) = ([0.0; ISTIO_BUCKETS_MS.len()], 0.0, 0.0);
            }
            let latency = (traffic.latency)(s.minute);
            for (acc, le) in within.iter_mut().zip(ISTIO_BUCKETS_MS) {
                *acc += new * latency.share_within(le);
            }
            count += new;
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

//! A real Prometheus on 127.0.0.1, loaded with data the tests make: the series are written as
//! OpenMetrics text ([`OpenMetrics`]), backfilled into blocks with `promtool tsdb
//! create-blocks-from openmetrics` (no scraping, so the data is the same on every run), and
//! served by `prometheus` over that folder. Tests then ask it at exact times, through the HTTP
//! API's `time=` parameter, as kanari does with its clock.

mod checks;
pub mod http;
pub mod openmetrics;

use std::io::{BufWriter, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::Value;

pub use openmetrics::{Latency, OpenMetrics, Replicas, Reporter, Traffic, at_minute, day};

use crate::servers::{ProcessGroup, live_members};

/// How long `prometheus` may take to answer `/-/ready`.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long one HTTP request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A `prometheus` serving backfilled data on 127.0.0.1, with no scrape jobs. It runs in a
/// process group of its own, killed and reaped when this is dropped (also when the test fails),
/// before its folder is removed.
///
/// The data's timestamps: Prometheus reads backfilled blocks whatever their time, but
/// - the backfill must not overlap the range of the head block, which follows the wall clock
///   (promtool's documentation warns against backfilling the last few hours); a fixed day in the
///   past ([`day`], 2026-06-01) keeps clear of it, and of the clock of whatever machine runs the
///   tests;
/// - time retention counts back from the newest block, not from now: with the default 15 days,
///   series more than 15 days older than the newest are deleted at start-up; the server keeps
///   100 years.
///
/// promtool cuts the data into blocks of at most 2 hours, aligned on even UTC hours; a query
/// over a boundary reads both blocks as one.
pub struct Prometheus {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub port: u16,
    /// How long the backfill took, and then how long the server took to be ready (reported by
    /// tests that measure, never asserted).
    pub backfill_took: Duration,
    pub ready_took: Duration,
    // Dropped in this order: the server first, then its folder.
    server: ProcessGroup,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Backfills `series` into a new folder and serves it; panics (with promtool's or
    /// prometheus' output) when either fails or the server is not ready within 30 s.
    pub fn start(series: &OpenMetrics) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let started = Instant::now();
        backfill(series, dir.path());
        let backfill_took = started.elapsed();
        std::fs::write(dir.path().join("prometheus.yml"), "global:\n  evaluation_interval: 1m\n").unwrap();
        // Another process may take the free port between the probe and prometheus' bind; a
        // fresh port is tried then, at most three times.
        for attempt in 1..=3 {
            let started = Instant::now();
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let server = serve(dir.path(), port);
            match wait_ready(&server, port) {
                Ok(()) => {
                    let url = format!("http://127.0.0.1:{port}");
                    return Prometheus { url, port, backfill_took, ready_took: started.elapsed(), server, dir };
                }
                Err(why) => {
                    drop(server);
                    let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
                    if attempt < 3 && log.contains("address already in use") {
                        continue;
                    }
                    panic!("prometheus on port {port}: {why}; its log:\n{log}");
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The id of the server's process group.
    pub fn pgid(&self) -> i32 {
        self.server.id()
    }

    /// The folder with the data, the configuration and the server's log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `GET path` (query string already encoded): the JSON of a `200` answer; panics otherwise.
    pub fn get_json(&self, path: &str) -> Value {
        let response = http::get(self.port, path, REQUEST_TIMEOUT)
            .unwrap_or_else(|e| panic!("GET {}{path} failed: {e}", self.url));
        assert_eq!(response.status, 200, "GET {}{path}:\n{}", self.url, response.body);
        serde_json::from_str(&response.body).unwrap_or_else(|e| panic!("GET {}{path}: not JSON ({e})", self.url))
    }

    /// `/api/v1/query` for `promql` at `time`: the `data` of a successful answer
    /// (`{"resultType": ..., "result": ...}`).
    pub fn query(&self, promql: &str, time: Timestamp) -> Value {
        let path = format!("/api/v1/query?query={}&time={}", http::encode(promql), time.as_second());
        let answer = self.get_json(&path);
        assert_eq!(answer["status"], "success", "{promql} at {time}: {answer}");
        answer["data"].clone()
    }

    /// The value of `promql` at `time`, which must give a vector of one sample.
    pub fn value(&self, promql: &str, time: Timestamp) -> f64 {
        let data = self.query(promql, time);
        let result = data["result"].as_array().unwrap_or_else(|| panic!("{promql} at {time}: {data}"));
        assert!(data["resultType"] == "vector" && result.len() == 1, "{promql} at {time}: not one sample: {data}");
        let value = result[0]["value"][1].as_str().unwrap_or_else(|| panic!("{promql} at {time}: {data}"));
        value.parse().unwrap_or_else(|e| panic!("{promql} at {time}: {value}: {e}"))
    }
}

/// Writes `series` to `dir/series.om` and backfills it into `dir/data`.
fn backfill(series: &OpenMetrics, dir: &Path) {
    let file = dir.join("series.om");
    let mut out = BufWriter::new(std::fs::File::create(&file).unwrap());
    series.write_to(&mut out).unwrap();
    out.flush().unwrap();
    drop(out);
    let done = Command::new(crate::tool("promtool"))
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(dir.join("data"))
        .output()
        .expect("promtool runs");
    assert!(
        done.status.success(),
        "promtool tsdb create-blocks-from openmetrics failed:\n{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
}

/// `prometheus` over `dir/data` on 127.0.0.1:`port`, its output in `dir/prometheus.log`.
fn serve(dir: &Path, port: u16) -> ProcessGroup {
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let mut cmd = Command::new(crate::tool("prometheus"));
    cmd.arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=100y")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    ProcessGroup::spawn(cmd)
}

/// Polls `/-/ready` every 100 ms until it answers `200`, for at most [`READY_WITHIN`]; an error
/// when the server exits or the time is up.
fn wait_ready(server: &ProcessGroup, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + READY_WITHIN;
    for _ in 0..READY_WITHIN.as_millis() / 100 + 1 {
        if let Ok(response) = http::get(port, "/-/ready", Duration::from_secs(1))
            && response.status == 200
        {
            return Ok(());
        }
        if live_members(server.id()).is_empty() {
            return Err("it exited before it was ready".into());
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("not ready within {} s", READY_WITHIN.as_secs()))
}

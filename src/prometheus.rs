//! Prometheus's HTTP query API, read with a small blocking client (ureq): instant and range
//! queries at exact times, a bearer token and extra headers (a tenant's `X-Scope-OrgID` for
//! Mimir, Thanos or Cortex), TLS with the system's roots, a timeout on every request, a bounded
//! retry, and a deadline for the run ([`Client::until`]): no request outlives it, and none starts
//! after it. Imports nothing of kanari's; the analysis decides what to ask and what the answers
//! mean.
//!
//! Failures come in three kinds: the server could not be reached or answered with an error of
//! its own ([`Error::Unreachable`]: exit 4 after the retries), it refused the credentials
//! ([`Error::Credentials`]: exit 4 at once), or it refused the query itself ([`Error::Query`]: a
//! PromQL mistake, the spec's to fix). The error travels typed in the run's error chain, where
//! the command layer reads its exit code from its type. Nothing secret is printed: every
//! message shows the URL without its user and password, and a server's words (an error body
//! that echoes the request) with the token, the headers' values and the password hidden
//! ([`crate::secret::redact`]).

use std::fmt;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::Value;

use crate::secret;

/// Attempts per query: the first and two retries, 250 ms and 1 s apart.
const ATTEMPTS: u32 = 3;
/// The longest query parameters sent in a URL; longer ones go in a POST body.
const LONGEST_URL: usize = 4096;
/// The largest answer read: a run's latency query over every due release grows by about 6 KB a
/// release with a latency check.
const LARGEST_ANSWER: u64 = 64 * 1024 * 1024;
/// The longest any one request may take, connect to last byte.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where Prometheus is and how to talk to it.
#[derive(Clone)]
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    /// The base as messages show it: without a user or password.
    shown: String,
    token: Option<String>,
    headers: Vec<(String, String)>,
    /// When the run stops asking, and the whole time it gives Prometheus (for messages).
    deadline: Option<(Instant, Duration)>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token stays out of every message.
        f.debug_struct("Client").field("base", &self.shown).field("token", &self.token.as_ref().map(|_| "***")).finish()
    }
}

/// Why a query has no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Error {
    /// Unreachable, timed out, or a server error, after every attempt.
    Unreachable(String),
    /// The server refused the query (bad PromQL, a wrong type).
    Query(String),
    /// The server refused the credentials (HTTP 401 or 403): not retried.
    Credentials(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unreachable(why) | Error::Query(why) | Error::Credentials(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {}

/// One series of an answer: its labels, and its samples (one for an instant query).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Series {
    pub labels: Vec<(String, String)>,
    /// `(unix seconds, value)`.
    pub samples: Vec<(f64, f64)>,
}

impl Series {
    /// The value of label `name`, or "".
    pub(crate) fn label(&self, name: &str) -> &str {
        self.labels.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }
}

impl Client {
    /// A client for the Prometheus at `base` (`http://host:9090`, or a path prefix behind a
    /// proxy), with a bearer `token` and extra `headers` on every request.
    pub(crate) fn new(base: &str, token: Option<String>, headers: Vec<(String, String)>) -> Client {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .user_agent(concat!("kanari/", env!("CARGO_PKG_VERSION")))
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::PlatformVerifier).build())
            .build();
        let base = base.trim_end_matches('/').to_string();
        Client { agent: config.into(), shown: secret::without_userinfo(&base), base, token, headers, deadline: None }
    }

    /// The client, asking no longer than until `at`, the end of the `allowance` the run gives
    /// Prometheus in all: each request's timeout is cut to the time left, and no attempt starts
    /// after it.
    pub(crate) fn until(self, at: Instant, allowance: Duration) -> Client {
        Client { deadline: Some((at, allowance)), ..self }
    }

    /// The time left for a request: [`TIMEOUT`], or less when the run's deadline is nearer;
    /// None when it has passed.
    fn time_left(&self) -> Option<Duration> {
        match self.deadline {
            None => Some(TIMEOUT),
            Some((at, _)) => {
                Some(at.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero()).map(|d| d.min(TIMEOUT))
            }
        }
    }

    /// The base URL, as given: the key that tells one Prometheus from another.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `text` (a server's words, an error of the HTTP client) as messages show it: every URL
    /// without its user and password, the token, the headers' values and the password hidden.
    fn redact(&self, text: &str) -> String {
        let password = self.base.split_once("://").and_then(|(_, rest)| {
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            let user = &authority[..authority.rfind('@')?];
            user.split_once(':').map(|(_, password)| password)
        });
        let secrets: Vec<&str> = self
            .token
            .iter()
            .map(String::as_str)
            .chain(self.headers.iter().map(|(_, v)| v.as_str()))
            .chain(password)
            .collect();
        secret::redact(text, &secrets)
    }

    /// `query` evaluated at `time`: one sample per series.
    pub(crate) fn instant(&self, query: &str, time: Timestamp) -> Result<Vec<Series>, Error> {
        let time = seconds(time);
        self.get("/api/v1/query", &[("query", query), ("time", &time)])
    }

    fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<Vec<Series>, Error> {
        let url = format!("{}{path}", self.base);
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                let pause = Duration::from_millis(250 * 4u64.pow(attempt - 1));
                std::thread::sleep(pause.min(self.time_left().unwrap_or_default()));
            }
            let Some(left) = self.time_left() else {
                let allowance = self.deadline.map_or(TIMEOUT, |(_, a)| a);
                let said = format!(
                    "Prometheus at {} did not answer within the {}s the run gives it",
                    self.shown,
                    allowance.as_secs_f64()
                );
                return Err(Error::Unreachable(said));
            };
            let headers = self.headers.iter().map(|(k, v)| (k.as_str(), v.clone()));
            let bearer = self.token.as_ref().map(|t| ("Authorization", format!("Bearer {t}")));
            let headers: Vec<(&str, String)> = bearer.into_iter().chain(headers).collect();
            // A long query (a thousand releases asked at once) goes in a form body, as
            // Prometheus's API allows: a URL that long is refused by proxies.
            let long = params.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() > LONGEST_URL;
            let sent = match long {
                false => {
                    let mut request = self.agent.get(&url).config().timeout_global(Some(left)).build();
                    for (k, v) in params {
                        request = request.query(*k, *v);
                    }
                    for (k, v) in &headers {
                        request = request.header(*k, v.as_str());
                    }
                    request.call()
                }
                true => {
                    let mut request = self.agent.post(&url).config().timeout_global(Some(left)).build();
                    for (k, v) in &headers {
                        request = request.header(*k, v.as_str());
                    }
                    request.send_form(params.iter().copied())
                }
            };
            let mut response = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = format!("Prometheus at {} cannot be reached: {}", self.shown, self.redact(&e.to_string()));
                    continue;
                }
            };
            let status = response.status().as_u16();
            let body = match response.body_mut().with_config().limit(LARGEST_ANSWER).read_to_string() {
                Ok(body) => body,
                // Not retried: the same question gets the same answer.
                Err(e) if status == 200 => {
                    return Err(Error::Unreachable(format!(
                        "{}: the answer could not be read whole (at most {} MiB are): {}",
                        self.shown,
                        LARGEST_ANSWER / (1024 * 1024),
                        self.redact(&e.to_string())
                    )));
                }
                Err(_) => String::new(),
            };
            let json: Option<Value> = serde_json::from_str(&body).ok();
            let said = json
                .as_ref()
                .and_then(|j| j["error"].as_str())
                .map_or_else(|| body.chars().take(200).collect::<String>(), str::to_string);
            // A server may echo the request (its Authorization header) in its error.
            let said = self.redact(&said);
            match status {
                200 => return parse(json.as_ref()).map_err(|why| Error::Unreachable(format!("{}: {why}", self.shown))),
                // Prometheus says 400 for a query it cannot parse, 422 for one it cannot run.
                400 | 422 => return Err(Error::Query(format!("Prometheus refused the query: {said}"))),
                401 | 403 => {
                    return Err(Error::Credentials(format!(
                        "Prometheus at {} refused the credentials (HTTP {status}): check KANARI_PROMETHEUS_TOKEN",
                        self.shown
                    )));
                }
                _ => last = format!("Prometheus at {} answered HTTP {status}: {said}", self.shown),
            }
        }
        Err(Error::Unreachable(format!("{last} (after {ATTEMPTS} attempts)")))
    }
}

/// An RFC 3339 time as Prometheus's unix seconds.
fn seconds(time: Timestamp) -> String {
    let ms = time.as_millisecond();
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// The `data.result` of a query answer: a vector, a matrix, or a scalar.
fn parse(json: Option<&Value>) -> Result<Vec<Series>, String> {
    let json = json.ok_or("the answer is not JSON")?;
    if json["status"] != "success" {
        return Err(format!("the answer's status is {}", json["status"]));
    }
    let data = &json["data"];
    let sample = |pair: &Value| -> Option<(f64, f64)> {
        let t = pair.get(0)?.as_f64()?;
        let v = pair.get(1)?.as_str()?.parse::<f64>().ok()?;
        Some((t, v))
    };
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("scalar") => Ok(vec![Series { labels: vec![], samples: sample(result).into_iter().collect() }]),
        Some("vector") | Some("matrix") => Ok(result
            .as_array()
            .ok_or("the result is not a list")?
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
                    .unwrap_or_default();
                let samples = match (&s["value"], s["values"].as_array()) {
                    (Value::Null, Some(values)) => values.iter().filter_map(sample).collect(),
                    (value, _) => sample(value).into_iter().collect(),
                };
                Series { labels, samples }
            })
            .collect()),
        other => Err(format!("the result type {other:?} is not one kanari reads")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_every_type_are_read() {
        let vector = serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"destination_workload": "reviews-v2"}, "value": [1700000000.5, "12.5"]}]}});
        let got = parse(Some(&vector)).unwrap();
        assert_eq!(got[0].label("destination_workload"), "reviews-v2");
        assert_eq!(got[0].samples, [(1700000000.5, 12.5)]);
        let matrix = serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {}, "values": [[1, "1"], [61, "NaN"], [121, "3"]]}]}});
        let got = parse(Some(&matrix)).unwrap();
        assert_eq!(got[0].samples.len(), 3);
        assert!(got[0].samples[1].1.is_nan());
        let scalar = serde_json::json!({"status": "success", "data": {"resultType": "scalar", "result": [5, "7"]}});
        assert_eq!(parse(Some(&scalar)).unwrap()[0].samples, [(5.0, 7.0)]);
        assert!(parse(Some(&serde_json::json!({"status": "error"}))).is_err());
    }

    #[test]
    fn times_are_unix_seconds_and_the_token_is_never_shown() {
        let t: Timestamp = "2026-03-01T10:00:00.250Z".parse().unwrap();
        assert_eq!(seconds(t), "1772359200.250");
        let c = Client::new("http://p:9090/", Some("s3cret".into()), vec![]);
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.base(), "http://p:9090");
    }

    #[test]
    fn an_answer_too_large_to_read_says_so() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // One connection: the head of a 200 answer promising more than the largest answer read,
        // then that much.
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = stream.read(&mut [0; 4096]);
            let size = LARGEST_ANSWER as usize + 1;
            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {size}\r\n\r\n");
            stream.write_all(head.as_bytes()).unwrap();
            let chunk = vec![b' '; 1 << 20];
            let mut left = size;
            while left > 0 {
                let n = left.min(chunk.len());
                if stream.write_all(&chunk[..n]).is_err() {
                    break;
                }
                left -= n;
            }
        });
        let c = Client::new(&format!("http://127.0.0.1:{port}"), None, vec![]);
        let got = c.instant("up", "2026-03-01T10:00:00Z".parse().unwrap());
        server.join().unwrap();
        let Err(Error::Unreachable(why)) = got else { panic!("{got:?}") };
        assert!(why.contains("the answer could not be read whole (at most 64 MiB are)"), "{why}");
    }

    #[test]
    fn a_password_in_the_url_and_an_echoed_header_are_never_shown() {
        let c = Client::new(
            "http://admin:PW-1@p:9090/",
            Some("s3cret".into()),
            vec![("X-Scope-OrgID".into(), "tenant-a".into())],
        );
        assert!(!format!("{c:?}").contains("PW-1"));
        let said =
            c.redact("bad auth: Authorization: Bearer s3cret; X-Scope-OrgID: tenant-a; via http://admin:PW-1@p:9090");
        assert_eq!(said, "bad auth: Authorization: Bearer ***; X-Scope-OrgID: ***; via http://p:9090");
    }
}

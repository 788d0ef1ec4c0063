//! Servers the tests start on 127.0.0.1: `git daemon`, and git's smart HTTP (`git http-backend`
//! behind a small CGI server that checks a token). Each stops with everything it started when it
//! is dropped, also when the test fails; every loop is bounded in count and time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// `git daemon` serving a folder on 127.0.0.1, receive-pack enabled. It runs in a process group
/// of its own (the `git` wrapper and the `git-daemon` it starts), and the whole group is killed
/// when this is dropped, also when the test fails.
pub struct Daemon {
    group: ProcessGroup,
    port: u16,
}

impl Daemon {
    pub fn serve(base: &Path) -> Daemon {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new(crate::tools::git_with("daemon"));
        cmd.args(["daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let group = ProcessGroup::spawn(cmd);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { group, port }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

/// A child started as the leader of a new process group; on drop, the whole group is killed
/// and the leader reaped, so nothing it started outlives the test.
pub struct ProcessGroup {
    child: Child,
}

impl ProcessGroup {
    pub fn spawn(mut cmd: Command) -> ProcessGroup {
        use std::os::unix::process::CommandExt;
        ProcessGroup { child: cmd.process_group(0).spawn().expect("failed to start a server") }
    }

    pub fn id(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.id()) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.child.wait();
    }
}

/// The processes of group `pgid` that are still alive (zombies, dead but not yet reaped by
/// init, do not count).
pub fn live_members(pgid: i32) -> Vec<String> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            live.push(head.to_string() + ")");
        }
    }
    live
}

/// git's smart HTTP on 127.0.0.1: each request runs `git http-backend` as CGI over the repositories
/// below `base`. A request must carry `Authorization: Basic base64(user:token)` (the scheme in
/// any case, as actions/checkout writes `AUTHORIZATION: basic ...` into `http.extraheader`), else
/// it is answered 401. Stopped when dropped; serves at most 2,000 requests and 5 minutes.
pub struct SmartHttp {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SmartHttp {
    pub fn serve(base: &Path, user: &str, token: &str) -> SmartHttp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let expected = base64(format!("{user}:{token}").as_bytes());
        let (base, stop_flag, count) = (base.to_path_buf(), stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            let mut workers = Vec::new();
            while !stop_flag.load(Ordering::SeqCst) && Instant::now() < deadline && count.load(Ordering::SeqCst) < 2000
            {
                match listener.accept() {
                    Ok((stream, _)) => {
                        count.fetch_add(1, Ordering::SeqCst);
                        let (base, expected) = (base.clone(), expected.clone());
                        workers.push(std::thread::spawn(move || {
                            let _ = handle(stream, &base, &expected);
                        }));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
            for worker in workers {
                let _ = worker.join();
            }
        });
        SmartHttp { port, stop, requests, thread: Some(thread) }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }

    /// How many requests it has answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The `http.extraheader` value that passes its check, as actions/checkout writes it.
    pub fn extraheader(user: &str, token: &str) -> String {
        format!("AUTHORIZATION: basic {}", base64(format!("{user}:{token}").as_bytes()))
    }
}

impl Drop for SmartHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one request (the connection is closed after it).
fn handle(stream: TcpStream, base: &Path, expected: &str) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("/").to_string());
    let mut headers = Vec::new();
    for _ in 0..200 {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let authorized = header("authorization")
        .and_then(|v| v.split_once(' ').map(|(scheme, creds)| (scheme.to_ascii_lowercase(), creds.trim().to_string())))
        .is_some_and(|(scheme, creds)| scheme == "basic" && creds == expected);
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        for _ in 0..100_000 {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    if !authorized {
        let text = "unauthorized\n";
        write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )?;
        return out.flush();
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new(crate::tools::git_with("http-backend"));
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", "/nonexistent/kanari-test-home")
        .env("GIT_PROJECT_ROOT", base)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", "ci")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(value) = header(name) {
            cgi.env(var, value);
        }
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output()?;
    let _ = feeder.join();
    let raw = output.stdout;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    let split = split.or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let (head, content) = match split {
        Some((i, n)) => (String::from_utf8_lossy(&raw[..i]).into_owned(), &raw[i + n..]),
        None => (String::new(), &raw[..]),
    };
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for h in head.lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some((k, v)) => response.push_str(&format!("{}: {}\r\n", k.trim(), v.trim())),
            None => {}
        }
    }
    write!(out, "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n", content.len())?;
    out.write_all(content)?;
    out.flush()
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_is_standard() {
    assert_eq!(base64(b"x-access-token:t0k"), "eC1hY2Nlc3MtdG9rZW46dDBr");
    assert_eq!(base64(b"ab"), "YWI=");
}

/// A test that fails when a server outlives its handle: `git daemon` runs as a child of the
/// `git` program, and killing that child alone once left the daemon running after every test.
#[test]
fn servers_stop_with_everything_they_started() {
    let base = tempfile::tempdir().unwrap();
    let daemon = Daemon::serve(base.path());
    let group = daemon.group.id();
    // The wrapper and the daemon it runs: the check can see what it checks.
    let deadline = Instant::now() + Duration::from_secs(10);
    while live_members(group).len() < 2 {
        assert!(Instant::now() < deadline, "git daemon's processes never showed: {:?}", live_members(group));
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(daemon);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !live_members(group).is_empty() {
        assert!(Instant::now() < deadline, "still running after the daemon was stopped: {:?}", live_members(group));
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback HTTP server that logs the head of every request it receives (request line and
/// headers, as sent) and answers each with what `respond` makes of that head (a whole HTTP
/// response; the connection is closed after it). It answers at most 200 requests in at most 2
/// minutes, and stops (its thread joined) when dropped, also when the test fails.
pub struct LoggingHttp {
    port: u16,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoggingHttp {
    pub fn serve(respond: impl Fn(&str) -> String + Send + 'static) -> LoggingHttp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (heads.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut answered = 0;
            while !stopped.load(Ordering::SeqCst) && Instant::now() < deadline && answered < 200 {
                match listener.accept() {
                    Ok((stream, _)) => {
                        answered += 1;
                        let _ = answer_one(stream, &respond, &log);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
        });
        LoggingHttp { port, heads, stop, thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The heads of the requests received so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for LoggingHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request's head (at most 200 lines), logs it, and writes what `respond` makes of it.
fn answer_one(
    stream: TcpStream,
    respond: &impl Fn(&str) -> String,
    log: &std::sync::Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = String::new();
    for _ in 0..200 {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        head.push_str(&line);
    }
    log.lock().unwrap().push(head.clone());
    let mut out = stream;
    out.write_all(respond(&head).as_bytes())?;
    out.flush()
}

//! A blocking HTTP GET to 127.0.0.1, for asking the test Prometheus: HTTP/1.0, so the answer
//! comes whole (no chunks) and the connection closes after it; every step has a timeout.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// An answer: the status code and the body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// `GET path` (with its query string, already encoded) from 127.0.0.1:`port`; an error when the
/// connection fails or the answer is not HTTP.
pub fn get(port: u16, path: &str, timeout: Duration) -> std::io::Result<Response> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw).map_err(|e| invalid(&format!("the answer is not UTF-8: {e}")))?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| invalid("the answer has no end of headers"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(&format!("no status in `{}`", head.lines().next().unwrap_or(""))))?;
    Ok(Response { status, body: body.to_string() })
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string())
}

/// `text` for a URL's query string: everything but RFC 3986's unreserved characters
/// percent-encoded.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

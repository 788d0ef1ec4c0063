//! The rules on single values of a spec, as pure functions: names (DNS labels, label keys,
//! stage names), hosts and gateways, header names, output paths and durations. The spec's
//! validation and the check of rendered overlays ([`crate::check`]) both ask these, so that a
//! rule has one answer. Imports nothing of kanari's.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// A DNS-1035 label: lowercase alphanumerics and `-`, starting with a letter, at most 63.
pub(crate) fn is_dns1035_label(s: &str) -> bool {
    s.len() <= 63 && s.starts_with(|c: char| c.is_ascii_lowercase()) && is_label_body(s)
}

/// A DNS-1123 label: lowercase alphanumerics and `-`, starting with one of them, at most 63.
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) && is_label_body(s)
}

fn is_label_body(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') && !s.ends_with('-')
}

/// A label name, or the name part of a label key: at most 63 alphanumerics, `-`, `_` and `.`,
/// starting and ending with an alphanumeric.
pub(crate) fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// What a label key must be, as problems say it after `is not valid: `.
pub(crate) const LABEL_KEY_RULE: &str =
    "a DNS-1123 prefix and `/`, then at most 63 characters of alphanumerics, `-`, `_` and `.`";

/// A Kubernetes label key: an optional DNS-1123 subdomain prefix and `/`, then a label name
/// ([`LABEL_KEY_RULE`]).
pub(crate) fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    }
}

/// A Kubernetes label value: empty, or a label name.
pub(crate) fn is_label_value(v: &str) -> bool {
    v.is_empty() || is_label_name(v)
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub(crate) fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// A VirtualService host: a lowercase DNS name, optionally starting with `*.`, or `*`.
pub(crate) fn is_host(s: &str) -> bool {
    let rest = s.strip_prefix("*.").unwrap_or(s);
    s == "*" || is_dns1123_subdomain(rest)
}

/// Whether two VirtualService hosts match a common name: equal, or one a wildcard over the other.
pub(crate) fn hosts_overlap(a: &str, b: &str) -> bool {
    let covers = |wild: &str, host: &str| match wild.strip_prefix('*') {
        Some("") => true,
        Some(suffix) => host.ends_with(suffix) || host == &suffix[1..],
        None => false,
    };
    a == b || covers(a, b) || covers(b, a)
}

/// Whether a route bound to `gateways` serves the sidecars: it names no gateway, or `mesh`.
pub(crate) fn binds_mesh<'a>(gateways: impl IntoIterator<Item = &'a str>) -> bool {
    let mut gateways = gateways.into_iter().peekable();
    gateways.peek().is_none() || gateways.any(|g| g == "mesh")
}

/// Why Istio's admission refuses a host of a VirtualService.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostRefusal<'a> {
    /// `*` on a route that serves the sidecars ([`binds_mesh`]).
    WildcardOnMesh,
    /// The host matches a name in common with this host listed before it ([`hosts_overlap`]):
    /// the same host, or a wildcard over or under it.
    Overlaps(&'a str),
}

/// Istio's admission rules for one host of a VirtualService, given the hosts listed before it
/// and whether the route serves the sidecars: `*` only on routes bound to gateways other than
/// the mesh, and a name matched by one host only. The refusals in that order.
pub(crate) fn host_refusals<'a>(
    host: &str,
    before: impl IntoIterator<Item = &'a str>,
    mesh: bool,
) -> Vec<HostRefusal<'a>> {
    let mut refusals = Vec::new();
    if host == "*" && mesh {
        refusals.push(HostRefusal::WildcardOnMesh);
    }
    if let Some(other) = before.into_iter().find(|other| hosts_overlap(other, host)) {
        refusals.push(HostRefusal::Overlaps(other));
    }
    refusals
}

/// A gateway a VirtualService binds to: `NAME` or `NAMESPACE/NAME` (`mesh` is a name too).
pub(crate) fn is_gateway(s: &str) -> bool {
    match s.split_once('/') {
        Some((ns, name)) => is_dns1123_label(ns) && is_dns1123_subdomain(name),
        None => is_dns1123_subdomain(s),
    }
}

pub(super) fn is_image(s: &str) -> bool {
    !s.is_empty() && s.len() <= 1024 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub(super) fn is_stage_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub(super) fn is_http_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header name Istio refuses to match on; its `Display` is what is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadHeaderName<'a>(pub &'a str);

impl std::fmt::Display for BadHeaderName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.0;
        write!(f, "header name `{name}` must be a lowercase HTTP token (a-z, 0-9 and !#$%&'*+-.^_`|~)")?;
        if name.starts_with(':') {
            write!(f, "; `{name}` is an HTTP/2 pseudo-header, which a header match does not take")?;
        }
        Ok(())
    }
}

/// A header name Istio matches on: a lowercase HTTP token.
pub(crate) fn check_header_name(name: &str) -> Result<(), BadHeaderName<'_>> {
    match is_http_token(name) && !name.bytes().any(|b| b.is_ascii_uppercase()) {
        true => Ok(()),
        false => Err(BadHeaderName(name)),
    }
}

pub(super) fn is_cookie_value(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && !matches!(b, b'"' | b',' | b';' | b'\\'))
}

/// Checks a repository-relative output path and returns it normalized.
pub(crate) fn check_output_path(text: &str) -> std::result::Result<PathBuf, &'static str> {
    if text.is_empty() {
        return Err("is empty");
    }
    if text.contains('\\') || text.contains('\0') {
        return Err("must use `/` between folders and hold no backslash or NUL");
    }
    let path = Path::new(text);
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => {
                if part.eq_ignore_ascii_case(".git") {
                    return Err("may not be inside `.git`");
                }
                normal.push(part);
            }
            Component::CurDir => {}
            Component::ParentDir => return Err("may not contain `..`: the output stays inside the repository"),
            Component::RootDir | Component::Prefix(_) => return Err("must be relative to the repository root"),
        }
    }
    if normal.as_os_str().is_empty() {
        return Err("names the repository root itself; give a folder inside it");
    }
    Ok(normal)
}

/// The Service a route's destination `host` names, as `(name, namespace)`, for a route of an
/// object in `namespace`: a short name (`reviews`) is the Service in that namespace, and
/// `reviews.bookinfo`, `reviews.bookinfo.svc` and `reviews.bookinfo.svc.cluster.local` name
/// the Service of another; any other host (`api.example.com`) names no Service, `None`. The one
/// rule by which the spec, the check and the review tell the release's routes from others.
pub(crate) fn service_of<'a>(host: &'a str, namespace: &'a str) -> Option<(&'a str, &'a str)> {
    let parts: Vec<&str> = host.split('.').collect();
    match parts[..] {
        [name] => Some((name, namespace)),
        [name, ns] | [name, ns, "svc"] | [name, ns, "svc", "cluster", "local"] => Some((name, ns)),
        _ => None,
    }
}

/// Parses a duration such as `30m`, `1h30m`, `45s` or `2d`.
pub(crate) fn parse_duration(text: &str) -> std::result::Result<Duration, &'static str> {
    const WHY: &str = "must be a duration such as `30m`, `1h30m`, `45s` or `2d`";
    if text.is_empty() {
        return Err(WHY);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(WHY),
        };
        let n: u64 = digits.parse().map_err(|_| WHY)?;
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or("is too long")?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(WHY);
    }
    if total > 366 * 86_400 {
        return Err("is longer than a year");
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way specs write it: `1h30m`, `45s`, `0s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out
}

/// The folder a release writes to when its spec names none.
pub(super) fn default_output(namespace: &str, name: &str) -> PathBuf {
    PathBuf::from("overlays").join(namespace).join(name)
}

/// A path compared without case: on a case-insensitive filesystem `Overlays/a` holds
/// `overlays/a/b`.
pub(super) fn folded(path: &Path) -> PathBuf {
    PathBuf::from(path.to_string_lossy().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for (text, secs) in [("30m", 1800), ("1h30m", 5400), ("45s", 45), ("2d", 172_800), ("0s", 0)] {
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(secs)), "{text}");
            assert_eq!(format_duration(Duration::from_secs(secs)), text);
        }
        for bad in ["", "30", "m", "1.5h", "-1m", "1y", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(is_dns1035_label("reviews"));
        assert!(!is_dns1035_label("1reviews"));
        assert!(!is_dns1035_label("reviews-"));
        assert!(is_dns1123_label("1a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_host("*.example.com"));
        assert!(!is_host("Example.com"));
        assert!(is_gateway("istio-system/ingress"));
        assert!(!is_gateway("a/b/c"));
        assert!(check_header_name("x-user").is_ok());
        assert_eq!(
            check_header_name(":authority").unwrap_err().to_string(),
            "header name `:authority` must be a lowercase HTTP token (a-z, 0-9 and !#$%&'*+-.^_`|~); `:authority` is an HTTP/2 pseudo-header, which a header match does not take"
        );
    }

    #[test]
    fn host_refusals_follow_istio_admission() {
        use HostRefusal::*;
        assert!(binds_mesh([]));
        assert!(binds_mesh(["istio-system/ingress", "mesh"]));
        assert!(!binds_mesh(["istio-system/ingress"]));
        assert_eq!(host_refusals("*", [], true), [WildcardOnMesh]);
        assert_eq!(host_refusals("*", [], false), []);
        assert_eq!(host_refusals("b.a.com", ["web", "*.a.com"], false), [Overlaps("*.a.com")]);
        assert_eq!(host_refusals("*", ["web"], true), [WildcardOnMesh, Overlaps("web")]);
        assert_eq!(host_refusals("web", ["shop"], true), []);
    }
}

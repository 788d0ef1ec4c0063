//! `spec.router`: which resources carry a release's routes, `istio` (a DestinationRule and a
//! VirtualService, the default) or `gateway-api` (an `HTTPRoute` over one Service per version),
//! and what the Gateway API router accepts of the rest of the spec. Like all of `spec`, it
//! imports no later step of the pipeline.
//!
//! With `gateway-api`, decided here:
//! - `gateways` become the route's `parentRefs`: `NAMESPACE/NAME` or `NAME` a Gateway (or an
//!   object naming one listener of it, `{name, namespace, sectionName, port}`, see `parents`), and
//!   `mesh` (or no gateways at all) the release's own Service at the routed port, as GAMMA
//!   attaches a route to the mesh;
//! - `hosts` become the route's `hostnames`. Only a Gateway's listeners read them (a Service
//!   parent ignores them), so hosts need a Gateway among the gateways; `*` is not a Gateway API
//!   hostname (leave `hosts` out to take every host of the listener); at most
//!   [`MAX_HOSTNAMES`], as the HTTPRoute's schema says, and at most [`MAX_PARENT_REFS`] parents;
//! - a header `prefix` becomes a `RegularExpression` ([`header_prefix_regex`]), and an `exact`
//!   header value cannot be empty (the schema's `minLength: 1`);
//! - a `uri` `exact` or `prefix` becomes a path `Exact` or `PathPrefix`, which must be a path
//!   the schema accepts ([`path_refusal`]). `PathPrefix` matches whole path segments (`/api`
//!   takes `/api` and `/api/v1`, not `/apis`), where Istio's `prefix` compares characters;
//!   a `regex` passes through as `RegularExpression`.

use std::collections::BTreeSet;

use super::raw::{RawSpec, RawStringMatch};
use super::validate::Validator;
use super::{Router, rules::binds_mesh};

/// The value of `spec.router` that selects the Gateway API.
pub(crate) const GATEWAY_API: &str = "gateway-api";
/// An HTTPRoute has at most this many `hostnames`.
pub(crate) const MAX_HOSTNAMES: usize = 16;
/// An HTTPRoute has at most this many `parentRefs`.
pub(crate) const MAX_PARENT_REFS: usize = 32;

/// A header prefix match as a Gateway API `RegularExpression`. Envoy matches a header regex
/// against the whole value, so the escaped prefix is followed by `.*`.
pub(crate) fn header_prefix_regex(prefix: &str) -> String {
    format!("^{}.*", regex::escape(prefix))
}

/// Why `path` is not a Gateway API `Exact` or `PathPrefix` path, as the HTTPRoute schema's
/// rules say; `None` when it is one.
pub(crate) fn path_refusal(path: &str) -> Option<&'static str> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || "-/._~!$&'()*+,;=:@%".contains(c);
    let percent_ok = path
        .match_indices('%')
        .all(|(i, _)| path.get(i + 1..i + 3).is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())));
    if !path.starts_with('/') {
        Some("must start with `/`")
    } else if path.len() > 1024 {
        Some("must be at most 1024 characters")
    } else if !path.chars().all(valid_char) || !percent_ok {
        Some("may hold only a path's characters (letters, digits, `-/._~!$&'()*+,;=:@` and `%` escapes)")
    } else if path.contains("//") || path.contains("/./") || path.contains("/../") {
        Some("may not contain `//`, `/./` or `/../`")
    } else if path.to_ascii_lowercase().contains("%2f") {
        Some("may not contain `%2f`")
    } else if path.ends_with("/..") || path.ends_with("/.") {
        Some("may not end with `/.` or `/..`")
    } else {
        None
    }
}

impl Validator<'_> {
    /// `spec.router` (default `istio`), and with `gateway-api` the rules above.
    pub(super) fn router(&mut self, spec: &RawSpec) -> Router {
        let Some(router) = &spec.router else { return Router::Istio };
        match router.value.as_str() {
            "istio" => return Router::Istio,
            GATEWAY_API => {}
            other => {
                self.problem(router, format!("router `{other}` must be `istio` or `{GATEWAY_API}`"));
                return Router::Istio;
            }
        }
        let gateways = spec.gateways.as_deref().unwrap_or_default();
        let references: Vec<String> = gateways.iter().map(|g| g.value.reference()).collect();
        let named: BTreeSet<&str> = references.iter().map(String::as_str).filter(|g| *g != "mesh").collect();
        let parents = named.len() + usize::from(binds_mesh(references.iter().map(String::as_str)));
        if parents > MAX_PARENT_REFS {
            let at = &gateways[MAX_PARENT_REFS.min(gateways.len() - 1)];
            self.problem(at, format!("an HTTPRoute has at most {MAX_PARENT_REFS} parents (gateways and the mesh)"));
        }
        let hosts = spec.hosts.as_deref().unwrap_or_default();
        if let Some(first) = hosts.first().filter(|_| named.is_empty()) {
            self.problem(
                first,
                "with `router: gateway-api` hosts become the HTTPRoute's hostnames, which only a Gateway reads: list a Gateway under `gateways`, or leave `hosts` out",
            );
        }
        for h in hosts.iter().filter(|h| h.value == "*") {
            self.problem(h, "host `*` is not a Gateway API hostname: leave `hosts` out to take every host the Gateway's listeners take");
        }
        if hosts.len() > MAX_HOSTNAMES {
            self.problem(&hosts[MAX_HOSTNAMES], format!("an HTTPRoute has at most {MAX_HOSTNAMES} hostnames"));
        }
        for stage in &spec.stages {
            for m in &stage.value.matches {
                let mut headers: Vec<_> = m.value.headers.iter().flatten().collect();
                headers.sort_by(|a, b| a.0.value.cmp(&b.0.value));
                for (name, sm) in headers {
                    self.gateway_header(&name.value, &sm.value);
                }
                if let Some(uri) = &m.value.uri {
                    for (kind, path) in [("exact", &uri.value.exact), ("prefix", &uri.value.prefix)] {
                        let Some(path) = path else { continue };
                        if let Some(why) = path_refusal(&path.value) {
                            self.problem(path, format!("uri {kind} `{}` {why}, as a Gateway API path", path.value));
                        }
                    }
                }
            }
        }
        Router::GatewayApi { hostnames: hosts.iter().map(|h| h.value.clone()).collect() }
    }

    /// A header match as the HTTPRoute takes it: an exact value not empty, a prefix whose
    /// regex RE2 reads.
    fn gateway_header(&mut self, name: &str, sm: &RawStringMatch) {
        if let Some(exact) = sm.exact.as_ref().filter(|e| e.value.is_empty()) {
            self.problem(exact, format!("header `{name}`: a Gateway API header match needs a value; use `regex: ''`"));
        }
        if let Some(prefix) = &sm.prefix
            && let Err(why) = crate::re2::check(&header_prefix_regex(&prefix.value))
        {
            self.problem(prefix, format!("header `{name}`: the prefix as a Gateway API regex: {why}"));
        }
        for value in [&sm.exact, &sm.prefix, &sm.regex].into_iter().flatten() {
            self.check(value, value.value.len() <= 4096, || {
                format!("header `{name}`: a Gateway API header value is at most 4096 characters")
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::parse_file;

    const BASE: &str = crate::spec::table::GATEWAY_BASE;

    #[test]
    fn the_router_and_its_hostnames() {
        let (found, problems) = parse_file(Path::new("c.yaml"), BASE);
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(found[0].router, Router::GatewayApi { hostnames: vec![] });
        let with_hosts =
            BASE.replace("  service:", "  gateways: [ingress/public, mesh]\n  hosts: [web.example.com]\n  service:");
        let (found, problems) = parse_file(Path::new("c.yaml"), &with_hosts);
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(found[0].router, Router::GatewayApi { hostnames: vec!["web.example.com".into()] });
        let (found, _) = parse_file(Path::new("c.yaml"), &BASE.replace("  router: gateway-api\n", ""));
        assert_eq!(found[0].router, Router::Istio);
    }

    #[test]
    fn gateway_api_rules_report_their_place() {
        // (replace this text of BASE, with this, expect a problem containing, at line:column)
        let table: &[(&str, &str, &str, &str)] = &[
            ("router: gateway-api", "router: linkerd", "must be `istio` or `gateway-api`", "5:11"),
            ("  service:", "  hosts: [web.example.com]\n  service:", "only a Gateway reads", "6:11"),
            (
                "  service:",
                "  gateways: [mesh]\n  hosts: [web.example.com]\n  service:",
                "only a Gateway reads",
                "7:11",
            ),
            (
                "  service:",
                "  gateways: [ingress/public]\n  hosts: [\"*\"]\n  service:",
                "not a Gateway API hostname",
                "7:11",
            ),
            ("weight: 10", "weight: 10\n      match: [{uri: {prefix: api}}]", "must start with `/`", "12:30"),
            ("weight: 10", "weight: 10\n      match: [{uri: {exact: /a//b}}]", "may not contain `//`", "12:29"),
            ("weight: 10", "weight: 10\n      match: [{uri: {exact: '/a%2Fb'}}]", "`%2f`", "12:29"),
            ("weight: 10", "weight: 10\n      match: [{uri: {prefix: '/a b'}}]", "a path's characters", "12:30"),
            ("weight: 10", "weight: 10\n      match: [{headers: {x: {exact: ''}}}]", "needs a value", "12:37"),
        ];
        crate::spec::table::check(BASE, table);
    }

    #[test]
    fn a_header_prefix_is_a_regex_over_the_whole_value() {
        let re = regex::Regex::new(&format!("^(?:{})$", header_prefix_regex("a.b"))).unwrap();
        assert!(re.is_match("a.b") && re.is_match("a.bcd"));
        assert!(!re.is_match("axb") && !re.is_match("xa.b"));
        assert!(crate::re2::check(&header_prefix_regex("a+b(c)")).is_ok());
    }

    #[test]
    fn paths_as_gateway_api_reads_them() {
        for ok in ["/", "/api", "/api/", "/a%20b", "/a:b@c"] {
            assert_eq!(path_refusal(ok), None, "{ok}");
        }
        for bad in ["api", "/a//b", "/a/./b", "/a/../b", "/a%2fb", "/a/..", "/a/.", "/a#b", "/a%zz", "/a?b"] {
            assert!(path_refusal(bad).is_some(), "{bad}");
        }
    }
}

//! The Gateway API `HTTPRoute`, checked as its schema and Istio would take it: parents that are
//! Gateways or Services, hostnames that are Gateway API hostnames, and per rule: matches with
//! valid header names, `Exact` or `RegularExpression` header values that are not empty, paths
//! the schema accepts ([`crate::spec::path_refusal`]), regexes RE2 reads as written; backends
//! that each name a Service the overlay defines, on a port, with weights not negative and not
//! all zero.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{At, regex};
use crate::spec::{MAX_HOSTNAMES, MAX_PARENT_REFS, check_header_name, is_host, path_refusal};

/// Checks one HTTPRoute; `services` are the names of the overlay's Services.
pub(super) fn http_route(at: &mut At, doc: &Value, services: &BTreeSet<String>) {
    let spec = &doc["spec"];
    let parents = spec["parentRefs"].as_array().cloned().unwrap_or_default();
    if parents.is_empty() {
        at.problem("spec", "an HTTPRoute needs at least one parentRef".into());
    }
    if parents.len() > MAX_PARENT_REFS {
        at.problem("parentRefs", format!("an HTTPRoute has at most {MAX_PARENT_REFS} parentRefs"));
    }
    for p in &parents {
        let (kind, name) = (p["kind"].as_str().unwrap_or("Gateway"), p["name"].as_str().unwrap_or_default());
        if !["Gateway", "Service"].contains(&kind) || name.is_empty() {
            at.problem("parentRefs", format!("parentRef `{kind}` `{name}` is neither a named Gateway nor a Service"));
        }
    }
    let hostnames: Vec<&str> = spec["hostnames"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if hostnames.len() > MAX_HOSTNAMES {
        at.problem("hostnames", format!("an HTTPRoute has at most {MAX_HOSTNAMES} hostnames"));
    }
    for h in hostnames.iter().filter(|h| **h == "*" || !is_host(h)) {
        at.problem(h, format!("hostname `{h}` is not a Gateway API hostname"));
    }
    let rules = spec["rules"].as_array().cloned().unwrap_or_default();
    if rules.is_empty() {
        at.problem("spec", "an HTTPRoute needs at least one rule".into());
    }
    for (i, rule) in rules.iter().enumerate() {
        let label = format!("rule {}", i + 1);
        for m in rule["matches"].as_array().into_iter().flatten() {
            for h in m["headers"].as_array().into_iter().flatten() {
                let name = h["name"].as_str().unwrap_or_default();
                if let Err(why) = check_header_name(name) {
                    at.problem_at_key(name, why.to_string());
                }
                let value = h["value"].as_str().unwrap_or_default();
                match h["type"].as_str().unwrap_or("Exact") {
                    _ if value.is_empty() => at.problem(name, format!("header `{name}`: a match needs a value")),
                    "Exact" => {}
                    "RegularExpression" => regex(at, value, &format!("header `{name}`")),
                    other => {
                        at.problem(name, format!("header `{name}`: type `{other}` is not Exact or RegularExpression"))
                    }
                }
            }
            if let Some(path) = m.get("path") {
                let value = path["value"].as_str().unwrap_or("/");
                match path["type"].as_str().unwrap_or("PathPrefix") {
                    "RegularExpression" => regex(at, value, "path"),
                    kind @ ("Exact" | "PathPrefix") => {
                        if let Some(why) = path_refusal(value) {
                            at.problem(value, format!("path {kind} `{value}` {why}"));
                        }
                    }
                    other => {
                        at.problem("path", format!("path type `{other}` is not Exact, PathPrefix or RegularExpression"))
                    }
                }
            }
        }
        let backends = rule["backendRefs"].as_array().cloned().unwrap_or_default();
        if backends.is_empty() {
            at.problem("rules", format!("{label} has no backendRef"));
        }
        let weights: Vec<i64> = backends.iter().map(|b| b["weight"].as_i64().unwrap_or(1)).collect();
        if weights.iter().any(|w| *w < 0) {
            at.problem("weight: -", format!("{label} has a negative weight"));
        }
        if !backends.is_empty() && weights.iter().all(|w| *w == 0) {
            at.problem("weight: 0", format!("{label}'s weights are all zero: Gateway API answers 500"));
        }
        for b in &backends {
            let name = b["name"].as_str().unwrap_or_default();
            let kind = b["kind"].as_str().unwrap_or("Service");
            if kind != "Service" || !services.contains(name) {
                at.problem(
                    &format!("name: {name}"),
                    format!(
                        "{label} sends to `{name}`, which is not a Service the overlay defines: Istio would answer 500"
                    ),
                );
            }
            if b["port"].as_u64().is_none() {
                at.problem(&format!("name: {name}"), format!("{label}'s backend `{name}` needs a port"));
            }
        }
        // A mirror: to a Service of the overlay, at most every request.
        for filter in rule["filters"].as_array().into_iter().flatten().filter(|f| f["type"] == "RequestMirror") {
            let mirror = &filter["requestMirror"];
            let name = mirror["backendRef"]["name"].as_str().unwrap_or_default();
            if !services.contains(name) {
                at.problem(
                    "type: RequestMirror",
                    format!("{label} mirrors to `{name}`, which is not a Service the overlay defines"),
                );
            }
            if mirror["percent"].as_i64().is_some_and(|p| !(0..=100).contains(&p)) {
                at.problem("percent:", format!("{label}'s mirror percent must be from 0 to 100"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::messages;

    const SERVICES: &str =
        "apiVersion: v1\nkind: Service\nmetadata: {name: web-v1}\nspec: {selector: {app: web, version: v1}}\n---\n";

    fn route(rules: &str) -> String {
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: web, namespace: shop}}\nspec:\n  parentRefs: [{{group: '', kind: Service, name: web, port: 80}}]\n  rules:\n{rules}"
        )
    }

    fn service(name: &str) -> String {
        SERVICES.replace("web-v1", name).trim_end_matches("---\n").to_string()
    }

    #[test]
    fn http_route_rules() {
        let (v1, v2) = (service("web-v1"), service("web-v2"));
        let good = route(
            "    - matches: [{headers: [{name: end-user, type: Exact, value: j}], path: {type: PathPrefix, value: /a}}]\n      backendRefs: [{name: web-v2, port: 80}]\n    - backendRefs:\n        - {name: web-v1, port: 80, weight: 90}\n        - {name: web-v2, port: 80, weight: 10}\n",
        );
        let found = |r: &str| messages(&[("s1.yaml", &v1), ("s2.yaml", &v2), ("r.yaml", r)]);
        assert_eq!(found(&good), Vec::<String>::new());
        // (a broken rules section, what the problem says)
        let table = [
            ("    - backendRefs: [{name: web-v9, port: 80}]\n", "`web-v9`, which is not a Service the overlay defines"),
            ("    - backendRefs: [{name: web-v1}]\n", "needs a port"),
            (
                "    - backendRefs:\n        - {name: web-v1, port: 80, weight: 0}\n        - {name: web-v2, port: 80, weight: 0}\n",
                "all zero",
            ),
            ("    - backendRefs:\n        - {name: web-v1, port: 80, weight: -1}\n", "negative"),
            (
                "    - matches: [{headers: [{name: End-User, value: a}]}]\n      backendRefs: [{name: web-v1, port: 80}]\n",
                "lowercase HTTP token",
            ),
            (
                "    - matches: [{headers: [{name: x, type: RegularExpression, value: 'a(('}]}]\n      backendRefs: [{name: web-v1, port: 80}]\n",
                "does not compile",
            ),
            (
                "    - matches: [{path: {type: PathPrefix, value: api}}]\n      backendRefs: [{name: web-v1, port: 80}]\n",
                "must start with `/`",
            ),
            (
                "    - matches: [{path: {type: RegularExpression, value: '[a-z&&[^a]]'}}]\n      backendRefs: [{name: web-v1, port: 80}]\n",
                "RE2",
            ),
            (
                "    - matches: [{headers: [{name: x, type: Exact, value: ''}]}]\n      backendRefs: [{name: web-v1, port: 80}]\n",
                "needs a value",
            ),
            (
                "    - backendRefs: [{name: web-v1, port: 80}]\n      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: web-v9, port: 80}, percent: 20}}]\n",
                "mirrors to `web-v9`",
            ),
            (
                "    - backendRefs: [{name: web-v1, port: 80}]\n      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: web-v2, port: 80}, percent: 120}}]\n",
                "mirror percent must be from 0 to 100",
            ),
        ];
        for (rules, expected) in table {
            let problems = found(&route(rules));
            assert!(problems.iter().any(|m| m.contains(expected)), "{expected}: {problems:?}");
        }
        let missing = found(&route("    - backendRefs: [{name: web-v9, port: 80}]\n"));
        assert!(missing[0].starts_with("7:"), "the line of `name: web-v9`: {missing:?}");
        let hosts = good.replace("  rules:", "  hostnames: [\"*\"]\n  rules:");
        assert!(found(&hosts).iter().any(|m| m.contains("not a Gateway API hostname")));
    }
}

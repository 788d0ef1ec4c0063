//! The Gateway API router's part of a plan (`spec.router: gateway-api`): one Service per version
//! and an `HTTPRoute` whose backends are those Services. Pure, like all of `plan`.
//!
//! The routes themselves are decided once, for both routers: a plan's [`super::DestinationRulePlan`]
//! says which versions are defined and its [`super::VirtualServicePlan`] which take traffic (the
//! release's rules read them), and this module turns them into the HTTPRoute's terms: a version
//! is defined by its Service, routed by a `backendRef` to it. The HTTPRoute has the stage's
//! matches as a rule before the catch-all rule that carries the weights; Gateway API orders rules
//! by how specific their matches are, and every match rule has a header or a path the catch-all
//! (which matches every path) lacks, so the match rule wins as the VirtualService's first rule does.
//!
//! Every backend, mirror and mesh parent names the release's routed port (the first Service port);
//! a Gateway parent carries the spec's `sectionName` and `port`. [`GATEWAY_API_FIELDS`] is the
//! Gateway API release each rendered field needs, which `lint` holds `spec.gatewayAPIVersion` to.

use serde::Serialize;
use serde_json::{Value, json};

use super::{VersionPlan, VirtualServicePlan};
use crate::spec::{self, Canary, Router, StringMatch, header_prefix_regex};

/// The Services and the HTTPRoute of one state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GatewayPlan {
    /// One Service per version the state runs, named as its Deployment.
    pub services: Vec<VersionService>,
    pub route: HttpRoutePlan,
}

/// A Service that selects one version's pods (labels `app` and `version`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionService {
    pub name: String,
    pub version: String,
    pub ports: Vec<super::PortPlan>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HttpRoutePlan {
    pub name: String,
    pub parents: Vec<ParentRef>,
    /// `spec.hosts` as written; none when the spec gives none.
    pub hostnames: Vec<String>,
    /// The port of every backend: the release's routed Service port.
    pub port: u16,
    /// The first rule: requests matching any entry go to `backend`.
    pub match_rule: Option<MatchRule>,
    /// The catch-all rule's backends, weights summing to 100.
    pub backends: Vec<Backend>,
    /// A mirror stage's copy of the catch-all rule's requests (a `RequestMirror` filter).
    pub mirror: Option<RouteMirror>,
}

/// A `RequestMirror` filter: `percent` of the requests copied to `backend`, responses dropped;
/// with `matches`, on a rule of their own before the catch-all rule, of the requests that match.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteMirror {
    pub backend: String,
    pub percent: u32,
    /// Gateway API `HTTPRouteMatch`es, one per match entry; empty: every request.
    pub matches: Vec<Value>,
}

/// A `parentRef`: a Gateway, or the release's own Service (the mesh, GAMMA).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParentRef {
    pub group: &'static str,
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
    /// A Gateway's listener, by name.
    pub section_name: Option<String>,
    /// The Service's port (the mesh), or a Gateway's listeners' port.
    pub port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatchRule {
    pub backend: String,
    /// Gateway API `HTTPRouteMatch`es, one per match entry.
    pub matches: Vec<Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Backend {
    pub name: String,
    pub version: String,
    pub weight: u32,
}

/// A field kanari renders into an HTTPRoute and the Gateway API release whose standard channel
/// first has it: `lint` warns when a stage renders one newer than `spec.gatewayAPIVersion`.
/// `docs/gateway-api.md` prints this table; a test holds the two to the same rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ApiField {
    /// The field as the Gateway API reference names it.
    pub field: &'static str,
    pub since: spec::ApiVersion,
    /// What an older release does with it.
    pub older: &'static str,
}

/// Every field kanari renders, with the first Gateway API release that has it in its standard
/// channel (`gateway.networking.k8s.io/v1`).
pub(crate) const GATEWAY_API_FIELDS: [ApiField; 5] = [
    ApiField {
        field: "HTTPRoute",
        since: (1, 0, 0),
        older: "no `gateway.networking.k8s.io/v1` HTTPRoute: the route is refused",
    },
    ApiField { field: "parentRefs.sectionName", since: (1, 0, 0), older: "-" },
    ApiField {
        field: "parentRefs (kind: Service)",
        since: (1, 1, 0),
        older: "a Service parent (the mesh, GAMMA) is experimental: the route is not attached",
    },
    ApiField {
        field: "parentRefs.port",
        since: (1, 1, 0),
        older: "experimental: the standard CRDs drop the field and the route attaches to every listener",
    },
    ApiField {
        field: "RequestMirror.percent",
        since: (1, 3, 0),
        older: "experimental in v1.2: the standard CRDs drop the field, the mirror copies every request, and Argo CD shows the route out of sync forever",
    },
];

/// The fields of [`GATEWAY_API_FIELDS`] a route renders.
pub(crate) fn fields_of(route: &HttpRoutePlan) -> Vec<&'static ApiField> {
    let field = |name: &str| GATEWAY_API_FIELDS.iter().find(|f| f.field == name).expect("a field of the table");
    let mut out = vec![field("HTTPRoute")];
    if route.parents.iter().any(|p| p.section_name.is_some()) {
        out.push(field("parentRefs.sectionName"));
    }
    if route.parents.iter().any(|p| p.kind == "Service") {
        out.push(field("parentRefs (kind: Service)"));
    }
    if route.parents.iter().any(|p| p.port.is_some()) {
        out.push(field("parentRefs.port"));
    }
    if route.mirror.is_some() {
        out.push(field("RequestMirror.percent"));
    }
    out
}

/// `v1.3.0`.
pub(crate) fn version_text((major, minor, patch): spec::ApiVersion) -> String {
    format!("v{major}.{minor}.{patch}")
}

/// The Gateway API objects of a plan whose versions and routes are given; `None` with Istio.
pub(super) fn plan(
    canary: &Canary,
    versions: &[VersionPlan],
    routes: &VirtualServicePlan,
    matches: &[spec::Match],
    mirror_matches: &[spec::Match],
) -> Option<GatewayPlan> {
    let Router::GatewayApi { hostnames } = &canary.router else { return None };
    let port = canary.service.routed().port;
    // Every routed subset is a version the plan runs; the subset itself stands in otherwise.
    let of = |subset: &str| versions.iter().find(|v| v.name == subset);
    let service_of = |subset: &str| of(subset).map_or_else(|| subset.to_string(), |v| v.deployment.clone());
    let version_of = |subset: &str| of(subset).map_or_else(|| subset.to_string(), |v| v.version.clone());
    let references: Vec<String> = canary.gateways.iter().map(spec::Gateway::reference).collect();
    let mesh = spec::binds_mesh(references.iter().map(String::as_str));
    let mut parents: Vec<ParentRef> = canary
        .gateways
        .iter()
        .filter(|g| g.reference() != "mesh")
        .map(|g| ParentRef {
            group: "gateway.networking.k8s.io",
            kind: "Gateway",
            namespace: g.namespace.clone(),
            name: g.name.clone(),
            section_name: g.section_name.clone(),
            port: g.port,
        })
        .collect();
    if mesh {
        parents.push(ParentRef {
            group: "",
            kind: "Service",
            namespace: None,
            name: canary.name.clone(),
            section_name: None,
            port: Some(port),
        });
    }
    let match_rule = routes
        .match_route
        .as_ref()
        .map(|m| MatchRule { backend: service_of(&m.subset), matches: matches.iter().map(gateway_match).collect() });
    let backends = routes
        .weights
        .iter()
        .map(|w| Backend { name: service_of(&w.subset), version: version_of(&w.subset), weight: w.weight })
        .collect();
    let mirror = routes.mirror.as_ref().map(|m| RouteMirror {
        backend: service_of(&m.subset),
        percent: m.percent,
        matches: mirror_matches.iter().map(gateway_match).collect(),
    });
    Some(GatewayPlan {
        services: versions
            .iter()
            .map(|v| VersionService {
                name: v.deployment.clone(),
                version: v.version.clone(),
                ports: super::port_plans(canary),
            })
            .collect(),
        route: HttpRoutePlan {
            name: canary.name.clone(),
            parents,
            hostnames: hostnames.clone(),
            port,
            match_rule,
            backends,
            mirror,
        },
    })
}

/// One match entry as a Gateway API `HTTPRouteMatch`: headers `Exact` or `RegularExpression`
/// (a prefix as [`header_prefix_regex`], a cookie as [`spec::Cookie::header_regex`] on the
/// `cookie` header), the uri as a path `Exact`, `PathPrefix` or `RegularExpression`.
pub(crate) fn gateway_match(m: &spec::Match) -> Value {
    let header = |name: &str, sm: &StringMatch| match sm {
        StringMatch::Exact(v) => json!({ "name": name, "type": "Exact", "value": v }),
        StringMatch::Prefix(p) => json!({ "name": name, "type": "RegularExpression", "value": header_prefix_regex(p) }),
        StringMatch::Regex(r) => json!({ "name": name, "type": "RegularExpression", "value": r }),
    };
    let mut headers: Vec<(String, Value)> = m.headers.iter().map(|(n, sm)| (n.clone(), header(n, sm))).collect();
    if let Some(cookie) = &m.cookie {
        let regex = StringMatch::Regex(cookie.header_regex());
        headers.push(("cookie".into(), header("cookie", &regex)));
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = serde_json::Map::new();
    if !headers.is_empty() {
        out.insert("headers".into(), Value::Array(headers.into_iter().map(|(_, h)| h).collect()));
    }
    if let Some(uri) = &m.uri {
        let kind = match uri {
            StringMatch::Exact(_) => "Exact",
            StringMatch::Prefix(_) => "PathPrefix",
            StringMatch::Regex(_) => "RegularExpression",
        };
        out.insert("path".into(), json!({ "type": kind, "value": uri.value() }));
    }
    if let Some(method) = &m.method {
        out.insert("method".into(), json!(method));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::super::tests::release;
    use super::super::{State, Step};
    use super::*;
    use crate::spec::{Cookie, Match, Pause, ReplicaOverride, Stage};

    fn gateway_release(gateways: &[&str]) -> Canary {
        let mut m = Match::default();
        m.headers.insert("end-user".into(), StringMatch::Exact("jason".into()));
        m.headers.insert("x-team".into(), StringMatch::Prefix("a.b".into()));
        m.cookie = Some(Cookie { name: "user".into(), value: "j".into() });
        m.uri = Some(StringMatch::Prefix("/api".into()));
        let stage = |name: &str, weight, matches| Stage {
            name: name.into(),
            weight,
            matches,
            mirror: None,
            mirror_matches: vec![],
            replicas: ReplicaOverride::default(),
            pause: Pause::default(),
            at: Default::default(),
        };
        let mut c = release(4, None, vec![stage("m", 0, vec![m]), stage("half", 50, vec![])]);
        c.router = Router::GatewayApi { hostnames: vec![] };
        c.gateways = gateways.iter().map(|g| spec::Gateway::named(g)).collect();
        c
    }

    #[test]
    fn backends_are_the_version_services_and_matches_go_first() {
        let c = gateway_release(&[]);
        let p = super::super::plan(&c, &State::new(Step::Prepare));
        let g = p.gateway.unwrap();
        let names: Vec<&str> = g.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["web-v1", "web-v2"]);
        assert_eq!(g.route.backends, [Backend { name: "web-v1".into(), version: "v1".into(), weight: 100 }]);
        assert!(g.route.match_rule.is_none());

        let g = super::super::plan(&c, &State::new(Step::Stage(0))).gateway.unwrap();
        let rule = g.route.match_rule.unwrap();
        assert_eq!(rule.backend, "web-v2");
        let headers = &rule.matches[0]["headers"];
        assert_eq!(
            headers[0],
            json!({"name": "cookie", "type": "RegularExpression", "value": "^(.*?;\\s*)?(user=j)(;.*)?$"})
        );
        assert_eq!(headers[1], json!({"name": "end-user", "type": "Exact", "value": "jason"}));
        assert_eq!(headers[2], json!({"name": "x-team", "type": "RegularExpression", "value": "^a\\.b.*"}));
        assert_eq!(rule.matches[0]["path"], json!({"type": "PathPrefix", "value": "/api"}));

        let g = super::super::plan(&c, &State::new(Step::Stage(1))).gateway.unwrap();
        let weights: Vec<(&str, u32)> = g.route.backends.iter().map(|b| (b.name.as_str(), b.weight)).collect();
        assert_eq!(weights, [("web-v1", 50), ("web-v2", 50)]);
    }

    #[test]
    fn parents_are_the_gateways_and_the_mesh() {
        let parents = |gateways: &[&str]| {
            let p = super::super::plan(&gateway_release(gateways), &State::new(Step::Steady));
            p.gateway
                .unwrap()
                .route
                .parents
                .iter()
                .map(|p| format!("{}/{:?}/{}/{:?}", p.kind, p.namespace, p.name, p.port))
                .collect::<Vec<_>>()
        };
        assert_eq!(parents(&[]), ["Service/None/web/Some(80)"]);
        assert_eq!(parents(&["mesh"]), ["Service/None/web/Some(80)"]);
        assert_eq!(
            parents(&["ingress/public", "mesh"]),
            ["Gateway/Some(\"ingress\")/public/None", "Service/None/web/Some(80)"]
        );
        assert_eq!(parents(&["public"]), ["Gateway/None/public/None"]);
    }

    /// docs/gateway-api.md prints the table of versions; its rows and the code's are the same.
    #[test]
    fn the_documented_versions_are_the_code_s() {
        let doc = include_str!("../../docs/gateway-api.md");
        let rows: Vec<(String, String)> = doc
            .lines()
            .skip_while(|l| !l.starts_with("| field "))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
                (cells[0].trim_matches('`').to_string(), cells[1].to_string())
            })
            .collect();
        let code: Vec<(String, String)> =
            GATEWAY_API_FIELDS.iter().map(|f| (f.field.to_string(), version_text(f.since))).collect();
        assert_eq!(rows, code, "docs/gateway-api.md's table and GATEWAY_API_FIELDS differ");
    }

    #[test]
    fn the_istio_router_plans_no_gateway_objects() {
        let c = release(4, None, vec![]);
        assert!(super::super::plan(&c, &State::new(Step::Steady)).gateway.is_none());
    }
}

//! `spec.gateways` entries, `NAMESPACE/NAME` strings or, for `router: gateway-api`, parent
//! references to one listener (`{name, namespace, sectionName, port}`), and
//! `spec.gatewayAPIVersion`, the Gateway API version of the cluster's CRDs, which `lint` holds
//! the rendered fields to (see `plan::GATEWAY_API_FIELDS`). Like all of `spec`, it imports no
//! later step of the pipeline.
//!
//! A VirtualService names its gateways and nothing more, so with `router: istio` an entry with a
//! `sectionName` or a `port` is an error at its line.

use std::collections::BTreeSet;

use super::raw::{RawGateway, RawSpec, S};
use super::rules::{is_dns1123_label, is_dns1123_subdomain, is_gateway};
use super::validate::Validator;
use crate::problem::Place;

/// A gateway of the release: a VirtualService's gateway (`NAMESPACE/NAME`, `NAME` or `mesh`), or
/// with the Gateway API a parent Gateway, optionally one listener of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gateway {
    pub name: String,
    pub namespace: Option<String>,
    /// The listener's name (`parentRefs[].sectionName`).
    pub section_name: Option<String>,
    /// The listeners' port (`parentRefs[].port`).
    pub port: Option<u16>,
}

impl Gateway {
    /// `NAMESPACE/NAME` or `NAME`, as a VirtualService names a gateway.
    pub(crate) fn reference(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The gateway a VirtualService names: `NAMESPACE/NAME` or `NAME`.
    pub(crate) fn named(reference: &str) -> Gateway {
        match reference.split_once('/') {
            Some((ns, name)) => Gateway { name: name.into(), namespace: Some(ns.into()), ..Gateway::default() },
            None => Gateway { name: reference.into(), ..Gateway::default() },
        }
    }
}

impl RawGateway {
    /// `NAMESPACE/NAME` or `NAME`.
    pub(super) fn reference(&self) -> String {
        match self {
            RawGateway::Name(name) => name.clone(),
            RawGateway::Ref(r) => match &r.namespace {
                Some(ns) => format!("{ns}/{}", r.name),
                None => r.name.clone(),
            },
        }
    }
}

/// A Gateway API version, `vMAJOR.MINOR.PATCH`.
pub(crate) type ApiVersion = (u32, u32, u32);

/// `v1.2.0` (or `1.2.0`, `v1.2`) as numbers.
pub(crate) fn parse_api_version(text: &str) -> Option<ApiVersion> {
    let mut parts = text.strip_prefix('v').unwrap_or(text).split('.').map(|p| p.parse::<u32>().ok());
    let (major, minor, patch) = (parts.next()??, parts.next()??, parts.next().unwrap_or(Some(0))?);
    parts.next().is_none().then_some((major, minor, patch))
}

/// `spec.gatewayAPIVersion` as validated, with where it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayApiVersion {
    pub version: ApiVersion,
    /// As written.
    pub text: String,
    pub at: Place,
}

impl Validator<'_> {
    /// `spec.gateways`: each well formed and listed once; with `router: istio`, names only.
    pub(super) fn gateways(&mut self, spec: &RawSpec, gateway_api: bool) -> Vec<Gateway> {
        let entries = spec.gateways.as_deref().unwrap_or_default();
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for entry in entries {
            let gateway = match &entry.value {
                RawGateway::Name(text) => {
                    if !self.check(entry, is_gateway(text), || {
                        format!("gateway `{text}` must be `mesh`, `NAME` or `NAMESPACE/NAME` with DNS-1123 names")
                    }) {
                        continue;
                    }
                    Gateway::named(text)
                }
                RawGateway::Ref(r) => match self.gateway_ref(entry, gateway_api) {
                    Some(port) => Gateway {
                        name: r.name.clone(),
                        namespace: r.namespace.clone(),
                        section_name: r.section_name.clone(),
                        port,
                    },
                    None => continue,
                },
            };
            let key = (gateway.reference(), gateway.section_name.clone(), gateway.port);
            if self.check(entry, seen.insert(key), || format!("gateway `{}` is listed twice", gateway.reference())) {
                out.push(gateway);
            }
        }
        out
    }

    /// An object entry's fields; its port when they are valid.
    fn gateway_ref(&mut self, entry: &S<RawGateway>, gateway_api: bool) -> Option<Option<u16>> {
        let RawGateway::Ref(r) = &entry.value else { return None };
        let before = self.problems.len();
        self.check(entry, is_dns1123_subdomain(&r.name), || {
            format!("gateway name `{}` must be a DNS-1123 subdomain", r.name)
        });
        if let Some(ns) = &r.namespace {
            self.check(entry, is_dns1123_label(ns), || format!("gateway namespace `{ns}` must be a DNS-1123 label"));
        }
        if let Some(section) = &r.section_name {
            self.check(entry, is_dns1123_subdomain(section), || {
                format!("sectionName `{section}` must be a listener's name: a DNS-1123 subdomain")
            });
        }
        if let Some(port) = r.port {
            self.check(entry, (1..=65535).contains(&port), || {
                format!("gateway port must be from 1 to 65535, got {port}")
            });
        }
        if !gateway_api && (r.section_name.is_some() || r.port.is_some()) {
            self.problem(
                entry,
                format!("gateway `{}`: a VirtualService names its gateways, so `sectionName` and `port` need `router: gateway-api` (an HTTPRoute's parentRefs); write `{}`", entry.value.reference(), entry.value.reference()),
            );
        }
        (self.problems.len() == before).then(|| r.port.map(|p| p as u16))
    }

    /// `spec.gatewayAPIVersion`: a version such as `v1.2.0`, at least `v1.0.0` (the HTTPRoute
    /// kanari renders is `gateway.networking.k8s.io/v1`), with `router: gateway-api` only.
    pub(super) fn gateway_api_version(&mut self, spec: &RawSpec, gateway_api: bool) -> Option<GatewayApiVersion> {
        let raw = spec.gateway_api_version.as_ref()?;
        let Some(version) = parse_api_version(&raw.value) else {
            self.problem(raw, format!("gatewayAPIVersion `{}` must be a version such as `v1.2.0`", raw.value));
            return None;
        };
        if version < (1, 0, 0) {
            self.problem(raw, format!("gatewayAPIVersion `{}`: kanari renders gateway.networking.k8s.io/v1 HTTPRoutes, which need Gateway API v1.0.0 or later", raw.value));
            return None;
        }
        if !gateway_api {
            self.problem(raw, "gatewayAPIVersion is the version of the Gateway API CRDs that `router: gateway-api` renders for; leave it out with `router: istio`");
            return None;
        }
        Some(GatewayApiVersion { version, text: raw.value.clone(), at: self.place(raw) })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::parse_file;

    const BASE: &str = crate::spec::table::GATEWAY_BASE;

    #[test]
    fn versions_read() {
        assert_eq!(parse_api_version("v1.2.0"), Some((1, 2, 0)));
        assert_eq!(parse_api_version("1.3.1"), Some((1, 3, 1)));
        assert_eq!(parse_api_version("v1.2"), Some((1, 2, 0)));
        for bad in ["", "v", "v1", "v1.x.0", "v1.2.3.4", "latest"] {
            assert_eq!(parse_api_version(bad), None, "{bad}");
        }
    }

    #[test]
    fn gateways_as_objects() {
        let yaml = BASE.replace(
            "  service:",
            "  gateways: [{name: public, namespace: gateway, sectionName: https}, {name: edge, port: 443}, ingress/other]\n  gatewayAPIVersion: v1.2.0\n  service:",
        );
        let (found, problems) = parse_file(Path::new("c.yaml"), &yaml);
        assert!(problems.is_empty(), "{problems}");
        let g = &found[0].gateways;
        assert_eq!(g[0].reference(), "gateway/public");
        assert_eq!(g[0].section_name.as_deref(), Some("https"));
        assert_eq!((g[1].reference(), g[1].port), ("edge".to_string(), Some(443)));
        assert_eq!(g[2], Gateway::named("ingress/other"));
        assert_eq!(found[0].gateway_api_version.as_ref().map(|v| v.version), Some((1, 2, 0)));
    }

    #[test]
    fn gateway_rules_report_their_place() {
        // (replace this text of BASE, with this, expect a problem containing, at line:column)
        let table: &[(&str, &str, &str, &str)] = &[
            (
                "  router: gateway-api\n",
                "  gateways: [{name: public, sectionName: https}]\n",
                "need `router: gateway-api`",
                "5:14",
            ),
            ("  service:", "  gateways: [{name: public, port: 0}]\n  service:", "from 1 to 65535", "6:14"),
            ("  service:", "  gateways: [{name: Public}]\n  service:", "DNS-1123 subdomain", "6:14"),
            ("  service:", "  gateways: [{name: p, sectionName: A_B}]\n  service:", "a listener's name", "6:14"),
            ("  service:", "  gateways: [a/p, {name: p, namespace: a}]\n  service:", "listed twice", "6:19"),
            ("  service:", "  gatewayAPIVersion: latest\n  service:", "such as `v1.2.0`", "6:22"),
            ("  service:", "  gatewayAPIVersion: v0.8.0\n  service:", "v1.0.0 or later", "6:22"),
            ("  router: gateway-api\n", "  gatewayAPIVersion: v1.2.0\n", "leave it out with `router: istio`", "5:22"),
        ];
        crate::spec::table::check(BASE, table);
    }
}

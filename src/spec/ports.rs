//! The release's Service ports and the protocol Istio reads from each: `spec.service.port` (the
//! short form) or `spec.service.ports` (name, port, targetPort, appProtocol; several), checked
//! here, and the protocol of the short form taken from the container port it targets once the
//! pod template is known (the spec's `template`, or the Deployment of `deployment.from`). Like
//! all of `spec`, it imports no later step of the pipeline.
//!
//! Istio picks a port's protocol from its `appProtocol`, else from its name, `<protocol>` or
//! `<protocol>-<suffix>` ([`Protocol::of`]); a port it cannot tell is sniffed, which `lint` warns
//! about. Decided here:
//! - the short form's port is named after the container port it targets when that name tells a
//!   protocol (`https`, `grpc-api`, `tcp`...), else `http` as before;
//! - the first port is the one the release routes. Its protocol must be HTTP (`http`, `http2`,
//!   `grpc`, `grpc-web`) for a canary: weights, matches and mirrors are HTTP routes, and the
//!   analysis reads Istio's request metrics, which only HTTP traffic has. A TLS port (`https`,
//!   `tls`: TLS the app terminates, opaque to the sidecar) or a TCP one is refused there with a
//!   release that has a canary, and a stage's `mirror` or `match` with it at the stage; the steady
//!   state renders (one version, nothing to route);
//! - with the short form, `create: false` and `router: istio`, the Service is the user's own: its
//!   port's name, which kanari does not see, tells Istio the protocol, so none is derived or held;
//! - with `router: istio` and several ports, the routes name the routed port's number (Istio asks
//!   for it when a Service has several), and another HTTP port is refused: a VirtualService's HTTP
//!   routes apply to every HTTP port of its host and would send that port's requests to the routed
//!   one.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Canary;
use super::raw::{RawService, RawTargetPort, S};
use super::rules::{is_dns1123_label, is_label_key};
use super::validate::Validator;
use crate::problem::{Place, Problems};

/// One port of the release's Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// A DNS-1123 label of at most 15 characters; Istio reads the protocol from it.
    pub name: String,
    pub port: u16,
    /// The pods' port: a number, or the name of a container port.
    pub target_port: TargetPort,
    /// Kubernetes' `appProtocol`, which Istio reads before the name.
    pub app_protocol: Option<String>,
}

/// A Service port's `targetPort`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetPort {
    Number(u16),
    Name(String),
}

impl ServicePort {
    /// The short form's port: named `http`, targeting the same number.
    pub(crate) fn short(port: u16) -> ServicePort {
        ServicePort { name: "http".into(), port, target_port: TargetPort::Number(port), app_protocol: None }
    }

    /// The protocol Istio reads from this port, when it can tell.
    pub(crate) fn protocol(&self) -> Option<Protocol> {
        match &self.app_protocol {
            Some(p) => Protocol::of_app_protocol(p),
            None => Protocol::of(&self.name),
        }
    }

    /// Whether Istio routes this port's traffic as HTTP requests.
    pub(crate) fn is_http(&self) -> bool {
        self.protocol().is_some_and(Protocol::is_http)
    }
}

/// The protocols Istio selects from a port's name or `appProtocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http,
    Http2,
    Grpc,
    GrpcWeb,
    Https,
    Tls,
    Tcp,
    Mongo,
    Mysql,
    Redis,
    Udp,
}

/// The names Istio reads as protocols, in its words.
const PROTOCOLS: [(&str, Protocol); 11] = [
    ("http", Protocol::Http),
    ("http2", Protocol::Http2),
    ("grpc", Protocol::Grpc),
    ("grpc-web", Protocol::GrpcWeb),
    ("https", Protocol::Https),
    ("tls", Protocol::Tls),
    ("tcp", Protocol::Tcp),
    ("mongo", Protocol::Mongo),
    ("mysql", Protocol::Mysql),
    ("redis", Protocol::Redis),
    ("udp", Protocol::Udp),
];

impl Protocol {
    /// The protocol a port's name says, as Istio reads it: the name up to its first `-`
    /// (`grpc-api` is gRPC, `http` HTTP), without case.
    pub(crate) fn of(name: &str) -> Option<Protocol> {
        let prefix = name.split('-').next().unwrap_or(name).to_ascii_lowercase();
        PROTOCOLS.iter().find(|(n, _)| *n == prefix).map(|(_, p)| *p)
    }

    /// The protocol an `appProtocol` says: one of Istio's names (`grpc-web` included), or
    /// Kubernetes' `kubernetes.io/h2c`, `kubernetes.io/ws` and `kubernetes.io/wss`.
    pub(crate) fn of_app_protocol(value: &str) -> Option<Protocol> {
        match value.to_ascii_lowercase().as_str() {
            "kubernetes.io/h2c" => Some(Protocol::Http2),
            "kubernetes.io/ws" => Some(Protocol::Http),
            "kubernetes.io/wss" => Some(Protocol::Https),
            v => PROTOCOLS.iter().find(|(n, _)| *n == v).map(|(_, p)| *p),
        }
    }

    /// HTTP, HTTP/2, gRPC and gRPC-Web: traffic the sidecar reads as requests.
    pub(crate) fn is_http(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb)
    }

    /// Istio's name of the protocol.
    pub(crate) fn name(self) -> &'static str {
        PROTOCOLS.iter().find(|(_, p)| *p == self).map_or("", |(n, _)| n)
    }
}

/// Where the ports are written, for the checks that need the pod template.
#[derive(Clone, Debug, Default)]
pub(super) struct PortsAt {
    /// `spec.service.port` when the short form is used.
    pub(super) short: Option<Place>,
    /// Each port of `spec.service.ports`, with its `targetPort` when that is a name.
    pub(super) ports: Vec<(Place, Option<Place>)>,
}

/// A name Kubernetes takes for a port (IANA_SVC_NAME): at most 15 lowercase letters, digits
/// and `-`, with a letter, no `-` at either end or twice in a row.
pub(crate) fn is_port_name(s: &str) -> bool {
    s.len() <= 15 && is_dns1123_label(s) && s.bytes().any(|b| b.is_ascii_lowercase()) && !s.contains("--")
}

impl Validator<'_> {
    /// `spec.service`: `port` or `ports`, not both; each port valid, names and numbers unique.
    /// Returns the ports (the short form's named `http` for now; see [`resolve`]) and where
    /// they are written.
    pub(super) fn service_ports(&mut self, service: &S<RawService>) -> (Vec<ServicePort>, PortsAt) {
        let raw = &service.value;
        let mut at = PortsAt::default();
        match (&raw.port, &raw.ports) {
            (Some(port), Some(_)) => {
                self.problem(port, "service.port and service.ports exclude each other: give one port as `port`, or every port under `ports`");
                (Vec::new(), at)
            }
            (None, None) => {
                self.problem(service, "service needs `port` (one HTTP port) or `ports` (each with a name and a port)");
                (Vec::new(), at)
            }
            (Some(port), None) => {
                let n = self.port_number(port, "service.port");
                at.short = Some(self.place(port));
                (n.map(ServicePort::short).into_iter().collect(), at)
            }
            (None, Some(list)) => {
                if list.is_empty() {
                    self.problem(service, "service.ports is empty: give at least one port");
                }
                let mut names = BTreeSet::new();
                let mut numbers = BTreeSet::new();
                let mut ports = Vec::new();
                for entry in list {
                    let p = &entry.value;
                    let name_ok = self.check(&p.name, is_port_name(&p.name.value), || {
                        format!("port name `{}` must be at most 15 characters of a-z, 0-9 and `-`, with a letter, starting and ending with a letter or digit", p.name.value)
                    });
                    if name_ok {
                        self.check(&p.name, names.insert(p.name.value.clone()), || {
                            format!("port name `{}` is used twice", p.name.value)
                        });
                    }
                    let number = self.port_number(&p.port, "port");
                    if let Some(n) = number {
                        self.check(&p.port, numbers.insert(n), || format!("port {n} is listed twice"));
                    }
                    let target = match &p.target_port {
                        None => number.map(TargetPort::Number),
                        Some(t) => match &t.value {
                            RawTargetPort::Number(n) => {
                                let ok = (1..=65535).contains(n);
                                self.check(t, ok, || format!("targetPort must be from 1 to 65535, got {n}"));
                                ok.then_some(TargetPort::Number(*n as u16))
                            }
                            RawTargetPort::Name(name) => {
                                let ok = is_port_name(name);
                                self.check(t, ok, || {
                                    format!("targetPort `{name}` must be a port number or a container port's name (at most 15 characters of a-z, 0-9 and `-`)")
                                });
                                ok.then(|| TargetPort::Name(name.clone()))
                            }
                        },
                    };
                    if let Some(a) = &p.app_protocol {
                        self.check(a, is_label_key(&a.value), || {
                            format!(
                                "appProtocol `{}` must be a protocol name (`http`, `grpc`) or `domain/name`",
                                a.value
                            )
                        });
                    }
                    let named_target = p.target_port.as_ref().filter(|t| matches!(t.value, RawTargetPort::Name(_)));
                    at.ports.push((self.place(entry), named_target.map(|t| self.place(t))));
                    if let (Some(port), Some(target_port)) = (number, target) {
                        let app_protocol = p.app_protocol.as_ref().map(|a| a.value.clone());
                        ports.push(ServicePort { name: p.name.value.clone(), port, target_port, app_protocol });
                    }
                }
                (ports, at)
            }
        }
    }

    fn port_number(&mut self, at: &S<i64>, what: &str) -> Option<u16> {
        let v = at.value;
        let ok = (1..=65535).contains(&v);
        self.check(at, ok, || format!("{what} must be from 1 to 65535, got {v}"));
        ok.then_some(v as u16)
    }
}

/// The ports once the pod template is known (the spec's, or that of `deployment.from`): the
/// short form's port named after the container port it targets, a named `targetPort` found
/// among the containers' ports, and the routed port's protocol held to what the release asks
/// of it (see the module's docs). Problems go to `problems`.
pub(super) fn resolve(canary: &mut Canary, at: &PortsAt, problems: &mut Problems) {
    let container_ports: Vec<&Value> = canary
        .template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| c.get("ports").and_then(Value::as_array).into_iter().flatten())
        .collect();
    // The short form with `create: false` and `router: istio`: the Service is the user's, and
    // its port's name, which kanari cannot see, tells Istio the protocol.
    if at.short.is_some() && !canary.service.create && canary.router == super::Router::Istio {
        return;
    }
    if let (Some(_), Some(port)) = (&at.short, canary.service.ports.first_mut()) {
        let named = container_ports
            .iter()
            .find(|p| p.get("containerPort").and_then(Value::as_u64) == Some(port.port.into()))
            .and_then(|p| p.get("name").and_then(Value::as_str))
            .filter(|name| Protocol::of(name).is_some() && is_port_name(name));
        if let Some(name) = named {
            port.name = name.to_string();
        }
    }
    for (port, (_, target_at)) in canary.service.ports.iter().zip(&at.ports) {
        if let (TargetPort::Name(name), Some(target_at)) = (&port.target_port, target_at) {
            let found = container_ports.iter().any(|p| p.get("name").and_then(Value::as_str) == Some(name));
            if !found {
                let message = match container_ports.is_empty() {
                    true => format!(
                        "targetPort `{name}` names a container port, but the pod template declares no ports: add `ports: [{{name: {name}, containerPort: N}}]` to the container, or give the number"
                    ),
                    false => format!("targetPort `{name}` is no container port's name in the pod template"),
                };
                problems.push(target_at.problem(message));
            }
        }
    }
    let Some(routed) = canary.service.ports.first() else { return };
    let routed_at = at.short.as_ref().or(at.ports.first().map(|(p, _)| p));
    let Some(routed_at) = routed_at else { return };
    if !routed.is_http() && canary.canary.is_some() {
        let said = routed.protocol().map_or("a protocol Istio cannot tell".to_string(), |p| format!("`{}`", p.name()));
        problems.push(routed_at.problem(format!(
            "port `{}` ({}) is {said} to Istio, not HTTP: a canary's weights, matches and mirrors are HTTP routes and its analysis reads HTTP request metrics; serve HTTP (`http`, `http2`, `grpc`) behind the sidecar, which encrypts it with mutual TLS, and name the port `http` (or set `appProtocol: http`)",
            routed.name, routed.port
        )));
        for stage in &canary.stages {
            let feature = match (stage.mirror.is_some(), stage.matches.is_empty()) {
                (true, _) => "mirror",
                (false, false) => "match",
                _ => continue,
            };
            problems.push(stage.at.problem(format!(
                "stage `{}` has a {feature}, which needs HTTP requests, but port `{}` ({}) is {said}: Istio passes it as an opaque stream",
                stage.name, routed.name, routed.port
            )));
        }
    }
    if canary.router == super::Router::Istio {
        for (port, (place, _)) in canary.service.ports.iter().zip(&at.ports).skip(1) {
            if port.is_http() {
                problems.push(place.problem(format!(
                    "port `{}` ({}) is HTTP too: the VirtualService's HTTP routes apply to every HTTP port of the Service and would send its requests to port {} (`{}`); name it `tcp-{}` to pass it as TCP, or give it a Service of its own",
                    port.name, port.port, routed.port, routed.name, port.name
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_as_istio_reads_them() {
        // (port name, appProtocol, protocol)
        let table: &[(&str, Option<&str>, Option<Protocol>)] = &[
            ("http", None, Some(Protocol::Http)),
            ("http-web", None, Some(Protocol::Http)),
            ("https", None, Some(Protocol::Https)),
            ("grpc-api", None, Some(Protocol::Grpc)),
            ("grpc-web", None, Some(Protocol::Grpc)),
            ("tcp", None, Some(Protocol::Tcp)),
            ("tls-db", None, Some(Protocol::Tls)),
            ("mongo", None, Some(Protocol::Mongo)),
            ("web", None, None),
            ("httpx", None, None),
            ("web", Some("grpc-web"), Some(Protocol::GrpcWeb)),
            ("web", Some("kubernetes.io/h2c"), Some(Protocol::Http2)),
            ("http", Some("example.com/custom"), None),
            ("https", Some("http"), Some(Protocol::Http)),
        ];
        for (name, app, want) in table {
            let port = ServicePort {
                name: name.to_string(),
                port: 80,
                target_port: TargetPort::Number(80),
                app_protocol: app.map(str::to_string),
            };
            assert_eq!(port.protocol(), *want, "{name} {app:?}");
        }
        assert!(Protocol::Grpc.is_http() && Protocol::GrpcWeb.is_http() && Protocol::Http2.is_http());
        assert!(!Protocol::Https.is_http() && !Protocol::Tls.is_http() && !Protocol::Tcp.is_http());
    }

    const BASE: &str = "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  service:
    ports:
      - {name: http, port: 8080}
  stable: {version: v1, image: web:1}
  canary: {version: v2, image: web:2}
  template:
    spec:
      containers:
        - name: web
          ports: [{name: http, containerPort: 8080}, {name: https, containerPort: 8443}]
  stages:
    - name: one
      weight: 10
";

    #[test]
    fn the_base_spec_and_the_short_form_are_valid() {
        assert_eq!(crate::spec::table::problems_of(BASE), Vec::<String>::new());
        let (found, _) = crate::spec::parse_file(std::path::Path::new("c.yaml"), BASE);
        assert_eq!(found[0].service.ports, [ServicePort::short(8080)]);
        let short = BASE.replace("    ports:\n      - {name: http, port: 8080}\n", "    port: 8080\n");
        let (found, problems) = crate::spec::parse_file(std::path::Path::new("c.yaml"), &short);
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(found[0].service.ports, [ServicePort::short(8080)]);
        // The Service of `create: false` is the user's: its port's name is not kanari's to read.
        let theirs = short.replace("port: 8080\n", "port: 8443\n    create: false\n");
        let (found, problems) = crate::spec::parse_file(std::path::Path::new("c.yaml"), &theirs);
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(found[0].service.ports, [ServicePort::short(8443)]);
        // Without a canary, a TLS port renders: there is nothing to route.
        let tls = short.replace("port: 8080\n", "port: 8443\n").replace("  canary: {version: v2, image: web:2}\n", "");
        let tls = tls.replace("  stages:\n    - name: one\n      weight: 10\n", "");
        let (found, problems) = crate::spec::parse_file(std::path::Path::new("c.yaml"), &tls);
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(found[0].service.ports[0].name, "https");
        assert_eq!(found[0].service.ports[0].protocol(), Some(Protocol::Https));
    }

    #[test]
    fn port_rules_report_their_place() {
        // (replace this text of BASE, with this, expect a problem containing, at line:column)
        let table: &[(&str, &str, &str, &str)] = &[
            ("    ports:", "    port: 80\n    ports:", "exclude each other", "6:11"),
            ("    ports:\n      - {name: http, port: 8080}\n", "    create: true\n", "needs `port`", "6:5"),
            ("    ports:\n      - {name: http, port: 8080}\n", "    ports: []\n", "is empty", "6:5"),
            ("{name: http, port: 8080}", "{name: HTTP, port: 8080}", "at most 15 characters", "7:16"),
            ("{name: http, port: 8080}", "{name: http-and-much-more, port: 8080}", "at most 15", "7:16"),
            ("{name: http, port: 8080}", "{name: http, port: 0}", "port must be from 1 to 65535", "7:28"),
            ("port: 8080}", "port: 8080}\n      - {name: http, port: 81}", "used twice", "8:16"),
            ("port: 8080}", "port: 8080}\n      - {name: tcp, port: 8080}", "listed twice", "8:27"),
            ("port: 8080}", "port: 8080, targetPort: 70000}", "targetPort must be from 1 to 65535", "7:46"),
            ("port: 8080}", "port: 8080, targetPort: Web_Port}", "a container port's name", "7:46"),
            ("port: 8080}", "port: 8080, targetPort: grpc}", "no container port's name", "7:46"),
            ("port: 8080}", "port: 8080, appProtocol: 'a b'}", "appProtocol `a b`", "7:47"),
            ("{name: http, port: 8080}", "{name: https, port: 8443}", "is `https` to Istio, not HTTP", "7:9"),
            ("{name: http, port: 8080}", "{name: http, port: 8080, appProtocol: tcp}", "is `tcp` to Istio", "7:9"),
            ("{name: http, port: 8080}", "{name: web, port: 8080}", "a protocol Istio cannot tell", "7:9"),
            ("port: 8080}", "port: 8080}\n      - {name: grpc, port: 9090}", "is HTTP too", "8:9"),
        ];
        crate::spec::table::check(BASE, table);
        // On a TLS port, a stage's mirror or match is an error at the stage too.
        let tls = BASE.replace("{name: http, port: 8080}", "{name: https, port: 8443}");
        for (stage, expect) in [
            ("mirror: 10", "stage `one` has a mirror"),
            ("match: [{headers: {x: {exact: y}}}]", "stage `one` has a match"),
        ] {
            let found = crate::spec::table::problems_of(&tls.replace("weight: 10", stage));
            assert!(found.iter().any(|p| p.starts_with("16:13 ") && p.contains(expect)), "{found:?}");
        }
    }

    #[test]
    fn port_names_as_kubernetes_takes_them() {
        for ok in ["http", "https-api", "a1", "grpc-web"] {
            assert!(is_port_name(ok), "{ok}");
        }
        for bad in ["", "123", "-http", "http-", "a--b", "HTTP", "sixteen-chars-xx"] {
            assert!(!is_port_name(bad), "{bad}");
        }
    }
}

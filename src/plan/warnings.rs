//! What is legal in a spec but probably not meant, found from its plans: warnings for `lint`.
//! Among them: a Service port whose protocol Istio cannot tell, and with `router: gateway-api`
//! a field a stage renders that is newer than `spec.gatewayAPIVersion` ([`super::GATEWAY_API_FIELDS`]).

use serde_json::Value;

use super::{ApiField, Plan, State, Step, WeightedSubset, fields_of, plan, pods, version_text};
use crate::problem::Problem;
use crate::spec::Canary;

/// What is legal but probably not meant, as problems to print as warnings: a container that an
/// autoscaler targeting CPU cannot measure, a version whose pods are fewer than its share of the
/// traffic needs, a weight that goes down between stages, and a stage that changes nothing from
/// the state before it.
pub fn warnings(canary: &Canary) -> Vec<crate::problem::Problem> {
    let mut out = cpu_request_warnings(canary);
    out.extend(port_warnings(canary));
    out.extend(gateway_api_warnings(canary));
    if canary.canary.is_none() {
        return out;
    }
    let full = canary.autoscaling.as_ref().map_or(canary.replicas, |a| a.min_replicas);
    let unit = if canary.autoscaling.is_some() { "HPA minimum" } else { "pods" };
    let mut before = (plan(canary, &State::new(Step::Prepare)), super::declared(canary, Step::Prepare));
    for (i, stage) in canary.stages.iter().enumerate() {
        let (stable, canary_pods) = pods(canary, Step::Stage(i));
        let canary_pods = canary_pods.map_or(0, |p| p.0);
        let need = |share: u32| (full * share).div_ceil(100);
        if canary_pods < need(stage.canary_load()) {
            let gives = if stage.mirror.is_some() { "mirrors to the canary" } else { "gives the canary" };
            out.push(stage.at.problem(format!(
                "stage `{}` {gives} {}% of the traffic but {canary_pods} {unit} (its share of {full} is {})",
                stage.name,
                stage.canary_load(),
                need(stage.canary_load())
            )));
        }
        if stable.0 < need(100 - stage.weight) {
            out.push(stage.at.problem(format!(
                "stage `{}` gives stable {}% of the traffic but {} {unit} (its share of {full} is {})",
                stage.name,
                100 - stage.weight,
                stable.0,
                need(100 - stage.weight)
            )));
        }
        if i > 0 && stage.weight < canary.stages[i - 1].weight {
            out.push(stage.at.problem(format!(
                "stage `{}` lowers the canary's weight from {}% to {}%: stages usually only move forward",
                stage.name,
                canary.stages[i - 1].weight,
                stage.weight
            )));
        }
        let now = (plan(canary, &State::new(Step::Stage(i))), super::declared(canary, Step::Stage(i)));
        // Compared as declared: a settled stage already runs the next stage's pods.
        let same = |(a, a_pods): &(Plan, super::Counts), (b, b_pods): &(Plan, super::Counts)| {
            let routes = |p: &Plan| {
                let active: Vec<&WeightedSubset> = p.virtual_service.weights.iter().filter(|w| w.weight > 0).collect();
                let vs = &p.virtual_service;
                (format!("{active:?}"), vs.match_route.clone(), vs.mirror.clone())
            };
            routes(a) == routes(b) && a_pods == b_pods
        };
        if same(&before, &now) {
            let previous =
                if i == 0 { "prepare".to_string() } else { format!("stage `{}`", canary.stages[i - 1].name) };
            out.push(stage.at.problem(format!(
                "stage `{}` changes nothing from {previous}: same traffic, matches and pods",
                stage.name
            )));
        }
        before = now;
    }
    out
}

/// With `autoscaling`, each HPA targets CPU utilisation, which is usage over the CPU request
/// of every container of the pod; a container without one makes the HPA report "missing request
/// for cpu" and never scale. A CPU limit alone is enough: Kubernetes then defaults the request to
/// it. Each container without either is a warning at its place; without a template, kanari's
/// default container has no resources at all, which is a warning at `autoscaling`.
fn cpu_request_warnings(canary: &Canary) -> Vec<crate::problem::Problem> {
    let Some(autoscaling_at) = canary.autoscaling.as_ref().and(canary.places.autoscaling.as_ref()) else {
        return Vec::new();
    };
    let why = "the HorizontalPodAutoscaler targets CPU utilisation, which it cannot compute without a CPU request (it reports \"missing request for cpu\" and never scales)";
    let containers = canary.template.pointer("/spec/containers").and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        return vec![autoscaling_at.problem(format!(
            "the default container `{}` has no CPU request and {why}; add a template with a container `{}` that sets resources.requests.cpu",
            canary.name, canary.name
        ))];
    };
    let has_cpu = |c: &Value| {
        ["/resources/requests/cpu", "/resources/limits/cpu"].iter().any(|p| c.pointer(p).is_some_and(|v| !v.is_null()))
    };
    containers
        .iter()
        .enumerate()
        .filter(|(_, c)| !has_cpu(c))
        .map(|(i, c)| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            let at = canary.places.containers.get(i).unwrap_or(autoscaling_at);
            at.problem(format!("container `{name}` has no resources.requests.cpu and {why}"))
        })
        .collect()
}

/// A Service port whose protocol Istio cannot tell from its `appProtocol` or its name: Istio
/// then sniffs the first bytes of each connection, which tells HTTP/1.1 and HTTP/2 apart from
/// the rest, and waits for a client that speaks first.
fn port_warnings(canary: &Canary) -> Vec<Problem> {
    let ports = canary.service.ports.iter().zip(&canary.places.ports);
    ports
        .filter(|(port, _)| port.protocol().is_none())
        .map(|(port, at)| {
            let told = match &port.app_protocol {
                Some(a) => format!("appProtocol `{a}` is no protocol Istio knows"),
                None => format!("the name `{}` starts with no protocol Istio knows", port.name),
            };
            at.problem(format!(
                "port `{}` ({}): {told}, so Istio guesses the protocol from the traffic; name the port `<protocol>` or `<protocol>-<suffix>` (`http`, `http2`, `grpc`, `grpc-web`, `https`, `tls`, `tcp`, `mongo`, `mysql`, `redis`) or set `appProtocol` to one of them",
                port.name, port.port
            ))
        })
        .collect()
}

/// With `spec.gatewayAPIVersion`, each field the HTTPRoute renders that needs a newer Gateway
/// API: at the version when every state renders it (parents), else at the stage that does.
fn gateway_api_warnings(canary: &Canary) -> Vec<Problem> {
    let Some(version) = &canary.gateway_api_version else { return Vec::new() };
    let newer = |p: &Plan| -> Vec<&'static ApiField> {
        let fields = p.gateway.as_ref().map(|g| fields_of(&g.route)).unwrap_or_default();
        fields.into_iter().filter(|f| f.since > version.version).collect()
    };
    let always = newer(&plan(canary, &State::new(Step::Steady)));
    let mut out: Vec<Problem> = always
        .iter()
        .map(|f| {
            version.at.problem(format!(
                "every state renders {}, which needs Gateway API {}, newer than gatewayAPIVersion {}: {}",
                f.field,
                version_text(f.since),
                version.text,
                f.older
            ))
        })
        .collect();
    if canary.canary.is_none() {
        return out;
    }
    for (i, stage) in canary.stages.iter().enumerate() {
        for f in newer(&plan(canary, &State::new(Step::Stage(i)))).into_iter().filter(|f| !always.contains(f)) {
            out.push(stage.at.problem(format!(
                "stage `{}` renders {}, which needs Gateway API {}, newer than gatewayAPIVersion {}: {}",
                stage.name,
                f.field,
                version_text(f.since),
                version.text,
                f.older
            )));
        }
    }
    out
}

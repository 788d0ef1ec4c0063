//! From a validated [`Canary`] and a release state to a [`Plan`]: the routes, subsets,
//! Deployments, Service and HPAs that state needs. Pure: no I/O, no clock. Second in the
//! pipeline: it imports only [`crate::spec`] (and [`crate::problem`] for warnings), never the
//! release's life, render, check, diff, overlay, repo or the commands.
//!
//! The states are `steady`, `prepare`, each stage, and `aborted`, and between two of them the
//! commits of a transition (a state scaled up toward another, or holding the pods of the one the
//! traffic left, see [`crate::release`]). The rules, from the design:
//! - the canary runs `ceil(replicas × weight / 100)` pods, at least 1 whenever it takes traffic,
//!   and `prepare` already runs the first stage's count; the stable version keeps `replicas`;
//!   a settled stage runs the next stage's count where that is more ([`pods`] has the arithmetic);
//! - with autoscaling each version gets an HPA, the canary's `minReplicas` scaled the same way
//!   (at least 1), and Deployments carry no `replicas`;
//! - a stage's override replaces the computed count (with autoscaling: the HPA minimum), and a
//!   version held at 0 is a Deployment with `replicas: 0` and no HPA;
//! - `prepare` creates the canary's Deployment and subset but routes nothing to it, so no route
//!   ever names a subset in the same commit that creates it;
//! - `aborted` sends everything to stable at its full size and holds the canary at 0;
//! - a mirror stage keeps all traffic on stable and copies a share to the canary ([`mirror`]);
//! - every Service of the release has the spec's ports ([`port_plans`]); with several, the
//!   VirtualService's destinations name the routed one (the first), as Istio asks, and without a
//!   template the default container serves each target port;
//! - a [`Leaving`] state (a canary the spec no longer has, on its way out) plans the spec's stable
//!   alone and carries the leaving version's files from the committed overlay.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::spec::{self, Canary, StringMatch};

mod gateway;
mod mirror;
mod observed;
mod own;
mod pods;
mod state;
mod warnings;

pub use gateway::GatewayPlan;
pub(crate) use gateway::{ApiField, fields_of, version_text};
pub use mirror::Mirror;
pub(crate) use mirror::mirror_text;
pub use observed::PodCount;
pub(crate) use observed::{Matched, Observed};
pub(crate) use pods::{Counts, Pods, counts, declared, full, has_canary, need, pods, settled};
pub use state::Leaving;
pub(crate) use state::{Recorded, key};
pub use state::{State, Step};
pub use warnings::warnings;

/// Everything one state of one release needs in the cluster.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub name: String,
    pub namespace: String,
    #[serde(skip)]
    pub output: PathBuf,
    /// The state's name: `steady`, `prepare`, a stage or `aborted`.
    pub stage: String,
    /// The `kanari.dev/*` annotations of the overlay.
    pub annotations: BTreeMap<String, String>,
    pub service: Option<ServicePlan>,
    /// Stable first, then the canary when the state has one.
    pub versions: Vec<VersionPlan>,
    pub destination_rule: DestinationRulePlan,
    pub virtual_service: VirtualServicePlan,
    /// With `router: gateway-api`, what is rendered in place of the two above ([`gateway`]).
    pub gateway: Option<GatewayPlan>,
    /// Files carried unchanged from the committed overlay ([`Leaving::carry`]); the caller puts
    /// their bytes in [`Plan::carried`].
    #[serde(skip)]
    pub carry: Vec<String>,
    /// The bytes of the carried files, by file name.
    #[serde(skip)]
    pub carried: BTreeMap<String, Vec<u8>>,
    /// Objects made from the user's own manifests (`from:`), by the file name each takes:
    /// rendered as they are, in place of a template.
    #[serde(skip)]
    pub own: BTreeMap<String, Value>,
    /// More kinds the overlay may hold (`spec.extraKinds`).
    #[serde(skip)]
    pub extra_kinds: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServicePlan {
    pub name: String,
    pub ports: Vec<PortPlan>,
}

/// A Service port as rendered: name, port, target port (a number or a container port's name)
/// and `appProtocol` when the spec gives one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortPlan {
    pub name: String,
    pub port: u16,
    pub target_port: Value,
    pub app_protocol: Option<String>,
}

/// The Service ports of a release, as every Service of it renders them.
pub(crate) fn port_plans(canary: &Canary) -> Vec<PortPlan> {
    let target = |t: &spec::TargetPort| match t {
        spec::TargetPort::Number(n) => json!(n),
        spec::TargetPort::Name(name) => json!(name),
    };
    let ports = canary.service.ports.iter();
    ports
        .map(|p| PortPlan {
            name: p.name.clone(),
            port: p.port,
            target_port: target(&p.target_port),
            app_protocol: p.app_protocol.clone(),
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VersionPlan {
    /// `stable` or `canary`.
    pub role: &'static str,
    /// The `version` label.
    pub version: String,
    /// The name of its subset and the suffix of its Deployment ([`spec::Version::name`]).
    pub name: String,
    pub image: String,
    pub deployment: String,
    /// `None` when an HPA owns the count.
    pub replicas: Option<u32>,
    pub hpa: Option<HpaPlan>,
    /// The full pod template: the spec's, with labels and image set. The same in every state.
    pub pod_template: Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HpaPlan {
    pub name: String,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub target_cpu_utilization_percentage: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DestinationRulePlan {
    pub name: String,
    pub host: String,
    pub subsets: Vec<SubsetPlan>,
}

/// A DestinationRule subset: its name, and the `version` label its pods carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubsetPlan {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VirtualServicePlan {
    pub name: String,
    pub hosts: Vec<String>,
    pub gateways: Vec<String>,
    /// The destination host of every route: the release's Service.
    pub host: String,
    /// The destinations' port, when the Service has several (Istio asks which one).
    pub port: Option<u16>,
    /// The first rule: requests matching any entry go to `subset`.
    pub match_route: Option<MatchRoute>,
    /// The catch-all rule's destinations, weights summing to 100.
    pub weights: Vec<WeightedSubset>,
    /// A mirror stage's copy of the catch-all rule's requests to the canary.
    pub mirror: Option<Mirror>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatchRoute {
    pub subset: String,
    /// Istio `HTTPMatchRequest`s, one per match entry.
    pub matches: Vec<Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WeightedSubset {
    pub subset: String,
    pub weight: u32,
}

/// Plans one state of one release.
pub fn plan(canary: &Canary, state: &State) -> Plan {
    let step = state.step;
    let annotations = state.recorded(canary).annotations();
    let has_canary = pods::has_canary(canary, state) && state.leaving.is_none();
    let canary_version = canary.canary.as_ref().filter(|_| has_canary);

    let counts = match state.leaving {
        Some(_) => pods::declared(canary, Step::Steady),
        None => pods::counts(canary, state),
    };
    let mut versions = vec![version_plan(canary, &canary.stable, "stable", Pods(counts.stable))];
    if let Some(c) = canary_version {
        versions.push(version_plan(canary, c, "canary", Pods(counts.canary)));
    }

    let stable = canary.stable.name.clone();
    let (weights, match_route, mirror) = match (step, canary_version) {
        (Step::Stage(i), Some(c)) if state.leaving.is_none() => {
            let stage = &canary.stages[i];
            let weights = vec![
                WeightedSubset { subset: stable, weight: 100 - stage.weight },
                WeightedSubset { subset: c.name.clone(), weight: stage.weight },
            ];
            let route = (!stage.matches.is_empty()).then(|| MatchRoute {
                subset: c.name.clone(),
                matches: stage.matches.iter().map(istio_match).collect(),
            });
            let mirror = stage.mirror.map(|percent| Mirror {
                subset: c.name.clone(),
                percent,
                matches: stage.mirror_matches.iter().map(istio_match).collect(),
            });
            (weights, route, mirror)
        }
        _ => (vec![WeightedSubset { subset: stable, weight: 100 }], None, None),
    };
    let mut subsets: Vec<SubsetPlan> =
        versions.iter().map(|v| SubsetPlan { name: v.name.clone(), version: v.version.clone() }).collect();
    if let Some(t) = &state.leaving {
        subsets.extend(t.subsets.iter().cloned());
    }
    let virtual_service = VirtualServicePlan {
        name: canary.name.clone(),
        hosts: canary.hosts.clone(),
        gateways: canary.gateways.iter().map(spec::Gateway::reference).collect(),
        host: canary.name.clone(),
        port: (canary.service.ports.len() > 1).then(|| canary.service.routed().port),
        match_route,
        weights,
        mirror,
    };
    let (matches, mirror_matches): (&[spec::Match], &[spec::Match]) = match step {
        Step::Stage(i) => (&canary.stages[i].matches, &canary.stages[i].mirror_matches),
        _ => (&[], &[]),
    };
    let gateway = gateway::plan(canary, &versions, &virtual_service, matches, mirror_matches);

    let plan = Plan {
        name: canary.name.clone(),
        namespace: canary.namespace.clone(),
        output: canary.output.clone(),
        stage: state.stage_name(canary),
        annotations,
        service: canary.service.create.then(|| ServicePlan { name: canary.name.clone(), ports: port_plans(canary) }),
        destination_rule: DestinationRulePlan { name: canary.name.clone(), host: canary.name.clone(), subsets },
        versions,
        virtual_service,
        gateway,
        carry: state.leaving.as_ref().map(|t| t.carry.clone()).unwrap_or_default(),
        carried: BTreeMap::new(),
        own: BTreeMap::new(),
        extra_kinds: canary.extra_kinds.clone(),
    };
    Plan { own: own::objects(canary, &plan), ..plan }
}

fn version_plan(canary: &Canary, version: &spec::Version, role: &'static str, pods: Pods) -> VersionPlan {
    let deployment = version_object_name(canary, version);
    let (replicas, hpa) = match (&canary.autoscaling, pods.0) {
        (Some(_), 0) | (None, _) => (Some(pods.0), None),
        (Some(a), min) => (
            None,
            Some(HpaPlan {
                name: deployment.clone(),
                min_replicas: min,
                max_replicas: a.max_replicas.max(min),
                target_cpu_utilization_percentage: a.target_cpu_utilization_percentage,
            }),
        ),
    };
    VersionPlan {
        role,
        version: version.version.clone(),
        name: version.name.clone(),
        image: version.image.clone(),
        deployment,
        replicas,
        hpa,
        pod_template: pod_template(canary, version),
    }
}

/// The name of every object of one version: its Deployment, HPA and (Gateway API) Service.
pub(crate) fn version_object_name(canary: &Canary, version: &spec::Version) -> String {
    spec::version_object(&canary.name, &version.name)
}

/// The overlay's file of one object: `<kind>-<name>.yaml`, the kind in lower case
/// (`deployment-reviews-v2.yaml`). Every file kanari renders is named by this.
pub(crate) fn object_file(kind: &str, name: &str) -> String {
    format!("{kind}-{name}.yaml")
}

/// The spec's pod template with the `app` and `version` labels and the main container's image
/// set; without a template, one container named after the release that serves the port.
///
/// Cannot panic: validation guarantees the shapes (`metadata`, `labels`, `spec` mappings, a
/// non-empty list of containers with a main one), and where a shape were wrong anyway the part
/// is replaced, not unwrapped.
pub(crate) fn pod_template(canary: &Canary, version: &spec::Version) -> Value {
    let mapping = |value: Option<Value>| match value {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut root = mapping(Some(canary.template.clone()));
    let mut metadata = mapping(root.remove("metadata"));
    let mut labels = mapping(metadata.remove("labels"));
    labels.insert("app".into(), json!(canary.name));
    labels.insert("version".into(), json!(version.version));
    metadata.insert("labels".into(), Value::Object(labels));
    root.insert("metadata".into(), Value::Object(metadata));

    let mut spec = mapping(root.remove("spec"));
    let mut containers = match spec.remove("containers") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => vec![json!({ "name": canary.name, "ports": default_container_ports(canary) })],
    };
    if let Some(main) = spec::main_container(&containers, &canary.name)
        && let Some(Value::Object(container)) = containers.get_mut(main)
    {
        container.insert("image".into(), json!(version.image));
    }
    spec.insert("containers".into(), Value::Array(containers));
    root.insert("spec".into(), Value::Object(spec));
    Value::Object(root)
}

/// The ports of the default container (no template): the Service's target ports, named after
/// their Service ports when there are several.
fn default_container_ports(canary: &Canary) -> Value {
    let ports = &canary.service.ports;
    let numbered = ports.iter().filter_map(|p| match p.target_port {
        spec::TargetPort::Number(n) => Some((p, n)),
        spec::TargetPort::Name(_) => None,
    });
    match ports.len() {
        1 => numbered.map(|(_, n)| json!({ "containerPort": n })).collect(),
        _ => numbered.map(|(p, n)| json!({ "name": p.name, "containerPort": n })).collect(),
    }
}

/// One match entry as an Istio `HTTPMatchRequest`; a cookie becomes a regex on the `cookie` header.
fn istio_match(m: &spec::Match) -> Value {
    let string_match = |sm: &StringMatch| json!({ sm.kind(): sm.value() });
    let mut headers: BTreeMap<String, Value> =
        m.headers.iter().map(|(name, sm)| (name.clone(), string_match(sm))).collect();
    if let Some(cookie) = &m.cookie {
        headers.insert("cookie".into(), json!({ "regex": cookie.header_regex() }));
    }
    let mut out = serde_json::Map::new();
    if !headers.is_empty() {
        out.insert("headers".into(), json!(headers));
    }
    if let Some(uri) = &m.uri {
        out.insert("uri".into(), string_match(uri));
    }
    if let Some(method) = &m.method {
        out.insert("method".into(), json!({ "exact": method }));
    }
    Value::Object(out)
}

/// One state of a release as people read it: traffic, matches, pods and the gate out of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub state: String,
    /// Percent of the catch-all traffic per version, stable first.
    pub traffic: Vec<(String, u32)>,
    /// The stage's match entries, in a short form (`end-user=jason`, `uri^=/api`).
    pub matches: Vec<String>,
    /// A mirror stage's copy, as [`mirror_text`] says it.
    pub mirror: Option<String>,
    /// Pods per version; None where neither replicas nor an HPA say.
    #[serde(serialize_with = "observed::by_version")]
    pub pods: Vec<(String, Option<PodCount>)>,
    /// What holds the release in this state: `approval`, a bake time such as `30m`, both or none.
    pub gate: Vec<String>,
}

/// Traffic per version as every JSON output shows it: `{"v1": 90, "v2": 10}`.
pub(crate) fn traffic_json<W: Serialize>(traffic: &[(String, W)]) -> Value {
    serde_json::to_value(observed::ByVersion(traffic)).expect("numbers serialize")
}

/// Pods per version as every JSON output shows them: `{"v1": {"replicas": 10}, "v2": {"hpa":
/// {"min": 2, "max": 10}}}`, null for a version whose count is unknown.
pub(crate) fn pods_json(pods: &[(String, Option<PodCount>)]) -> Value {
    serde_json::to_value(observed::ByVersion(pods)).expect("pod counts serialize")
}

/// Summarizes a plan of `step`.
pub fn summarize(canary: &Canary, step: Step, plan: &Plan) -> Summary {
    // By version label, as people name versions: the subset names them for Istio only.
    let version_of = |subset: &str| {
        let found = plan.destination_rule.subsets.iter().find(|s| s.name == subset);
        found.map_or_else(|| subset.to_string(), |s| s.version.clone())
    };
    let traffic = plan.virtual_service.weights.iter().map(|w| (version_of(&w.subset), w.weight)).collect();
    let stage = match step {
        Step::Stage(i) => Some(&canary.stages[i]),
        _ => None,
    };
    let matches = stage.map(|s| s.matches.iter().map(match_text).collect()).unwrap_or_default();
    let pods = plan
        .versions
        .iter()
        .map(|v| {
            let count = match (&v.hpa, v.replicas) {
                (Some(h), _) => Some(PodCount::Hpa { min: h.min_replicas.into(), max: h.max_replicas.into() }),
                (None, n) => n.map(|n| PodCount::Replicas(n.into())),
            };
            (v.version.clone(), count)
        })
        .collect();
    let mut gate = Vec::new();
    if let Some(s) = stage {
        if s.pause.approval {
            gate.push("approval".to_string());
        }
        if let Some(d) = s.pause.duration {
            gate.push(spec::format_duration(d));
        }
    }
    let of: Vec<String> = stage.map(|s| s.mirror_matches.iter().map(match_text).collect()).unwrap_or_default();
    let mirror = plan.virtual_service.mirror.as_ref().map(|m| mirror_text(m.percent.into(), &m.subset, &of));
    Summary { state: plan.stage.clone(), traffic, matches, mirror, pods, gate }
}

/// A match entry in one line: its conditions joined by ` & `.
pub(crate) fn match_text(m: &spec::Match) -> String {
    let mut parts: Vec<String> =
        m.headers.iter().map(|(name, sm)| condition_text(name, sm.kind(), sm.value())).collect();
    if let Some(c) = &m.cookie {
        parts.push(format!("cookie {}={}", c.name, c.value));
    }
    if let Some(u) = &m.uri {
        parts.push(condition_text("uri", u.kind(), u.value()));
    }
    if let Some(method) = &m.method {
        parts.push(condition_text("method", "exact", method));
    }
    parts.join(" & ")
}

/// One condition of a match as every table shows it: `end-user=jason`, `uri^=/api`, `x~=a.*`.
/// `kind` is Istio's (`exact`, `prefix`, `regex`); any other reads `?`. The one rule for how a
/// match reads, whether it comes from a spec ([`match_text`]) or a rendered route
/// ([`crate::review`]).
pub(crate) fn condition_text(subject: &str, kind: &str, value: &str) -> String {
    let op = match kind {
        "exact" => "=",
        "prefix" => "^=",
        "regex" => "~=",
        _ => "?",
    };
    format!("{subject}{op}{value}")
}

#[cfg(test)]
pub(crate) mod tests;

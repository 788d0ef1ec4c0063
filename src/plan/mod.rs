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
//! - a [`Transit`] state (a canary the spec no longer has, on its way out) plans the spec's stable
//!   alone and carries the leaving version's files from the committed overlay.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::spec::{self, Canary, StringMatch};

mod mirror;
mod pods;
mod warnings;

pub use mirror::{Mirror, mirror_text};
pub use pods::{Counts, Pods, counts, declared, full, has_canary, need, pods, settled};
pub use warnings::warnings;

/// Where a release stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    #[default]
    Steady,
    Prepare,
    /// Index into the spec's stages.
    Stage(usize),
    Aborted,
}

impl Step {
    /// The name the state goes by in annotations and on the command line.
    pub fn name<'a>(&self, canary: &'a Canary) -> &'a str {
        match self {
            Step::Steady => "steady",
            Step::Prepare => "prepare",
            Step::Stage(i) => &canary.stages[*i].name,
            Step::Aborted => "aborted",
        }
    }

    /// Finds a state by name: a stage, or one of kanari's own.
    pub fn parse(canary: &Canary, name: &str) -> Option<Step> {
        match name {
            "steady" => Some(Step::Steady),
            "prepare" if canary.canary.is_some() => Some(Step::Prepare),
            "aborted" if canary.canary.is_some() => Some(Step::Aborted),
            _ if canary.canary.is_some() => canary.stage(name).map(|(i, _)| Step::Stage(i)),
            _ => None,
        }
    }

    /// Every state the release can be in, in the order of the release.
    pub fn all(canary: &Canary) -> Vec<Step> {
        let mut steps = vec![Step::Steady];
        if canary.canary.is_some() {
            steps.push(Step::Prepare);
            steps.extend((0..canary.stages.len()).map(Step::Stage));
            steps.push(Step::Aborted);
        }
        steps
    }
}

/// The state of a release as it is recorded in its overlay's annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The canary version the release is for (`kanari.dev/canary`).
    pub canary: Option<String>,
    /// `kanari.dev/stage`: the state whose traffic routes are live.
    pub stage: String,
    /// `kanari.dev/since`, RFC 3339.
    pub since: Option<String>,
    /// `kanari.dev/approved`: the stage whose gate was approved.
    pub approved: Option<String>,
    /// `kanari.dev/reason`: why the release was aborted.
    pub reason: Option<String>,
    /// `kanari.dev/holding`: the state the traffic just left, whose pods stay until it drained.
    pub holding: Option<String>,
    /// `kanari.dev/toward`: the state this one scaled up for; the traffic moves next.
    pub toward: Option<String>,
    /// `kanari.dev/warming`: the versions whose pods this state raised, comma-separated.
    pub warming: Option<String>,
    /// `kanari.dev/departing`: a version that is no longer the spec's, kept until it drained.
    pub departing: Option<String>,
}

impl Recorded {
    /// The state `kanari.dev/*` annotations record; None without a `kanari.dev/stage`.
    pub fn read(annotations: &BTreeMap<String, String>) -> Option<Recorded> {
        let get = |key: &str| annotations.get(&format!("kanari.dev/{key}")).cloned();
        Some(Recorded {
            canary: get("canary"),
            stage: get("stage")?,
            since: get("since"),
            approved: get("approved"),
            reason: get("reason"),
            holding: get("holding"),
            toward: get("toward"),
            warming: get("warming"),
            departing: get("departing"),
        })
    }
}

/// The state to plan: a step plus the annotations that travel with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Whose routes are live.
    pub step: Step,
    pub since: Option<String>,
    pub approved: Option<String>,
    pub reason: Option<String>,
    /// A drain under way: the pods the traffic of this step needed are kept.
    pub holding: Option<Step>,
    /// A scale-up: the pods this step runs once settled are already up; its traffic moves next.
    pub toward: Option<Step>,
    /// The versions whose pods this state raised: a promote waits `spec.warmup` before it
    /// moves traffic onto them.
    pub warming: Vec<String>,
    /// The versions whose image this state changes in place (not recorded; for messages).
    pub rerolled: Vec<String>,
    /// A release whose canary is no longer the spec's (a changed canary, a finish), on its way
    /// out: the spec's stable alone, with what the committed overlay keeps of the rest.
    pub transit: Option<Transit>,
}

/// A state on the way from a canary the spec no longer has (a changed canary draining, a
/// finish moving all traffic to the new stable): the spec's stable version at full size, plus
/// files carried unchanged from the committed overlay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transit {
    /// Files of the committed overlay carried unchanged: the leaving version's Deployment and
    /// HPA, and, while traffic has not moved yet, the DestinationRule and VirtualService.
    pub carry: Vec<String>,
    /// Subsets the DestinationRule keeps for the leaving version, when it is rendered.
    pub subsets: Vec<String>,
    /// The annotations to record.
    pub record: Recorded,
}

impl State {
    pub fn new(step: Step) -> Self {
        State { step, ..State::default() }
    }

    /// Whether the state is one of a transition's intermediate commits.
    pub fn in_between(&self) -> bool {
        self.holding.is_some() || self.toward.is_some() || self.transit.is_some()
    }
}

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
    /// Files carried unchanged from the committed overlay ([`Transit::carry`]); the caller puts
    /// their bytes in [`Plan::carried`].
    #[serde(skip)]
    pub carry: Vec<String>,
    /// The bytes of the carried files, by file name.
    #[serde(skip)]
    pub carried: BTreeMap<String, Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServicePlan {
    pub name: String,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VersionPlan {
    /// `stable` or `canary`.
    pub role: &'static str,
    pub version: String,
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
    /// Subset names, which are the version labels.
    pub subsets: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VirtualServicePlan {
    pub name: String,
    pub hosts: Vec<String>,
    pub gateways: Vec<String>,
    /// The destination host of every route: the release's Service.
    pub host: String,
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
    let stage_name = step.name(canary).to_string();
    let mut annotations = BTreeMap::new();
    let mut annotate = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            annotations.insert(format!("kanari.dev/{key}"), v.to_string());
        }
    };
    let has_canary = pods::has_canary(canary, state) && state.transit.is_none();
    let canary_version = canary.canary.as_ref().filter(|_| has_canary);
    match &state.transit {
        Some(transit) => {
            let r = &transit.record;
            annotate("canary", r.canary.as_deref());
            annotate("stage", Some(&r.stage));
            for (key, value) in [
                ("since", &r.since),
                ("approved", &r.approved),
                ("reason", &r.reason),
                ("holding", &r.holding),
                ("toward", &r.toward),
                ("warming", &r.warming),
                ("departing", &r.departing),
            ] {
                annotate(key, value.as_deref());
            }
        }
        None => {
            let name = |s: Option<Step>| s.map(|s| s.name(canary));
            let warming = state.warming.join(",");
            annotate("canary", canary_version.map(|c| c.version.as_str()));
            annotate("stage", Some(&stage_name));
            annotate("since", state.since.as_deref());
            annotate("approved", state.approved.as_deref());
            annotate(
                "reason",
                state.reason.as_deref().filter(|_| step == Step::Aborted || state.toward == Some(Step::Aborted)),
            );
            annotate("holding", name(state.holding));
            annotate("toward", name(state.toward));
            annotate("warming", Some(warming.as_str()).filter(|w| !w.is_empty()));
        }
    }

    let counts = match state.transit {
        Some(_) => pods::declared(canary, Step::Steady),
        None => pods::counts(canary, state),
    };
    let mut versions = vec![version_plan(canary, &canary.stable, "stable", Pods(counts.stable))];
    if let Some(c) = canary_version {
        versions.push(version_plan(canary, c, "canary", Pods(counts.canary)));
    }

    let stable = canary.stable.version.clone();
    let (weights, match_route, mirror) = match (step, canary_version) {
        (Step::Stage(i), Some(c)) if state.transit.is_none() => {
            let stage = &canary.stages[i];
            let weights = vec![
                WeightedSubset { subset: stable, weight: 100 - stage.weight },
                WeightedSubset { subset: c.version.clone(), weight: stage.weight },
            ];
            let route = (!stage.matches.is_empty()).then(|| MatchRoute {
                subset: c.version.clone(),
                matches: stage.matches.iter().map(istio_match).collect(),
            });
            (weights, route, stage.mirror.map(|percent| Mirror { subset: c.version.clone(), percent }))
        }
        _ => (vec![WeightedSubset { subset: stable, weight: 100 }], None, None),
    };
    let mut subsets: Vec<String> = versions.iter().map(|v| v.version.clone()).collect();
    if let Some(t) = &state.transit {
        subsets.extend(t.subsets.iter().cloned());
    }

    Plan {
        name: canary.name.clone(),
        namespace: canary.namespace.clone(),
        output: canary.output.clone(),
        stage: match &state.transit {
            Some(t) => t.record.stage.clone(),
            None => stage_name,
        },
        annotations,
        service: canary.service.create.then(|| ServicePlan { name: canary.name.clone(), port: canary.service.port }),
        destination_rule: DestinationRulePlan { name: canary.name.clone(), host: canary.name.clone(), subsets },
        versions,
        virtual_service: VirtualServicePlan {
            name: canary.name.clone(),
            hosts: canary.hosts.clone(),
            gateways: canary.gateways.clone(),
            host: canary.name.clone(),
            match_route,
            weights,
            mirror,
        },
        carry: state.transit.as_ref().map(|t| t.carry.clone()).unwrap_or_default(),
        carried: BTreeMap::new(),
    }
}

fn version_plan(canary: &Canary, version: &spec::Version, role: &'static str, pods: Pods) -> VersionPlan {
    let deployment = format!("{}-{}", canary.name, version.version);
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
        image: version.image.clone(),
        deployment,
        replicas,
        hpa,
        pod_template: pod_template(canary, version),
    }
}

/// The spec's pod template with the `app` and `version` labels and the main container's image
/// set; without a template, one container named after the release that serves the port.
///
/// Cannot panic: validation guarantees the shapes (`metadata`, `labels`, `spec` mappings, a
/// non-empty list of containers with a main one), and where a shape were wrong anyway the part
/// is replaced, not unwrapped.
pub fn pod_template(canary: &Canary, version: &spec::Version) -> Value {
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
        _ => vec![json!({ "name": canary.name, "ports": [{ "containerPort": canary.service.port }] })],
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
    /// Pods per version: `10`, `hpa 3-10`, or `0`.
    pub pods: Vec<(String, String)>,
    /// What holds the release in this state: `approval`, a bake time such as `30m`, both or none.
    pub gate: Vec<String>,
}

impl Summary {
    /// The traffic as `(version, "90%")`.
    pub fn traffic_text(&self) -> Vec<(String, String)> {
        self.traffic.iter().map(|(v, w)| (v.clone(), format!("{w}%"))).collect()
    }
}

/// Summarizes a plan of `step`.
pub fn summarize(canary: &Canary, step: Step, plan: &Plan) -> Summary {
    let traffic = plan.virtual_service.weights.iter().map(|w| (w.subset.clone(), w.weight)).collect();
    let stage = match step {
        Step::Stage(i) => Some(&canary.stages[i]),
        _ => None,
    };
    let matches = stage.map(|s| s.matches.iter().map(match_text).collect()).unwrap_or_default();
    let pods = plan
        .versions
        .iter()
        .map(|v| {
            let text = match (&v.hpa, v.replicas) {
                (Some(h), _) => format!("hpa {}-{}", h.min_replicas, h.max_replicas),
                (None, Some(n)) => n.to_string(),
                (None, None) => "-".into(),
            };
            (v.version.clone(), text)
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
    let mirror = plan.virtual_service.mirror.as_ref().map(|m| mirror_text(m.percent.into(), &m.subset));
    Summary { state: plan.stage.clone(), traffic, matches, mirror, pods, gate }
}

/// A match entry in one line: its conditions joined by ` & `.
pub fn match_text(m: &spec::Match) -> String {
    let mut parts: Vec<String> =
        m.headers.iter().map(|(name, sm)| condition_text(name, sm.kind(), sm.value())).collect();
    if let Some(c) = &m.cookie {
        parts.push(format!("cookie {}={}", c.name, c.value));
    }
    if let Some(u) = &m.uri {
        parts.push(condition_text("uri", u.kind(), u.value()));
    }
    parts.join(" & ")
}

/// One condition of a match as every table shows it: `end-user=jason`, `uri^=/api`, `x~=a.*`.
/// `kind` is Istio's (`exact`, `prefix`, `regex`); any other reads `?`. The one rule for how a
/// match reads, whether it comes from a spec ([`match_text`]) or a rendered route
/// ([`crate::review`]).
pub fn condition_text(subject: &str, kind: &str, value: &str) -> String {
    let op = match kind {
        "exact" => "=",
        "prefix" => "^=",
        "regex" => "~=",
        _ => "?",
    };
    format!("{subject}{op}{value}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::spec::{Autoscaling, Match, Pause, ReplicaOverride, Service, Stage, Version};

    fn stage(name: &str, weight: u32, matched: bool, stable: Option<u32>, canary: Option<u32>) -> Stage {
        let mut matches = Vec::new();
        if matched {
            let mut m = Match::default();
            m.headers.insert("end-user".into(), StringMatch::Exact("jason".into()));
            matches.push(m);
        }
        Stage {
            name: name.into(),
            weight,
            matches,
            mirror: None,
            replicas: ReplicaOverride { stable, canary },
            pause: Pause::default(),
            at: Default::default(),
        }
    }

    /// A release `web` (v1 -> v2) with these pods and stages, for tests.
    pub(crate) fn release(replicas: u32, autoscaling: Option<Autoscaling>, stages: Vec<Stage>) -> Canary {
        Canary {
            name: "web".into(),
            namespace: "shop".into(),
            file: "c.yaml".into(),
            output: "out".into(),
            service: Service { port: 80, create: true },
            hosts: vec!["web".into()],
            gateways: vec![],
            stable: Version { version: "v1".into(), image: "web:1".into() },
            canary: Some(Version { version: "v2".into(), image: "web:2".into() }),
            replicas,
            autoscaling,
            template: json!({}),
            stages,
            warmup: crate::spec::DEFAULT_WARMUP,
            analysis: None,
            places: Default::default(),
        }
    }

    #[test]
    fn replica_rules() {
        let stages = vec![
            stage("m", 0, true, None, None),
            stage("a", 10, false, None, None),
            stage("b", 33, false, None, None),
            stage("none", 0, false, None, None),
            stage("c", 100, false, Some(0), None),
            stage("d", 50, false, Some(3), Some(7)),
        ];
        let c = release(10, None, stages);
        // (state, stable pods, canary pods)
        let table = [
            (Step::Steady, 10, None),
            (Step::Prepare, 10, Some(1)),
            (Step::Stage(0), 10, Some(1)), // a match is traffic: at least 1
            (Step::Stage(1), 10, Some(1)),
            (Step::Stage(2), 10, Some(4)), // ceil(3.3)
            (Step::Stage(3), 10, Some(0)), // no traffic, no pods
            (Step::Stage(4), 0, Some(10)),
            (Step::Stage(5), 3, Some(7)),
            (Step::Aborted, 10, Some(0)),
        ];
        for (step, stable, canary) in table {
            assert_eq!(pods(&c, step), (Pods(stable), canary.map(Pods)), "{step:?}");
        }
    }

    #[test]
    fn autoscaling_rules() {
        let a = Autoscaling { min_replicas: 3, max_replicas: 10, target_cpu_utilization_percentage: 80 };
        let c = release(
            1,
            Some(a),
            vec![
                stage("a", 10, false, None, None),
                stage("b", 100, false, Some(0), None),
                stage("c", 50, false, Some(4), None),
            ],
        );
        // (state, stable (replicas, hpa min), canary (replicas, hpa min))
        type Row = (Step, (Option<u32>, Option<u32>), Option<(Option<u32>, Option<u32>)>);
        let table: [Row; 6] = [
            (Step::Steady, (None, Some(3)), None),
            (Step::Prepare, (None, Some(3)), Some((None, Some(1)))),
            // Stage a already runs the HPA minimum stage b needs.
            (Step::Stage(0), (None, Some(3)), Some((None, Some(3)))),
            (Step::Stage(1), (Some(0), None), Some((None, Some(3)))),
            (Step::Stage(2), (None, Some(4)), Some((None, Some(2)))),
            (Step::Aborted, (None, Some(3)), Some((Some(0), None))),
        ];
        for (step, stable, canary) in table {
            let p = plan(&c, &State::new(step));
            let got = |v: &VersionPlan| (v.replicas, v.hpa.as_ref().map(|h| h.min_replicas));
            assert_eq!(got(&p.versions[0]), stable, "{step:?} stable");
            assert_eq!(p.versions.get(1).map(got), canary, "{step:?} canary");
            for v in &p.versions {
                if let Some(h) = &v.hpa {
                    assert_eq!(h.max_replicas, 10);
                }
            }
        }
    }

    #[test]
    fn routes_never_name_a_subset_the_same_state_creates() {
        let c = release(4, None, vec![stage("m", 0, true, None, None), stage("a", 50, false, None, None)]);
        let p = plan(&c, &State::new(Step::Prepare));
        assert_eq!(p.destination_rule.subsets, ["v1", "v2"]);
        assert_eq!(p.virtual_service.weights, [WeightedSubset { subset: "v1".into(), weight: 100 }]);
        assert!(p.virtual_service.match_route.is_none());

        let p = plan(&c, &State::new(Step::Stage(0)));
        let route = p.virtual_service.match_route.unwrap();
        assert_eq!(route.subset, "v2");
        assert_eq!(route.matches, [json!({"headers": {"end-user": {"exact": "jason"}}})]);

        let p = plan(&c, &State::new(Step::Stage(1)));
        let w: Vec<u32> = p.virtual_service.weights.iter().map(|w| w.weight).collect();
        assert_eq!(w, [50, 50]);

        let p = plan(&c, &State::new(Step::Steady));
        assert_eq!(p.destination_rule.subsets, ["v1"]);
        assert_eq!(p.versions.len(), 1);
    }

    #[test]
    fn pod_template_does_not_depend_on_the_state() {
        let c = release(4, None, vec![stage("a", 50, false, Some(2), None)]);
        let templates: Vec<Value> =
            Step::all(&c).into_iter().map(|s| plan(&c, &State::new(s)).versions[0].pod_template.clone()).collect();
        assert!(templates.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(templates[0]["metadata"]["labels"], json!({"app": "web", "version": "v1"}));
        assert_eq!(templates[0]["spec"]["containers"][0]["image"], json!("web:1"));
    }

    #[test]
    fn warnings_name_their_stage() {
        let c = release(
            10,
            None,
            vec![
                stage("a", 50, false, None, Some(2)),
                stage("b", 30, false, None, None),
                stage("c", 30, false, None, None),
                stage("d", 60, false, Some(1), None),
            ],
        );
        let found: Vec<String> = warnings(&c).into_iter().map(|p| p.message).collect();
        let expect = [
            "stage `a` gives the canary 50% of the traffic but 2 pods (its share of 10 is 5)",
            "stage `b` lowers the canary's weight from 50% to 30%",
            "stage `c` changes nothing from stage `b`",
            "stage `d` gives stable 40% of the traffic but 1 pods (its share of 10 is 4)",
        ];
        for e in expect {
            assert!(found.iter().any(|f| f.starts_with(e)), "{e}: {found:#?}");
        }
        assert_eq!(found.len(), 4, "{found:#?}");
    }
}

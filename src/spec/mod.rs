//! The first step of the pipeline: `Canary` specs read from YAML files, strictly, with the place
//! of every value kept, then validated into a [`Canary`] that the planner can trust. It imports
//! nothing of the pipeline after it (plan, render, check, diff, overlay, repo, commands); only
//! the helpers [`crate::problem`], [`crate::kube_schema`] and [`crate::re2`].
//!
//! Reading is strict on purpose: unknown fields, duplicate keys, `yes`/`no` booleans, anchors and
//! aliases beyond a small budget, nesting deeper than 64, files over 1 MiB and more than
//! [`MAX_RELEASES`] releases are errors. Validation collects every problem of every file.
//!
//! By job: this module holds the model (what a validated release is); [`load`] which files are
//! read and the checks across releases; `raw` the YAML model with places; `validate` a file's
//! documents turned into releases; `template` the pod template's checks; `rules` the rules on
//! single values, which [`crate::check`] shares; `router` what `spec.router` accepts; `ports`
//! the Service's ports and the protocol Istio reads from each; `parents` the gateways as
//! names or listeners and `gatewayAPIVersion`; `schema` the JSON Schema of a document, derived
//! from `raw`'s types, for editors.

mod analysis;
mod each;
mod editor_schema;
mod fleet;
mod load;
mod own;
mod parents;
mod ports;
mod raw;
mod router;
mod rules;
mod template;
mod validate;

#[cfg(test)]
mod fleet_tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::problem::Place;

pub use analysis::BUILTINS;
pub(crate) use each::{Broken, Loaded};
pub(crate) use editor_schema::schema;
pub(crate) use fleet::CLUSTER;
pub use fleet::{Cluster, Fleet, Member, Waves};
pub use load::{Scope, load_files};
pub(crate) use load::{load, load_each, load_files_each, no_specs, relative_specs};
pub(crate) use own::{CANARY_MATCH, CANARY_MIRROR, ISTIO_API_VERSIONS, SERVER_FIELDS};
pub(crate) use parents::ApiVersion;
pub use parents::{Gateway, GatewayApiVersion};
pub(crate) use ports::Protocol;
pub use ports::ServicePort;
pub use ports::TargetPort;
pub(crate) use router::{MAX_HOSTNAMES, MAX_PARENT_REFS, header_prefix_regex, path_refusal};
pub(crate) use rules::{
    HostRefusal, LABEL_KEY_RULE, binds_mesh, check_header_name, check_output_path, format_duration, host_refusals,
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_gateway, is_host, is_label_key, is_label_value,
    parse_duration, service_of,
};
pub(crate) use template::main_container;
pub use validate::{HTTP_METHODS, parse_file};

/// The only `apiVersion` this version of kanari reads.
pub(crate) const API_VERSION: &str = "kanari.dev/v1alpha1";
/// A spec file larger than this is refused before it is parsed.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// At most this many releases in one repository.
pub(crate) const MAX_RELEASES: usize = 10_000;
/// At most this many stages in one release.
pub(crate) const MAX_STAGES: usize = 64;
/// Replica counts above this are taken for typos.
pub(crate) const MAX_REPLICAS: i64 = 10_000;
/// `spec.warmup` when the spec does not say.
pub(crate) const DEFAULT_WARMUP: Duration = Duration::from_secs(60);
/// State names kanari uses itself; no stage may take one.
pub const RESERVED_STAGE_NAMES: [&str; 3] = ["steady", "prepare", "aborted"];

/// A release target: one validated `Canary` document.
#[derive(Clone, Debug, PartialEq)]
pub struct Canary {
    pub name: String,
    pub namespace: String,
    /// The spec file, relative to the repository root.
    pub file: PathBuf,
    /// The overlay directory, relative to the repository root.
    pub output: PathBuf,
    pub service: Service,
    pub hosts: Vec<String>,
    pub gateways: Vec<Gateway>,
    /// `spec.gatewayAPIVersion`: the Gateway API version of the cluster's CRDs, when given.
    pub gateway_api_version: Option<GatewayApiVersion>,
    /// Which resources carry the routes (`spec.router`).
    pub router: Router,
    pub stable: Version,
    pub canary: Option<Version>,
    /// Pods a version runs at 100% of traffic (without autoscaling).
    pub replicas: u32,
    pub autoscaling: Option<Autoscaling>,
    /// The pod template every version shares, as written (a mapping, possibly empty).
    pub template: Value,
    pub stages: Vec<Stage>,
    /// How long new pods get to become ready before a promote moves traffic onto them, and
    /// how long moved traffic gets to drain before the pods it left are scaled down.
    pub warmup: Duration,
    /// How the canary's health is judged from Prometheus, when the spec says.
    pub analysis: Option<Analysis>,
    /// Where parts of the spec are written, for warnings that point at them.
    pub places: Places,
    /// The user's own manifests that kanari's objects are made from (`from:`), read and
    /// checked with the spec.
    pub own: Own,
    /// More kinds the overlay may hold than kanari makes (`spec.extraKinds`): `Kind` (any API
    /// group) or `group/Kind`, for what a template of the repository's own adds.
    pub extra_kinds: Vec<String>,
    /// The fleet this release is an instance of (`spec.clusters`): its cluster and wave.
    pub fleet: Option<Member>,
}

/// The user's own manifests (`spec.virtualService`, `spec.destinationRule`, `spec.deployment`),
/// read from the same place as the spec (the work tree, or the spec's commit) when it is loaded,
/// so that planning and rendering stay pure.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Own {
    /// The VirtualService kept whole but for one HTTP route, and that route's name.
    pub virtual_service: Option<(Manifest, String)>,
    /// What the VirtualService's other routes to the release's Service do.
    pub other_routes: OtherRoutes,
    /// The DestinationRule whose traffic policy is kept; kanari sets the subsets.
    pub destination_rule: Option<Manifest>,
    /// The Deployment every version is made from; its pod template is [`Canary::template`].
    pub deployment: Option<Manifest>,
}

impl Own {
    /// The files the manifests come from, repository-relative.
    pub(crate) fn files(&self) -> Vec<&std::path::Path> {
        let vs = self.virtual_service.as_ref().map(|(m, _)| m);
        [vs, self.destination_rule.as_ref(), self.deployment.as_ref()]
            .into_iter()
            .flatten()
            .map(|m| m.file.as_path())
            .collect()
    }
}

/// `spec.virtualService.otherRoutes`: a route of the user's VirtualService other than the named
/// one that sends to the release's Service would reach both versions' pods behind kanari's back
/// (the Service selects them all), so kanari rewrites it too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OtherRoutes {
    /// Pinned to the stable subset, nothing else changed.
    #[default]
    Stable,
    /// The stage's split and mirror, as the named route.
    Follow,
}

/// One manifest of the user's: the object as written (fields the API server fills in dropped).
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// Repository-relative.
    pub file: PathBuf,
    pub object: Value,
}

/// How a release's canary is judged (`spec.analysis`).
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// The Prometheus base URL the spec names (`--prometheus` and `KANARI_PROMETHEUS_URL` win).
    pub prometheus: Option<String>,
    /// Fewer canary requests than this in the window: inconclusive.
    pub min_requests: u64,
    pub on_failure: OnFailure,
    /// The chance that a healthy canary is ever failed by a comparison during a stage.
    pub alpha: f64,
    /// How long a stage's checks may stay inconclusive before `on_inconclusive` decides.
    pub deadline: Duration,
    pub on_inconclusive: OnInconclusive,
    pub metrics: Vec<Metric>,
}

/// What a check still inconclusive past the deadline does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnInconclusive {
    /// Hold the release, saying "inconclusive past the deadline" (exit 3).
    Hold,
    /// Count the check as passed.
    Pass,
    /// Count the check as failed (with `onFailure: abort`, the release is aborted).
    Abort,
}

/// What a check's line says once it has stayed inconclusive past `analysis.deadline`: the words
/// `status` and `promote` repeat, for CI to alert on.
pub(crate) const PAST_DEADLINE: &str = "inconclusive past the deadline";

/// `spec.analysis.alpha` when the spec does not say.
pub(crate) const DEFAULT_ALPHA: f64 = 0.01;

/// What a failed check does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    /// Commit `aborted`, the failed check as the reason (exit 5).
    Abort,
    /// Hold the release where it is (exit 3).
    Hold,
}

/// One check of the analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: String,
    pub kind: MetricKind,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub margin: Option<Margin>,
    /// Where the check is written, for errors about its query.
    pub at: Place,
}

/// The builtins, or a query of the spec's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Percent of the canary's responses that are not 5xx.
    SuccessRate,
    /// The canary's 99th percentile latency, ms.
    LatencyP99,
    /// |observed canary share - the stage's weight|, percentage points.
    TrafficShare,
    /// The canary's error rate against stable's (confidence sequences), points or %.
    ErrorsVsStable,
    /// The canary's median latency against stable's (confidence sequences), ms or %.
    LatencyVsStable,
    /// A minijinja template of a PromQL query that returns one number.
    Query(String),
}

/// A margin: absolute (points, ms) or a percent of stable's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Margin {
    Absolute(f64),
    Percent(f64),
}

/// `spec.analysis.minRequests` when the spec does not say.
pub(crate) const DEFAULT_MIN_REQUESTS: u64 = 100;

/// Places in a spec that later checks (warnings) point at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Places {
    /// The `autoscaling` mapping, when the spec has one.
    pub autoscaling: Option<Place>,
    /// Each container of `template.spec.containers`, in order.
    pub containers: Vec<Place>,
    /// The `image` of each version, by version.
    pub images: Vec<(String, Place)>,
    /// Each Service port (`service.port`, or each entry of `service.ports`), in order.
    pub ports: Vec<Place>,
}

impl Canary {
    /// `namespace/name`, the name people and CI use for a release; `namespace/name@cluster`
    /// for an instance of a fleet.
    pub(crate) fn id(&self) -> String {
        match &self.fleet {
            Some(member) => format!("{}/{}@{}", self.namespace, self.name, member.cluster),
            None => format!("{}/{}", self.namespace, self.name),
        }
    }

    /// True when `selector` (`name` or `namespace/name`, each maybe with `@cluster`) names this
    /// release: a fleet's name names every instance, `name@cluster` one.
    pub(crate) fn is_named(&self, selector: &str) -> bool {
        let (selector, cluster) = split_cluster(selector);
        let mine = self.fleet.as_ref().map(|m| m.cluster.as_str());
        selects(selector, &self.namespace, &self.name) && (cluster.is_none() || cluster == mine)
    }

    pub(crate) fn stage(&self, name: &str) -> Option<(usize, &Stage)> {
        self.stages.iter().enumerate().find(|(_, s)| s.name == name)
    }
}

/// A selector without its `@cluster`, and the cluster.
pub(crate) fn split_cluster(selector: &str) -> (&str, Option<&str>) {
    match selector.rsplit_once('@') {
        Some((release, cluster)) => (release, Some(cluster)),
        None => (selector, None),
    }
}

/// True when `selector` (`name` or `namespace/name`, each maybe with `@cluster`) names the
/// release `namespace/name` (an instance's name has its `@cluster`; a fleet whose spec does not
/// load is named by its name alone, and any of its instances' names selects it).
pub(crate) fn selects(selector: &str, namespace: &str, name: &str) -> bool {
    let (name, theirs) = split_cluster(name);
    let (selector, mine) = split_cluster(selector);
    if let (Some(a), Some(b)) = (mine, theirs)
        && a != b
    {
        return false;
    }
    match selector.split_once('/') {
        Some((ns, n)) => ns == namespace && n == name,
        None => selector == name,
    }
}

/// True when `selector` names the release of `id` (`namespace/name`).
pub(crate) fn selects_id(selector: &str, id: &str) -> bool {
    id.split_once('/').is_some_and(|(namespace, name)| selects(selector, namespace, name))
}

/// Which resources route a release's traffic (`spec.router`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Router {
    /// A DestinationRule with a subset per version and a VirtualService.
    #[default]
    Istio,
    /// A Gateway API `HTTPRoute` over one Service per version.
    GatewayApi {
        /// `spec.hosts` as written (none when the spec gives none): the route's `hostnames`.
        hostnames: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// At least one; the first is the port the release routes ([`Service::routed`]).
    pub ports: Vec<ServicePort>,
    /// Render the Kubernetes Service too.
    pub create: bool,
}

impl Service {
    /// The port the release's routes send to: the first.
    pub(crate) fn routed(&self) -> &ServicePort {
        &self.ports[0]
    }
}

/// One version of the workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The `version` label: any label value (`v2`, `6.5.0`, `2024_11`). The recorded state and
    /// the analysis name versions by it.
    pub version: String,
    pub image: String,
    /// The name of the version's objects: its subset, the suffix of its Deployment and HPA
    /// (`<release>-<name>`), and with the Gateway API its Service. A DNS-1123 label: the spec's
    /// `subset`, or the version with `.` and `_` turned into `-`.
    pub name: String,
}

/// The object name a version gets when the spec sets no `subset`: `6.5.0` → `6-5-0`.
pub(crate) fn object_name(version: &str) -> String {
    version.replace(['.', '_'], "-")
}

/// The name of a release's object for one version (its Deployment, HPA, per-version Service):
/// `<release>-<name>`, `name` being the version's object name ([`object_name`], or its `subset`).
pub(crate) fn version_object(release: &str, name: &str) -> String {
    format!("{release}-{name}")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Autoscaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub target_cpu_utilization_percentage: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stage {
    pub name: String,
    /// Percent of the traffic that no match took which goes to the canary.
    pub weight: u32,
    /// Requests matching any of these go to the canary.
    pub matches: Vec<Match>,
    /// A mirror stage: stable serves every request and this percent of them is copied to the
    /// canary, its responses dropped. Such a stage has no weight above 0 and no match.
    pub mirror: Option<u32>,
    /// A mirror stage's copies are of the requests that match any of these (all when empty).
    pub mirror_matches: Vec<Match>,
    pub replicas: ReplicaOverride,
    pub pause: Pause,
    /// Where the stage's name is written.
    pub at: Place,
}

impl Stage {
    /// The percent of the requests the canary serves, routed or mirrored: what its pods are
    /// planned for. The weight, or in a mirror stage the mirrored percent.
    pub(crate) fn canary_load(&self) -> u32 {
        self.mirror.unwrap_or(self.weight)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaOverride {
    pub stable: Option<u32>,
    pub canary: Option<u32>,
}

/// What guards the way out of a stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pause {
    pub approval: bool,
    pub duration: Option<Duration>,
}

/// One match entry: every field must hold (AND); entries of a stage are ORed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Match {
    pub headers: BTreeMap<String, StringMatch>,
    pub cookie: Option<Cookie>,
    pub uri: Option<StringMatch>,
    /// The HTTP method, upper case (`GET`).
    pub method: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StringMatch {
    Exact(String),
    Prefix(String),
    Regex(String),
}

impl StringMatch {
    /// Istio's field name for this kind of match.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            StringMatch::Exact(_) => "exact",
            StringMatch::Prefix(_) => "prefix",
            StringMatch::Regex(_) => "regex",
        }
    }

    pub(crate) fn value(&self) -> &str {
        match self {
            StringMatch::Exact(v) | StringMatch::Prefix(v) | StringMatch::Regex(v) => v,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
}

impl Cookie {
    /// The usual regex on the `cookie` header that finds `name=value` among the cookies.
    pub fn header_regex(&self) -> String {
        format!("^(.*?;\\s*)?({}={})(;.*)?$", regex::escape(&self.name), regex::escape(&self.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_regex_escapes_and_matches() {
        let c = Cookie { name: "user".into(), value: "a.b".into() };
        let re = regex::Regex::new(&c.header_regex()).unwrap();
        assert!(re.is_match("user=a.b"));
        assert!(re.is_match("x=1; user=a.b; y=2"));
        assert!(!re.is_match("user=axb"));
        assert!(!re.is_match("xuser=a.b"));
    }
}

/// The table tests of the spec's rules: a base spec edited one way per row, and the problem each
/// edit must raise, at its line and column.
#[cfg(test)]
pub(crate) mod table {
    use std::path::Path;

    /// A release routed with the Gateway API, the base of the router's and the parents' tables.
    pub(crate) const GATEWAY_BASE: &str = "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  router: gateway-api
  service: {port: 8080}
  stable: {version: v1, image: web:1}
  canary: {version: v2, image: web:2}
  stages:
    - name: one
      weight: 10
";

    /// Every problem of `yaml` as `line:column message`.
    pub(crate) fn problems_of(yaml: &str) -> Vec<String> {
        let (_, problems) = super::parse_file(Path::new("c.yaml"), yaml);
        problems.0.iter().map(|p| format!("{}:{} {}", p.location.line, p.location.column, p.message)).collect()
    }

    /// Each row of `table`: (replace this text of `base`, with this, expect a problem containing
    /// this, at line:column). Fails naming every row whose problem was not found.
    pub(crate) fn check(base: &str, table: &[(&str, &str, &str, &str)]) {
        let mut wrong = Vec::new();
        for (from, to, expect, at) in table {
            assert!(base.contains(from), "{from}");
            let found = problems_of(&base.replacen(from, to, 1));
            if !found.iter().any(|p| p.contains(expect) && p.starts_with(&format!("{at} "))) {
                wrong.push(format!("{to:?}: expected `{expect}` at {at}, got {found:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}

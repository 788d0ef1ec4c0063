//! Spec files read as YAML into raw documents: the serde model with the place of every value,
//! read strictly, and the YAML reader's errors turned into problems at their places. Nothing
//! here judges values; [`super::validate`] does. Like all of `spec`, it imports no later step
//! of the pipeline.
//!
//! Numbers are read as i64 so a wrong one gets a message about its range rather than serde's
//! "invalid u32". The derived `JsonSchema` is `kanari schema` (see `super::schema`): the doc
//! comments are its descriptions, and each `S<T>` field says `schemars(with = T)`.

use std::collections::HashMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::API_VERSION;
use super::editor_schema::PodTemplate;
use crate::kube_schema::Node;
use crate::problem::{Problem, Problems};

pub(super) type S<T> = Spanned<T>;

/// A kanari Canary: one release of one service, from its stable version to its canary through the stages.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Canary")]
pub(super) struct RawDoc {
    /// `kanari.dev/v1alpha1`.
    #[schemars(with = "String", extend("const" = API_VERSION))]
    pub(super) api_version: S<String>,
    /// `Canary`.
    #[schemars(with = "String", extend("const" = "Canary"))]
    pub(super) kind: S<String>,
    pub(super) metadata: RawMetadata,
    pub(super) spec: RawSpec,
}

/// The release's name and namespace.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Metadata")]
pub(super) struct RawMetadata {
    /// A DNS-1035 label; names the Service, VirtualService, DestinationRule and the `<name>-<subset>` Deployments.
    #[schemars(with = "String")]
    pub(super) name: S<String>,
    /// A DNS-1123 label (default `default`).
    #[schemars(with = "Option<String>")]
    pub(super) namespace: Option<S<String>>,
}

/// What the release runs and how its traffic moves from stable to canary.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Spec")]
pub(super) struct RawSpec {
    /// The repository-relative overlay folder (default `overlays/<namespace>/<name>`); no `..`, not in `.git`.
    #[schemars(with = "Option<String>")]
    pub(super) output: Option<S<String>>,
    /// The Kubernetes Service of the release.
    #[schemars(with = "RawService")]
    pub(super) service: S<RawService>,
    /// VirtualService hosts (default `[<name>]`); with `router: gateway-api`, the HTTPRoute's hostnames (default none).
    #[schemars(with = "Option<Vec<String>>")]
    pub(super) hosts: Option<Vec<S<String>>>,
    /// VirtualService gateways, `name` or `namespace/name` (default none: the mesh); with `router: gateway-api`, the HTTPRoute's parents, each also `{name, namespace, sectionName, port}` to attach to one listener.
    #[schemars(with = "Option<Vec<RawGateway>>")]
    pub(super) gateways: Option<Vec<S<RawGateway>>>,
    /// With `router: gateway-api`, the Gateway API version of the cluster's CRDs (`v1.2.0`): `lint` warns when a stage renders a field newer than it.
    #[serde(rename = "gatewayAPIVersion")]
    #[schemars(with = "Option<String>")]
    pub(super) gateway_api_version: Option<S<String>>,
    /// `istio` (default: a DestinationRule and a VirtualService) or `gateway-api` (an HTTPRoute over one Service per version).
    #[schemars(with = "Option<super::editor_schema::RouterSchema>")]
    pub(super) router: Option<S<String>>,
    /// The version that takes all the traffic in the steady state.
    pub(super) stable: RawVersion,
    /// The new version; leave it out for the steady state.
    pub(super) canary: Option<RawVersion>,
    /// Pods a version runs at 100% of the traffic (default 1; not with `autoscaling`).
    #[schemars(with = "Option<i64>")]
    pub(super) replicas: Option<S<i64>>,
    /// One HorizontalPodAutoscaler per version, in place of `replicas`.
    #[schemars(with = "Option<RawAutoscaling>")]
    pub(super) autoscaling: Option<S<RawAutoscaling>>,
    /// The pod template every version shares (`metadata`, `spec`), a Kubernetes PodTemplateSpec; kanari adds the `app` and `version` labels and sets the image of the container named `<name>` (or the only one).
    #[schemars(with = "Option<PodTemplate>")]
    pub(super) template: Option<Node>,
    /// How long new pods get before a promote moves traffic onto them, and moved traffic before the pods it left go (default `1m`; `0s` turns the wait off).
    #[schemars(with = "Option<String>")]
    pub(super) warmup: Option<S<String>>,
    /// How the canary's health is judged from its metrics in Prometheus.
    #[schemars(with = "Option<RawAnalysis>")]
    pub(super) analysis: Option<S<RawAnalysis>>,
    /// The clusters of a fleet: the release runs in each, wave after wave (`{name, wave, replicas?, autoscaling?, prometheus?}`); `output` then holds `{cluster}`.
    #[schemars(with = "Option<Vec<super::fleet::RawCluster>>")]
    pub(super) clusters: Option<S<Vec<S<super::fleet::RawCluster>>>>,
    /// What holds a fleet's next wave once a wave has passed its last stage: `bake`, `approval`.
    #[schemars(with = "Option<super::fleet::RawWaves>")]
    pub(super) waves: Option<S<super::fleet::RawWaves>>,
    /// The stages a release goes through, in order.
    #[serde(default)]
    #[schemars(with = "Vec<RawStage>")]
    pub(super) stages: Vec<S<RawStage>>,
    /// Your own VirtualService, kept whole but for the HTTP route `route`; then leave out `hosts` and `gateways`.
    #[schemars(with = "Option<RawVirtualServiceFrom>")]
    pub(super) virtual_service: Option<S<RawVirtualServiceFrom>>,
    /// Your own DestinationRule, kanari setting its subsets.
    #[schemars(with = "Option<RawFrom>")]
    pub(super) destination_rule: Option<S<RawFrom>>,
    /// Your own Deployment as the template of every version; not with `template`.
    #[schemars(with = "Option<RawFrom>")]
    pub(super) deployment: Option<S<RawFrom>>,
    /// More kinds the overlay may hold, for what a template of your own adds: `ConfigMap` (any API group) or `group/Kind` (`rbac.authorization.k8s.io/Role`; `core/ConfigMap` for the core group). The overlay holds only the kinds kanari makes, those of your `from:` manifests and these.
    #[schemars(with = "Option<Vec<String>>")]
    pub(super) extra_kinds: Option<Vec<S<String>>>,
}

/// `spec.destinationRule` and `spec.deployment`: the user's own manifest, by file.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "From")]
pub(super) struct RawFrom {
    /// The manifest's file, repository-relative.
    #[schemars(with = "String")]
    pub(super) from: S<String>,
}

/// `spec.virtualService`: the user's own VirtualService and the HTTP route kanari rewrites.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "VirtualServiceFrom")]
pub(super) struct RawVirtualServiceFrom {
    /// The VirtualService's file, repository-relative.
    #[schemars(with = "String")]
    pub(super) from: S<String>,
    /// The name of the HTTP route whose destinations kanari sets.
    #[schemars(with = "String")]
    pub(super) route: S<String>,
    /// Your VirtualService's other routes that send to the release's Service: `stable` (default: pinned to the stable subset, nothing else changed) or `follow` (the stage's split and mirror).
    #[serde(rename = "otherRoutes")]
    #[schemars(with = "Option<OtherRoutesSchema>")]
    pub(super) other_routes: Option<S<String>>,
}

/// What kanari does with a VirtualService's other routes to the release's Service.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "OtherRoutes")]
#[allow(dead_code)]
pub(super) enum OtherRoutesSchema {
    /// Pinned to the stable subset, nothing else changed.
    Stable,
    /// The stage's split and mirror, as the named route.
    Follow,
}

/// The release's Service: `port` (one port, its protocol taken from the container port it targets, else HTTP) or `ports`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Service")]
pub(super) struct RawService {
    /// The service port (1-65535); without a template, also the container port. Named after the container port it targets when that name is a protocol Istio knows (`https`, `grpc`...), else `http`. Not with `ports`.
    #[schemars(with = "Option<i64>")]
    pub(super) port: Option<S<i64>>,
    /// Every port of the Service, the first the one the release routes (it must be HTTP for a canary). Not with `port`.
    #[schemars(with = "Option<Vec<RawServicePort>>")]
    pub(super) ports: Option<Vec<S<RawServicePort>>>,
    /// Render the Kubernetes Service too (default `true`).
    pub(super) create: Option<bool>,
}

/// One port of the Service. Istio reads its protocol from `appProtocol`, else from the name (`<protocol>` or `<protocol>-<suffix>`: `http`, `http2`, `grpc`, `grpc-web`, `https`, `tls`, `tcp`...).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "ServicePort")]
pub(super) struct RawServicePort {
    /// The port's name: at most 15 characters of a-z, 0-9 and `-`, unique.
    #[schemars(with = "String")]
    pub(super) name: S<String>,
    /// The Service's port (1-65535).
    #[schemars(with = "i64")]
    pub(super) port: S<i64>,
    /// The pods' port: a number, or the name of a container port of the pod template (default: `port`).
    #[schemars(with = "Option<RawTargetPort>")]
    pub(super) target_port: Option<S<RawTargetPort>>,
    /// The port's application protocol (`http`, `grpc`, `https`, `kubernetes.io/h2c`...), which Istio reads before the name.
    #[schemars(with = "Option<String>")]
    pub(super) app_protocol: Option<S<String>>,
}

/// A port number, or the name of a container port.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "TargetPort")]
pub(super) enum RawTargetPort {
    Number(i64),
    Name(String),
}

/// A gateway: `name` or `namespace/name`, or with `router: gateway-api` a parent reference to a Gateway's listener.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Gateway")]
pub(super) enum RawGateway {
    Name(String),
    Ref(RawGatewayRef),
}

/// A Gateway as an HTTPRoute's parent (`router: gateway-api`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "GatewayRef")]
pub(super) struct RawGatewayRef {
    /// The Gateway's name.
    pub(super) name: String,
    /// The Gateway's namespace (default: the release's).
    pub(super) namespace: Option<String>,
    /// The name of the Gateway's listener to attach to.
    pub(super) section_name: Option<String>,
    /// The port of the Gateway's listeners to attach to (Gateway API v1.1.0 and later).
    pub(super) port: Option<i64>,
}

/// A version of the release.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Version")]
pub(super) struct RawVersion {
    /// The `version` label (any label value: `v2`, `6.5.0`, `2024_11`).
    #[schemars(with = "String")]
    pub(super) version: S<String>,
    /// The container image.
    #[schemars(with = "String")]
    pub(super) image: S<String>,
    /// The name of the version's objects (subset, Deployment and HPA suffix); default: the version with `.` and `_` turned into `-`.
    #[schemars(with = "Option<String>")]
    pub(super) subset: Option<S<String>>,
}

/// One HorizontalPodAutoscaler per version.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Autoscaling")]
pub(super) struct RawAutoscaling {
    /// The stable HPA's minimum; the canary's is this times the stage's weight, at least 1.
    #[schemars(with = "i64")]
    pub(super) min_replicas: S<i64>,
    /// The HPA's maximum.
    #[schemars(with = "i64")]
    pub(super) max_replicas: S<i64>,
    /// The CPU utilisation the HPA aims at, in percent of the pods' CPU requests.
    #[serde(rename = "targetCPUUtilizationPercentage")]
    #[schemars(with = "i64")]
    pub(super) target_cpu_utilization_percentage: S<i64>,
}

/// One stage of the release: where the traffic goes, and what must hold before it leaves.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Stage")]
pub(super) struct RawStage {
    /// The stage's name: unique, not `steady`, `prepare` or `aborted`, safe as a folder name.
    #[schemars(with = "String")]
    pub(super) name: S<String>,
    /// Percent (0-100) of the traffic no match took that goes to the canary (default 0).
    #[schemars(with = "Option<i64>")]
    pub(super) weight: Option<S<i64>>,
    /// Percent (1-100) of the traffic copied to the canary, its responses dropped; stable keeps it all. Or `{percent, match}`: only the requests that match are copied (`match: [{method: GET}]` copies no writes). Not with a weight above 0 or a stage match.
    #[schemars(with = "Option<MirrorSchema>")]
    pub(super) mirror: Option<S<RawMirror>>,
    /// Requests that go to the canary in this stage only (a later stage without `match` sends them by its weight: repeat the match where it should hold): entries ORed, the fields of one entry ANDed.
    #[serde(rename = "match", default)]
    #[schemars(with = "Vec<RawMatch>")]
    pub(super) matches: Vec<S<RawMatch>>,
    /// Overrides of the computed pod counts (HPA minimums with autoscaling).
    pub(super) replicas: Option<RawReplicaOverride>,
    /// What must hold before the release leaves the stage.
    pub(super) pause: Option<RawPause>,
}

/// Overrides of a stage's computed pod counts.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ReplicaOverride")]
pub(super) struct RawReplicaOverride {
    /// The stable version's pods in this stage.
    #[schemars(with = "Option<i64>")]
    pub(super) stable: Option<S<i64>>,
    /// The canary's pods in this stage.
    #[schemars(with = "Option<i64>")]
    pub(super) canary: Option<S<i64>>,
}

/// The gates of a stage.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Pause")]
pub(super) struct RawPause {
    /// Wait for `kanari approve`.
    pub(super) approval: Option<bool>,
    /// How long the stage bakes before a promote may leave it (`30m`, `1h`).
    #[schemars(with = "Option<String>")]
    pub(super) duration: Option<S<String>>,
}

/// One match entry; its fields are ANDed.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Match")]
pub(super) struct RawMatch {
    // Keys with their places, so that a bad header name is shown where it is written.
    /// Request headers by lowercase name, each with one of `exact`, `prefix` or `regex`.
    #[schemars(with = "Option<HashMap<String, RawStringMatch>>")]
    pub(super) headers: Option<HashMap<S<String>, S<RawStringMatch>>>,
    /// A cookie's name and value.
    pub(super) cookie: Option<RawCookie>,
    /// The request's path, with one of `exact`, `prefix` or `regex`.
    #[schemars(with = "Option<RawStringMatch>")]
    pub(super) uri: Option<S<RawStringMatch>>,
    /// The request's HTTP method, exactly (`GET`, `HEAD`, `POST`, `PUT`, `DELETE`, `CONNECT`, `OPTIONS`, `TRACE`, `PATCH`).
    #[schemars(with = "Option<HttpMethod>")]
    pub(super) method: Option<S<String>>,
}

/// An HTTP method, as Gateway API names them.
#[derive(JsonSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub(super) enum HttpMethod {
    GET,
    HEAD,
    POST,
    PUT,
    DELETE,
    CONNECT,
    OPTIONS,
    TRACE,
    PATCH,
}

/// A stage's `mirror`: a percent, or a percent of the requests that match.
pub(super) enum RawMirror {
    Percent(i64),
    Copy { percent: S<i64>, matches: Vec<S<RawMatch>> },
}

// By hand: an untagged enum would lose the places serde-saphyr keeps for `S<T>`.
impl<'de> Deserialize<'de> for RawMirror {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawMirror;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a percent (1-100) or a mapping with `percent` and `match`")
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawMirror, E> {
                Ok(RawMirror::Percent(v))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawMirror, E> {
                Ok(RawMirror::Percent(i64::try_from(v).unwrap_or(i64::MAX)))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawMirror, A::Error> {
                use serde::de::Error;
                let (mut percent, mut matches) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "percent" if percent.is_none() => percent = Some(map.next_value::<S<i64>>()?),
                        "match" if matches.is_none() => matches = Some(map.next_value::<Vec<S<RawMatch>>>()?),
                        "percent" | "match" => return Err(A::Error::duplicate_field("percent")),
                        other => return Err(A::Error::unknown_field(other, &["percent", "match"])),
                    }
                }
                let percent = percent.ok_or_else(|| A::Error::missing_field("percent"))?;
                Ok(RawMirror::Copy { percent, matches: matches.unwrap_or_default() })
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// A stage's `mirror`: a percent of the requests, or a percent of the requests that match.
#[derive(JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Mirror")]
#[allow(dead_code)]
pub(super) enum MirrorSchema {
    /// Percent (1-100) of the requests copied to the canary.
    Percent(#[schemars(range(min = 1, max = 100))] i64),
    /// Percent of the requests that match copied to the canary.
    Copy(MirrorCopySchema),
}

/// Percent (1-100) of the requests that match copied to the canary.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MirrorCopy")]
#[allow(dead_code)]
pub(super) struct MirrorCopySchema {
    /// Percent (1-100) of the matching requests copied.
    #[schemars(range(min = 1, max = 100))]
    percent: i64,
    /// The requests that are copied: entries ORed, the fields of one entry ANDed.
    #[serde(rename = "match", default)]
    matches: Vec<RawMatch>,
}

/// Exactly one of `exact`, `prefix` or `regex`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "StringMatch")]
pub(super) struct RawStringMatch {
    /// The whole value.
    #[schemars(with = "Option<String>")]
    pub(super) exact: Option<S<String>>,
    /// The start of the value; not empty.
    #[schemars(with = "Option<String>")]
    pub(super) prefix: Option<S<String>>,
    /// An RE2 regex the whole value matches (at most 1,024 characters).
    #[schemars(with = "Option<String>")]
    pub(super) regex: Option<S<String>>,
}

/// A cookie the request carries.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cookie")]
pub(super) struct RawCookie {
    /// The cookie's name.
    #[schemars(with = "String")]
    pub(super) name: S<String>,
    /// The cookie's value, exactly.
    #[schemars(with = "String")]
    pub(super) value: S<String>,
}

/// The documents of one spec file; the problems that make it unreadable (a lone carriage
/// return, YAML that does not parse or does not fit the model) otherwise. `file` is the path
/// shown in problems.
pub(super) fn read_docs(file: &Path, source: &str) -> Result<Vec<RawDoc>, Problems> {
    let mut problems = Problems::default();
    // YAML ends a line at a lone CR too, where editors, `git diff` and our own `file:line`
    // count only LF: one rule for both, by refusing the lone CR (CRLF is fine).
    if let Some(at) = source.match_indices('\r').map(|(i, _)| i).find(|&i| !source[i + 1..].starts_with('\n')) {
        let before = &source[..at];
        let line = before.matches('\n').count() as u64 + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
        let message =
            "a carriage return that does not end a line with a line feed: save the file with LF (or CRLF) line ends";
        problems.push(Problem::at(file, source, line, column, message));
        return Err(problems);
    }
    match serde_saphyr::from_multiple_with_options(source, yaml_options()) {
        Ok(docs) => Ok(docs),
        Err(e) => {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
            let strangers = not_canaries(file, source);
            // The error is explained by a document that is no Canary, when it is in one.
            let in_stranger = strangers.iter().any(|(from, to, _)| (*from..*to).contains(&line));
            problems.0.extend(strangers.into_iter().map(|(_, _, problem)| problem));
            if !in_stranger {
                let tab = yaml_message(&e).contains("tab");
                problems.push(match tab_in_indentation(source, line).filter(|_| tab) {
                    Some((line, column)) => {
                        Problem::at(file, source, line, column, "a tab in indentation: YAML indents with spaces only")
                    }
                    None => Problem::at(file, source, line, column, yaml_message(&e)),
                });
            }
            Err(problems)
        }
    }
}

pub(super) fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_aliases: 64,
            max_anchors: 64,
            max_depth: 64,
            max_documents: 256,
            max_nodes: 200_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 10_000,
            max_replay_stack_depth: 8,
            max_alias_expansions_per_anchor: 64,
        },
    }
}

/// The YAML parser reports such a tab at the start of the scalar it was reading, often on the
/// line above; this finds the tab itself.
fn tab_in_indentation(source: &str, from: u64) -> Option<(u64, u64)> {
    source.lines().enumerate().skip(from.saturating_sub(1) as usize).find_map(|(i, line)| {
        let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        let content = !line.trim().is_empty();
        let tab = indent.find('\t')?;
        content.then_some((i as u64 + 1, indent[..tab].chars().count() as u64 + 1))
    })
}

/// The header of any YAML document: what it is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHead {
    api_version: Option<S<String>>,
    kind: Option<S<String>>,
}

/// What a document that is not a kanari `Canary` is, as a problem at its `kind`, or `None`.
pub(super) fn not_a_canary(kind: &S<String>, api_version: Option<&S<String>>) -> Option<String> {
    let version = api_version.map_or("", |v| v.value.as_str());
    if kind.value == "Canary" && version == API_VERSION {
        return None;
    }
    let article = if kind.value.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" };
    let version = if version.is_empty() { "no apiVersion".to_string() } else { version.to_string() };
    Some(format!(
        "{article} {} ({version}), not a {API_VERSION} Canary: the specs folder holds Canary documents only",
        kind.value
    ))
}

/// The documents of `source` that are not Canaries, when it reads as YAML at all: for each,
/// the lines it spans (from its first known line to the next document's) and its problem.
fn not_canaries(file: &Path, source: &str) -> Vec<(u64, u64, Problem)> {
    let Ok(heads) = serde_saphyr::from_multiple_with_options::<RawHead>(source, yaml_options()) else {
        return Vec::new();
    };
    let first_line = |h: &RawHead| {
        [h.api_version.as_ref(), h.kind.as_ref()].into_iter().flatten().map(|v| v.referenced.line()).min()
    };
    let starts: Vec<u64> = heads.iter().map(|h| first_line(h).unwrap_or(u64::MAX)).collect();
    let mut found = Vec::new();
    for (i, head) in heads.iter().enumerate() {
        let Some(kind) = &head.kind else { continue };
        if let Some(message) = not_a_canary(kind, head.api_version.as_ref()) {
            let from = if i == 0 { 1 } else { starts[i] };
            let to = starts[i + 1..].iter().copied().find(|&l| l != u64::MAX).unwrap_or(u64::MAX);
            let at = &kind.referenced;
            found.push((from, to, Problem::at(file, source, at.line(), at.column(), message)));
        }
    }
    found
}

/// serde-saphyr's message without its own `at line L, column C`, which we print in front, and
/// with the names Rust gives numbers turned into words.
pub(super) fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let text = text.lines().next().unwrap_or("").to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let text = text.trim_start_matches("error: ").to_string();
    if let Some(rest) = text.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return format!("duplicate key `{key}`: a key may appear once in a mapping");
    }
    if let Some(message) = super::fleet::unknown_cluster_field(&text) {
        return message;
    }
    if text.starts_with("invalid i64") {
        return "expected a whole number".to_string();
    }
    if text.contains("budget breached") || text.contains("alias") {
        return format!("{text}: specs may use at most 64 anchors and aliases and nest at most 64 levels deep");
    }
    if text.contains("recursion limit") {
        return format!("{text}: specs may nest at most 64 levels deep");
    }
    text
}

/// How the canary's health is judged from its metrics in Prometheus.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Analysis")]
pub(super) struct RawAnalysis {
    /// The Prometheus to query (or `--prometheus URL`, KANARI_PROMETHEUS_URL).
    #[schemars(with = "Option<String>")]
    pub(super) prometheus: Option<S<String>>,
    /// Fewer canary requests in the window make a check inconclusive (default 100).
    #[schemars(with = "Option<i64>")]
    pub(super) min_requests: Option<S<i64>>,
    /// `abort` (default: a failed check aborts the release) or `hold`.
    #[schemars(with = "Option<super::editor_schema::OnFailureSchema>")]
    pub(super) on_failure: Option<S<String>>,
    /// The chance that a healthy canary is ever failed by a comparison during a whole stage, however often it is looked at (default 0.01).
    #[schemars(with = "Option<f64>")]
    pub(super) alpha: Option<S<f64>>,
    /// How long a stage's checks may stay inconclusive before `onInconclusive` decides (default: three times the longest bake, at least `1h`).
    #[schemars(with = "Option<String>")]
    pub(super) deadline: Option<S<String>>,
    /// What an inconclusive check does past the deadline: `hold` (default, and loudly), `pass` or `abort`.
    #[schemars(with = "Option<super::editor_schema::OnInconclusiveSchema>")]
    pub(super) on_inconclusive: Option<S<String>>,
    /// The checks, each a builtin or your own PromQL query.
    #[serde(default)]
    #[schemars(with = "Vec<RawMetric>")]
    pub(super) metrics: Vec<S<RawMetric>>,
}

/// One check of the analysis.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Metric")]
pub(super) struct RawMetric {
    /// The check's name, in verdicts and commit messages.
    #[schemars(with = "String")]
    pub(super) name: S<String>,
    /// The name of a builtin check, such as `success-rate`, `latency-p99` or `errors-vs-stable`.
    #[schemars(with = "Option<super::editor_schema::BuiltinSchema>")]
    pub(super) builtin: Option<S<String>>,
    /// Your own PromQL query returning one number, a template over `namespace`, `canary`, `window` and the like.
    #[schemars(with = "Option<String>")]
    pub(super) query: Option<S<String>>,
    /// The least value that passes.
    #[schemars(with = "Option<f64>")]
    pub(super) min: Option<S<f64>>,
    /// The greatest value that passes.
    #[schemars(with = "Option<f64>")]
    pub(super) max: Option<S<f64>>,
    /// A number (points, or ms) or a percent of stable's value (`10%`).
    #[schemars(with = "Option<RawMargin>")]
    pub(super) margin: Option<S<RawMargin>>,
}

/// A number (points, or ms) or a percent of stable's value (`10%`).
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Margin")]
pub(super) enum RawMargin {
    Number(f64),
    Text(String),
}

//! The user's own manifests (`from:`): the spec's `virtualService`, `destinationRule` and
//! `deployment` blocks checked with the rest of a document, then the files they name read (from
//! the work tree or the spec's commit, through a [`ReadFile`]) and checked once the spec file
//! is validated: the kind each must be, the named HTTP route and the release's host. Every
//! problem with a file is shown at the spec value that names it (`from:` or `route:`); a
//! problem inside a Deployment's pod template at its own place in that file. Like all of
//! `spec`, it imports no later step of the pipeline.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::load::ReadFile;
use super::raw::{RawSpec, S, yaml_message, yaml_options};
use super::rules::{check_output_path, service_of};
use super::template::main_container;
use super::validate::Validator;
use super::{Canary, MAX_FILE_BYTES, Manifest, Match, OtherRoutes};
use crate::kube_schema::{Node, NodeValue};
use crate::problem::{Place, Problem, Problems};

/// The name of kanari's route for a stage's matches, which a user's route may not take.
pub(crate) const CANARY_MATCH: &str = "canary-match";
/// The name of kanari's route for a mirror's matches (the requests it copies), likewise.
pub(crate) const CANARY_MIRROR: &str = "canary-mirror";
/// The Istio API versions a user's VirtualService or DestinationRule may be written in.
pub(crate) const ISTIO_API_VERSIONS: [&str; 3] =
    ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];
/// `metadata` fields the API server fills in, dropped from a manifest exported from a cluster.
pub(crate) const SERVER_FIELDS: [&str; 6] =
    ["creationTimestamp", "generation", "managedFields", "resourceVersion", "selfLink", "uid"];

/// Which of the user's manifests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    VirtualService,
    DestinationRule,
    Deployment,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::VirtualService => "spec.virtualService",
            Kind::DestinationRule => "spec.destinationRule",
            Kind::Deployment => "spec.deployment",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::VirtualService => "VirtualService",
            Kind::DestinationRule => "DestinationRule",
            Kind::Deployment => "Deployment",
        }
    }

    fn api_versions(self) -> &'static [&'static str] {
        match self {
            Kind::Deployment => &["apps/v1"],
            _ => &ISTIO_API_VERSIONS,
        }
    }
}

/// A file a release names with `from:`, read once its spec file is validated.
#[derive(Clone)]
pub(super) struct Want {
    kind: Kind,
    path: PathBuf,
    /// Where `from:` is written.
    from: Place,
    /// The named HTTP route of a VirtualService, and where it is written.
    route: Option<(String, Place)>,
    /// What a VirtualService's other routes to the release's Service do.
    others: OtherRoutes,
}

impl Validator<'_> {
    /// The `from:` blocks of a spec: each path plain and inside the repository, the spec's own
    /// `hosts` and `gateways` left to a VirtualService of the user's, and no `template` beside
    /// a Deployment of the user's. Returns the files to read.
    pub(super) fn own(&mut self, spec: &RawSpec) -> Vec<Want> {
        let mut wants = Vec::new();
        if let Some(vs) = &spec.virtual_service {
            let vs = &vs.value;
            let hosts = spec.hosts.as_ref().map(|l| l.first().map(|e| e.referenced));
            let gateways = spec.gateways.as_ref().map(|l| l.first().map(|e| e.referenced));
            for (key, given) in [("hosts", hosts), ("gateways", gateways)] {
                if let Some(at) = given {
                    let message = format!(
                        "spec.{key} belongs to the VirtualService, which comes from `{}`: leave spec.{key} out",
                        vs.from.value
                    );
                    let at = at.unwrap_or(vs.from.referenced);
                    self.problem(&S { value: (), referenced: at, defined: at }, message);
                }
            }
            let route = &vs.route;
            self.check(route, !route.value.is_empty(), || {
                "spec.virtualService.route is empty: name the HTTP route whose destinations kanari sets".into()
            });
            for ours in [CANARY_MATCH, CANARY_MIRROR] {
                self.check(route, route.value != ours, || {
                    format!("`{ours}` is the name of one of kanari's own routes; name a route of your own")
                });
            }
            let others = match vs.other_routes.as_ref().map(|o| (o, o.value.as_str())) {
                None | Some((_, "stable")) => OtherRoutes::Stable,
                Some((_, "follow")) => OtherRoutes::Follow,
                Some((at, given)) => {
                    self.problem(at, format!("otherRoutes `{given}` is neither `stable` (the default: other routes to the release's Service go to the stable version) nor `follow` (they take the stage's split and mirror)"));
                    OtherRoutes::Stable
                }
            };
            let named = Some((route.value.clone(), self.place(route)));
            self.want(&mut wants, Kind::VirtualService, &vs.from, named);
            if let Some(want) = wants.last_mut() {
                want.others = others;
            }
        }
        if let Some(dr) = &spec.destination_rule {
            self.want(&mut wants, Kind::DestinationRule, &dr.value.from, None);
        }
        if let Some(deployment) = &spec.deployment {
            let from = &deployment.value.from;
            if spec.template.is_some() {
                self.problem(from, "`template` and `deployment.from` exclude each other: the pod template is the one of your Deployment; move it there");
            }
            self.want(&mut wants, Kind::Deployment, from, None);
        }
        wants
    }

    fn want(&mut self, wants: &mut Vec<Want>, kind: Kind, from: &S<String>, route: Option<(String, Place)>) {
        match from_path(&from.value) {
            Ok(path) => wants.push(Want { kind, path, from: self.place(from), route, others: OtherRoutes::Stable }),
            Err(why) => self.problem(from, format!("{}.from `{}` {why}", kind.key(), from.value)),
        }
    }
}

/// A `from:` path: relative to the repository root, without `..`, outside `.git`.
fn from_path(text: &str) -> Result<PathBuf, &'static str> {
    match check_output_path(text) {
        Err(why) if why.contains("`..`") => Err("may not contain `..`: kanari reads files of the repository alone"),
        Err(why) if why.contains("root itself") => Err("names no file"),
        found => found,
    }
}

/// Reads the files `wants` name and sets the manifests on `canary`; every problem found is
/// pushed to `problems`.
pub(super) fn resolve(canary: &mut Canary, wants: &[Want], read: ReadFile, problems: &mut Problems) {
    for want in wants {
        let Some((node, source)) = read_manifest(want, read, problems) else { continue };
        let mut object = node.to_json();
        drop_server_fields(&mut object);
        let shown = want.path.display();
        let before = problems.len();
        match want.kind {
            Kind::VirtualService => {
                let (route, at) = want.route.clone().expect("a VirtualService is wanted with its route");
                virtual_service(canary, &object, &shown.to_string(), (&route, &at), want.others, problems);
                if problems.len() == before {
                    canary.own.virtual_service = Some((Manifest { file: want.path.clone(), object }, route));
                    canary.own.other_routes = want.others;
                }
            }
            Kind::DestinationRule => {
                let host = object["spec"]["host"].as_str();
                let release = Some((canary.name.as_str(), canary.namespace.as_str()));
                if let Some(host) = host.filter(|h| service_of(h, &canary.namespace) != release) {
                    problems.push(want.from.problem(format!(
                        "the DestinationRule in `{shown}` is for host `{host}`, not for the release's Service `{}`",
                        canary.name
                    )));
                } else {
                    canary.own.destination_rule = Some(Manifest { file: want.path.clone(), object });
                }
            }
            Kind::Deployment => {
                let template = node.get("spec").and_then(|s| s.get("template")).filter(|t| t.is_map());
                let Some(template) = template else {
                    problems.push(want.from.problem(format!("the Deployment in `{shown}` has no spec.template")));
                    continue;
                };
                let mut template = template.clone();
                forget_creation_timestamp(&mut template);
                for found in crate::kube_schema::check(&template, "spec.template", &[]) {
                    problems.push(Problem::at(&want.path, &source, found.line, found.column, found.message));
                }
                let json = template.to_json();
                let containers =
                    json.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
                if !containers.is_empty() && main_container(&containers, &canary.name).is_none() {
                    problems.push(want.from.problem(format!("the Deployment in `{shown}` has several containers and none is named `{}`: name the one whose image the versions set", canary.name)));
                }
                if problems.len() == before {
                    canary.template = json;
                    canary.own.deployment = Some(Manifest { file: want.path.clone(), object });
                }
            }
        }
    }
}

/// The one document of a wanted file, of the kind it should be, and its text.
fn read_manifest(want: &Want, read: ReadFile, problems: &mut Problems) -> Option<(Node, String)> {
    let (shown, key, kind) = (want.path.display(), want.kind.key(), want.kind.name());
    let mut fail = |why: String| {
        problems.push(want.from.problem(format!("{key}.from `{shown}`: {why}")));
        None
    };
    let bytes = match read(&want.path) {
        Ok(bytes) => bytes,
        Err(why) => return fail(why),
    };
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return fail(format!("the file is larger than {} KiB, the limit for a spec file", MAX_FILE_BYTES / 1024));
    }
    let Ok(source) = String::from_utf8(bytes) else { return fail("the file is not UTF-8 text".into()) };
    let docs = match serde_saphyr::from_multiple_with_options::<Node>(&source, yaml_options()) {
        Ok(docs) => docs,
        Err(e) => {
            let at = e.location().map_or(String::new(), |l| format!(" (line {}, column {})", l.line(), l.column()));
            return fail(format!("not YAML: {}{at}", yaml_message(&e)));
        }
    };
    let [node] = &docs[..] else {
        return fail(format!("the file holds {} YAML documents; give one with your {kind} alone", docs.len()));
    };
    let text = |key: &str| node.get(key).and_then(Node::as_str).map(str::to_string);
    let (found_kind, api_version) = (text("kind"), text("apiVersion"));
    if found_kind.as_deref() != Some(kind) {
        let holds = match (&found_kind, &api_version) {
            (Some(k), Some(v)) => format!("a {k} ({v})"),
            (Some(k), None) => format!("a {k}"),
            _ => "no Kubernetes object (no `kind`)".to_string(),
        };
        return fail(format!("the file holds {holds}, not a {kind}"));
    }
    let versions = want.kind.api_versions();
    if !api_version.as_deref().is_some_and(|v| versions.contains(&v)) {
        let given = api_version.map_or("no apiVersion".to_string(), |v| format!("apiVersion `{v}`"));
        return fail(format!("the {kind} has {given}; kanari reads {}", versions.join(", ")));
    }
    Some((node.clone(), source))
}

/// The user's VirtualService: the named HTTP route exists and sends only to the release's
/// Service, and every feature of every stage can be put on it (and, with `otherRoutes:
/// follow`, on the other routes to the release's Service): each stage's matches and a
/// mirror's matches joined with the route's own, a mirror where the route has none. What
/// cannot is an error at the stage, never a silent drop.
fn virtual_service(
    canary: &Canary,
    vs: &Value,
    shown: &str,
    (route, at): (&str, &Place),
    others: OtherRoutes,
    problems: &mut Problems,
) {
    let release = (canary.name.as_str(), canary.namespace.as_str());
    let ours =
        |target: &Value| target["host"].as_str().is_some_and(|h| service_of(h, &canary.namespace) == Some(release));
    let http: Vec<&Value> = vs["spec"]["http"].as_array().into_iter().flatten().collect();
    let Some(named) = http.iter().find(|r| r["name"].as_str() == Some(route)) else {
        let names: Vec<String> = http.iter().filter_map(|r| r["name"].as_str()).map(|n| format!("`{n}`")).collect();
        let has = match names.is_empty() {
            true => "no named HTTP routes".to_string(),
            false => format!("the HTTP routes {}", names.join(", ")),
        };
        problems.push(at.problem(format!("`{shown}` has no HTTP route named `{route}`; it has {has}")));
        return;
    };
    let destinations: Vec<&Value> = named["route"].as_array().into_iter().flatten().collect();
    if destinations.is_empty() {
        problems.push(at.problem(format!(
            "route `{route}` of `{shown}` has no destination: give it one to the release's Service `{}`",
            canary.name
        )));
    }
    for d in destinations.iter().filter(|d| !ours(&d["destination"])) {
        let host = d["destination"]["host"].as_str().unwrap_or("");
        problems.push(at.problem(format!(
            "route `{route}` of `{shown}` sends to `{host}`, not to the release's Service `{}`: the named route is the one whose traffic kanari splits between the versions",
            canary.name
        )));
    }
    for other in http.iter().filter(|r| r["name"].as_str() != Some(route)) {
        if let Some(name) = other["name"].as_str().filter(|n| [CANARY_MATCH, CANARY_MIRROR].contains(n)) {
            problems.push(at.problem(format!(
                "`{shown}` has a route named `{name}`, the name of one of kanari's own routes; rename it"
            )));
        }
    }
    // The routes a stage's traffic is put on: the named one, and with `follow` the others that
    // send to the release's Service.
    let sends_here = |r: &Value| {
        r["route"].as_array().into_iter().flatten().any(|d| ours(&d["destination"]))
            || r.get("mirror").is_some_and(&ours)
    };
    let followers: Vec<&Value> = match others {
        OtherRoutes::Stable => Vec::new(),
        OtherRoutes::Follow => {
            http.iter().filter(|r| r["name"].as_str() != Some(route) && sends_here(r)).copied().collect()
        }
    };
    let label = |r: &Value| r["name"].as_str().map_or("an unnamed route".to_string(), |n| format!("route `{n}`"));
    for stage in &canary.stages {
        let mut fail = |why: String| problems.push(stage.at.problem(format!("stage `{}` {why}", stage.name)));
        if let Some(what) = clash(&stage.matches, named) {
            fail(format!(
                "matches on {what}, as route `{route}` of `{shown}` does: one Istio match cannot hold both; match on something else"
            ));
        }
        if stage.mirror.is_none() {
            continue;
        }
        for r in std::iter::once(named).chain(&followers) {
            if r.get("mirror").is_some() || r.get("mirrors").is_some() {
                fail(format!(
                    "mirrors to the canary, and {} of `{shown}` has a mirror of its own: an Istio route copies to one mirror; remove the route's mirror or the stage's",
                    label(r)
                ));
            }
            if let Some(what) = clash(&stage.mirror_matches, r) {
                fail(format!(
                    "copies the requests that match on {what}, as {} of `{shown}` does: one Istio match cannot hold both; match on something else",
                    label(r)
                ));
            }
        }
    }
}

/// The first field both a stage's matches and a route's own match on (`uri`, a header), which
/// one Istio match cannot hold.
fn clash(matches: &[Match], route: &Value) -> Option<String> {
    let theirs: Vec<&Value> = route["match"].as_array().into_iter().flatten().collect();
    matches.iter().flat_map(|m| theirs.iter().map(move |t| (m, t))).find_map(|(m, t)| {
        if m.uri.is_some() && t.get("uri").is_some() {
            return Some("`uri`".to_string());
        }
        if m.method.is_some() && t.get("method").is_some() {
            return Some("`method`".to_string());
        }
        let cookie = m.cookie.as_ref().map(|_| "cookie".to_string());
        m.headers.keys().cloned().chain(cookie).find(|h| t["headers"].get(h).is_some()).map(|h| format!("header `{h}`"))
    })
}

/// Drops what the API server fills in (`status`, `metadata.uid`, ...) from an object.
fn drop_server_fields(object: &mut Value) {
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in SERVER_FIELDS {
            metadata.remove(field);
        }
        if let Some(annotations) = metadata.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
}

/// `metadata.creationTimestamp: null` in a pod template, as `kubectl get -o yaml` writes it.
fn forget_creation_timestamp(template: &mut Node) {
    let NodeValue::Map(entries) = &mut template.value else { return };
    for (key, value) in entries.iter_mut() {
        if key.as_str() == Some("metadata")
            && let NodeValue::Map(fields) = &mut value.value
        {
            fields.retain(|(k, v)| !(k.as_str() == Some("creationTimestamp") && v.value == NodeValue::Null));
        }
    }
}

/// A reader for specs parsed without a repository ([`super::parse_file`]): no file can be read.
pub(super) fn no_files(_: &Path) -> Result<Vec<u8>, String> {
    Err("files named by `from:` are read only when specs are loaded from a repository".into())
}

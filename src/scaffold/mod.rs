//! `kanari init`'s first spec of a release, made from the manifests a service runs with today:
//! the Deployment (picked by name or `app` label among every document of the files given, a
//! chart's output or a `kubectl get -o yaml` list included), its HorizontalPodAutoscaler, and
//! optionally the VirtualService and DestinationRule. Pure: the files' text comes in, the text
//! of the files to write and the notes to print go out; `commands::init` reads and writes.
//!
//! What a spec says itself (namespace, stable version and image, replicas or autoscaling, the
//! port, the pod template) is written into it. What it cannot say is kept with `from:`: a
//! Deployment with more than a pod template (a strategy, its own labels or annotations, ...),
//! a VirtualService with more than destinations to the release (retries, a timeout, other
//! routes), a DestinationRule with more than subsets (a traffic policy). `from:` reads a file
//! of one document inside the repository, so a manifest in a file of several documents, or
//! outside the repository, is written beside the spec, to `manifests/<name>/<kind>.yaml`, and
//! that file is named. Nothing a spec drops goes unsaid: every such field is in the notes.
//!
//! The spec starts in the steady state (no `canary`: a release begins when one is added and
//! committed), with the stages as a starting point: a header stage for testers, 10%, 50% with
//! an approval, 100% with the old version scaled to 0 after a bake. Every field is commented.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde_json::Value;

use crate::kube_schema::{Node, NodeValue};
use crate::problem::{Problem, Problems};
use crate::spec::{ISTIO_API_VERSIONS, SERVER_FIELDS, is_dns1123_label, is_label_value, main_container, service_of};

mod text;

use text::{child_mut, drop_if_empty, remove, shape_template};

/// A file of manifests as given: the path shown in messages, its text, and its path in the
/// repository when `from:` can name it there (inside the repository, no symlink on the way).
pub(crate) struct Input {
    pub shown: PathBuf,
    pub source: String,
    pub in_repo: Option<PathBuf>,
}

/// Which router the spec asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Router {
    Istio,
    GatewayApi,
}

/// What `kanari init` was asked.
pub(crate) struct Request<'a> {
    /// The release's name.
    pub name: &'a str,
    /// The files holding the Deployment (and its autoscaler, and Services naming its ports).
    pub from: &'a [Input],
    /// The Deployment's name, when several are the release's.
    pub deployment: Option<&'a str>,
    pub virtual_service: Option<&'a Input>,
    pub destination_rule: Option<&'a Input>,
    pub router: Router,
}

/// The spec's text, the manifests to write beside it (repository-relative path → text) and
/// what to tell.
#[derive(Debug)]
pub(crate) struct Scaffold {
    pub spec: String,
    pub manifests: Vec<(PathBuf, String)>,
    /// Each a sentence: where a manifest was copied, what the spec does not keep.
    pub notes: Vec<String>,
    pub namespace: String,
}

/// One Kubernetes object of an input file.
struct Doc<'a> {
    input: &'a Input,
    node: Node,
    /// Whether it is its file's only document (so `from:` can name that file).
    alone: bool,
}

impl Doc<'_> {
    fn text(&self, path: &[&str]) -> Option<&str> {
        at(&self.node, path).and_then(Node::as_str)
    }

    fn kind(&self) -> &str {
        self.text(&["kind"]).unwrap_or("")
    }

    fn name(&self) -> &str {
        self.text(&["metadata", "name"]).unwrap_or("")
    }

    /// `file:line:column` of the object.
    fn place(&self) -> String {
        format!("{}:{}:{}", self.input.shown.display(), self.node.line, self.node.column)
    }

    fn problem(&self, node: &Node, message: impl Into<String>) -> anyhow::Error {
        let problem = Problem::at(&self.input.shown, &self.input.source, node.line, node.column, message);
        Problems(vec![problem]).into()
    }
}

fn at<'n>(node: &'n Node, path: &[&str]) -> Option<&'n Node> {
    path.iter().try_fold(node, |n, key| n.get(key))
}

/// Every object of `input`: its documents, a `List`'s items in place of the list.
fn documents(input: &Input) -> Result<Vec<Doc<'_>>> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
        budget: serde_saphyr::budget! { max_aliases: 64, max_anchors: 64, max_depth: 64, max_documents: 1024 },
    };
    let nodes: Vec<Node> = serde_saphyr::from_multiple_with_options(&input.source, options).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        let message = e.to_string().lines().next().unwrap_or("").to_string();
        let message = message.rfind(" at line ").map_or(message.clone(), |i| message[..i].to_string());
        Problems(vec![Problem::at(&input.shown, &input.source, line, column, format!("not YAML: {message}"))])
    })?;
    let nodes: Vec<Node> = nodes.into_iter().filter(|n| n.value != NodeValue::Null).collect();
    let alone = nodes.len() == 1;
    let mut docs = Vec::new();
    for node in nodes {
        if node.get("kind").and_then(Node::as_str).is_some_and(|k| k.ends_with("List")) {
            let items = node.get("items").map(Node::items).unwrap_or_default();
            docs.extend(items.iter().map(|item| Doc { input, node: item.clone(), alone: false }));
        } else if !node.is_map() {
            let at = Problem::at(
                &input.shown,
                &input.source,
                node.line,
                node.column,
                "a document that is no Kubernetes object (not a mapping)",
            );
            return Err(Problems(vec![at]).into());
        } else {
            docs.push(Doc { input, node, alone });
        }
    }
    Ok(docs)
}

fn listed(docs: &[&Doc]) -> String {
    docs.iter().map(|d| format!("`{}` ({})", d.name(), d.place())).collect::<Vec<_>>().join(", ")
}

fn shown(inputs: &[&Input]) -> String {
    inputs.iter().map(|i| format!("`{}`", i.shown.display())).collect::<Vec<_>>().join(", ")
}

/// The label value `key` of a Deployment's pods (or of the Deployment itself).
fn label<'a>(d: &'a Doc, key: &str) -> Option<&'a Node> {
    at(&d.node, &["spec", "template", "metadata", "labels", key]).or_else(|| at(&d.node, &["metadata", "labels", key]))
}

/// The release's Deployment: the one `--deployment` names, else the one named after the
/// release or whose pods' `app` label is its name.
fn pick_deployment<'d>(req: &Request, docs: &'d [Doc]) -> Result<&'d Doc<'d>> {
    let deployments: Vec<&Doc> = docs.iter().filter(|d| d.kind() == "Deployment").collect();
    let files = shown(&req.from.iter().collect::<Vec<_>>());
    let found = || match deployments.is_empty() {
        true => "none".to_string(),
        false => listed(&deployments),
    };
    let candidates: Vec<&Doc> = match req.deployment {
        Some(chosen) => deployments.iter().copied().filter(|d| d.name() == chosen).collect(),
        None => deployments
            .iter()
            .copied()
            .filter(|d| {
                let app = |key| label(d, key).and_then(Node::as_str) == Some(req.name);
                d.name() == req.name || app("app") || app("app.kubernetes.io/name")
            })
            .collect(),
    };
    match (&candidates[..], req.deployment) {
        ([one], _) => Ok(one),
        ([], Some(chosen)) => bail!("no Deployment named `{chosen}` in {files} (Deployments found: {})", found()),
        ([], None) => bail!(
            "no Deployment of `{}` in {files}: none is named so or has the label `app: {}` (Deployments found: {}); name the release after one, or pick it with --deployment NAME",
            req.name,
            req.name,
            found()
        ),
        (several, Some(chosen)) => {
            bail!("{} Deployments are named `{chosen}`: {}; give one file", several.len(), listed(several))
        }
        (several, None) => bail!(
            "{} Deployments are `{}`'s: {}; pick the one running the stable version with --deployment NAME",
            several.len(),
            req.name,
            listed(several)
        ),
    }
}

/// What the spec says about the stable version.
struct Stable {
    version: String,
    image: String,
    /// Where the version comes from, for its comment.
    source: &'static str,
}

fn stable(d: &Doc, container: &Node) -> Result<Stable> {
    let Some(image_node) = container.get("image") else {
        return Err(d.problem(container, "the main container has no `image`"));
    };
    let Some(image) = image_node.as_str().filter(|i| !i.is_empty()) else {
        return Err(d.problem(image_node, "the main container's image is not a string"));
    };
    if let Some(v) = label(d, "version") {
        let Some(version) = v.as_str().filter(|v| is_label_value(v) && !v.is_empty()) else {
            return Err(d.problem(v, "the `version` label is not a label value kanari can take as the version"));
        };
        return Ok(Stable { version: version.to_string(), image: image.to_string(), source: "its `version` label" });
    }
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last.split_once(':').map(|(_, tag)| tag) {
        Some(tag) if is_label_value(tag) && !tag.is_empty() => {
            Ok(Stable { version: tag.to_string(), image: image.to_string(), source: "its image's tag" })
        }
        Some(tag) => Err(d.problem(
            image_node,
            format!("the image's tag `{tag}` is not a label value, so it cannot be the version: give the pods a `version` label"),
        )),
        None => Err(d.problem(
            image_node,
            "the Deployment has no `version` label and its image no tag: give the pods a `version` label (the stable version)",
        )),
    }
}

/// A document without what the API server fills in (`status`, `metadata.uid`, ...), its
/// entries in the order written.
fn cleaned(d: &Doc) -> Node {
    let mut node = d.node.clone();
    remove(&mut node, "status");
    if let Some(metadata) = child_mut(&mut node, "metadata") {
        for field in SERVER_FIELDS {
            remove(metadata, field);
        }
        if let Some(annotations) = child_mut(metadata, "annotations") {
            remove(annotations, "kubectl.kubernetes.io/last-applied-configuration");
            remove(annotations, "deployment.kubernetes.io/revision");
        }
        drop_if_empty(metadata, "annotations");
    }
    node
}

/// The object of a document as JSON, without what the API server fills in.
fn object(d: &Doc) -> Value {
    cleaned(d).to_json()
}

/// The fields of `object` beyond `allowed` (each `key` or `key.sub`), by dotted path.
fn beyond(object: &Value, allowed: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(map) = object.as_object() else { return out };
    for (key, value) in map {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        let prefix = format!("{key}.");
        let inner: Vec<&str> = allowed.iter().filter_map(|a| a.strip_prefix(&prefix)).collect();
        if inner.is_empty() {
            out.push(key.clone());
        } else {
            out.extend(beyond(value, &inner).into_iter().map(|sub| format!("{key}.{sub}")));
        }
    }
    out
}

/// Where `from:` finds a manifest: its own file, or a copy written beside the spec.
fn from_file(d: &Doc, kind: &str, name: &str, files: &mut Vec<(PathBuf, String)>, notes: &mut Vec<String>) -> PathBuf {
    if let (true, Some(path)) = (d.alone, &d.input.in_repo) {
        return path.clone();
    }
    let path = PathBuf::from("manifests").join(name).join(format!("{}.yaml", kind.to_lowercase()));
    let why = match d.input.in_repo {
        Some(_) => "holds other documents too",
        None => "is outside the repository",
    };
    notes.push(format!(
        "wrote the {kind} `{}` ({}) to `{}`, which spec.{}.from names: `{}` {why}, and `from:` reads a file of one document in the repository",
        d.name(),
        d.place(),
        path.display(),
        lower_first(kind),
        d.input.shown.display()
    ));
    let text = format!(
        "# The {kind} `{}` of `{}`, which the release `{name}` keeps with `from:`: edit it here.\n{}",
        d.name(),
        d.input.shown.display(),
        text::emit(&cleaned(d), 0)
    );
    files.push((path.clone(), text));
    path
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// `a`, `a and b`, `a, b and c`.
fn and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn backticked(items: &[String]) -> Vec<String> {
    items.iter().map(|i| format!("`{i}`")).collect()
}

/// The autoscaling block from the release's HPA, with notes on what it does not keep.
struct Autoscaling {
    min: i64,
    max: i64,
    cpu: i64,
    shown: String,
}

fn autoscaling(hpa: &Doc, notes: &mut Vec<String>) -> Result<Autoscaling> {
    let spec = hpa.node.get("spec").ok_or_else(|| hpa.problem(&hpa.node, "the HorizontalPodAutoscaler has no spec"))?;
    let number = |key: &str| spec.get(key).and_then(|n| n.to_json().as_i64());
    let min = number("minReplicas").unwrap_or(1);
    let Some(max) = number("maxReplicas") else {
        return Err(hpa.problem(spec, "the HorizontalPodAutoscaler has no maxReplicas"));
    };
    let mut cpu = number("targetCPUUtilizationPercentage");
    let mut dropped = Vec::new();
    for metric in spec.get("metrics").map(Node::items).unwrap_or_default() {
        let m = metric.to_json();
        let is_cpu = m["type"] == "Resource"
            && m["resource"]["name"] == "cpu"
            && m["resource"]["target"]["type"] == "Utilization";
        match m["resource"]["target"]["averageUtilization"].as_i64() {
            Some(value) if is_cpu && cpu.is_none() => cpu = Some(value),
            _ => dropped.push(format!("the metric {}", serde_json::to_string(&m).unwrap_or_default())),
        }
    }
    if spec.get("behavior").is_some() {
        dropped.push("its `behavior`".into());
    }
    let shown = format!("the HorizontalPodAutoscaler `{}` ({})", hpa.name(), hpa.place());
    if !dropped.is_empty() {
        notes.push(format!("{shown}: kanari's autoscalers scale on CPU alone, so {} is not kept", and(&dropped)));
    }
    let cpu = cpu.unwrap_or_else(|| {
        notes.push(format!(
            "{shown} has no CPU utilization target: autoscaling.targetCPUUtilizationPercentage is 80; set yours"
        ));
        80
    });
    Ok(Autoscaling { min, max, cpu, shown })
}

/// The user's VirtualService or DestinationRule of the release, from `input`.
fn routing<'a>(input: &'a Input, kind: &str, docs: &'a [Doc<'a>], ours: impl Fn(&Doc) -> bool) -> Result<&'a Doc<'a>> {
    let all: Vec<&Doc> = docs.iter().filter(|d| d.kind() == kind).collect();
    let mine: Vec<&Doc> = all.iter().copied().filter(|d| ours(d)).collect();
    match &mine[..] {
        [one] => {
            let api = one.text(&["apiVersion"]).unwrap_or("");
            if !ISTIO_API_VERSIONS.contains(&api) {
                return Err(one.problem(
                    &one.node,
                    format!("the {kind} has apiVersion `{api}`; kanari reads {}", ISTIO_API_VERSIONS.join(", ")),
                ));
            }
            Ok(one)
        }
        [] if all.is_empty() => bail!("`{}` holds no {kind}", input.shown.display()),
        [] => bail!("no {kind} in `{}` is for the release's Service (found: {})", input.shown.display(), listed(&all)),
        several => bail!(
            "{} {kind}s in `{}` are for the release's Service: {}; give a file with the one to keep",
            several.len(),
            input.shown.display(),
            listed(several)
        ),
    }
}

/// Makes the spec of `req`.
pub(crate) fn scaffold(req: &Request) -> Result<Scaffold> {
    let name = req.name;
    let mut docs = Vec::new();
    for input in req.from {
        docs.extend(documents(input)?);
    }
    let d = pick_deployment(req, &docs)?;
    if d.text(&["apiVersion"]) != Some("apps/v1") {
        return Err(d.problem(&d.node, "the Deployment's apiVersion is not `apps/v1`, the one kanari reads"));
    }
    let namespace = d.text(&["metadata", "namespace"]).map(str::to_string);
    let mut notes = Vec::new();
    let mut files = Vec::new();
    if let Some(ns) = namespace.as_deref().filter(|ns| !is_dns1123_label(ns)) {
        return Err(d.problem(
            at(&d.node, &["metadata", "namespace"]).unwrap_or(&d.node),
            format!("namespace `{ns}` is not a DNS-1123 label"),
        ));
    }
    let deployment_shown = format!("the Deployment `{}` ({})", d.name(), d.place());
    if namespace.is_none() {
        notes
            .push(format!("{deployment_shown} names no namespace: the release's is `default`; set the one it runs in"));
    }
    let namespace = namespace.unwrap_or_else(|| "default".into());
    let Some(template) = at(&d.node, &["spec", "template"]).filter(|t| t.is_map()) else {
        return Err(d.problem(&d.node, "the Deployment has no spec.template"));
    };
    let containers_node = at(template, &["spec", "containers"]).unwrap_or(template);
    let containers: Vec<Value> = containers_node.items().iter().map(Node::to_json).collect();
    let Some(main) = main_container(&containers, name) else {
        let names: Vec<String> = containers.iter().filter_map(|c| c["name"].as_str()).map(str::to_string).collect();
        return Err(d.problem(
            containers_node,
            format!("the Deployment runs the containers {} and none is named `{name}`: name the release after the one whose image a version sets", and(&backticked(&names))),
        ));
    };
    let container = &containers_node.items()[main];
    let stable = stable(d, container)?;
    let main_name = containers[main]["name"].as_str().unwrap_or(name).to_string();

    // The Deployment: its pod template inline, or all of it kept with `from:`.
    let deployment_object = object(d);
    let mut extras = beyond(
        &deployment_object,
        &[
            "apiVersion",
            "kind",
            "metadata.name",
            "metadata.namespace",
            "metadata.labels",
            "spec.replicas",
            "spec.selector",
            "spec.template",
        ],
    );
    if let Some(labels) = deployment_object["metadata"]["labels"].as_object() {
        extras.extend(
            labels.keys().filter(|k| !["app", "version"].contains(&k.as_str())).map(|k| format!("metadata.labels.{k}")),
        );
    }
    let deployment_from = match extras.is_empty() {
        true => None,
        false => Some(from_file(d, "Deployment", name, &mut files, &mut notes)),
    };
    // Ports, named as a Service of the inputs names them when the container does not.
    let mut template_node = template.clone();
    let services: Vec<&Doc> = docs
        .iter()
        .filter(|s| s.kind() == "Service" && (s.name() == name || s.text(&["spec", "selector", "app"]) == Some(name)))
        .collect();
    let mut ports = Vec::new();
    for port in container.get("ports").map(Node::items).unwrap_or_default() {
        let p = port.to_json();
        let Some(number) = p["containerPort"].as_i64() else {
            return Err(d.problem(port, "a container port without a numeric containerPort"));
        };
        if let Some(protocol) = p["protocol"].as_str().filter(|proto| *proto != "TCP") {
            notes.push(format!(
                "the {protocol} container port {number} gets no Service port: kanari's Service carries TCP"
            ));
            continue;
        }
        let mut named = p["name"].as_str().map(str::to_string);
        // A name given to an inline template only: your own Deployment stays as written.
        if named.is_none() && deployment_from.is_none() {
            let found = services.iter().find_map(|s| {
                let service_ports = object(s)["spec"]["ports"].as_array().cloned().unwrap_or_default();
                service_ports.into_iter().find_map(|sp| {
                    let target = sp.get("targetPort").unwrap_or(&sp["port"]);
                    let port_name = sp["name"].as_str().filter(|_| target.as_i64() == Some(number))?.to_string();
                    Some((port_name, s))
                })
            });
            if let Some((port_name, s)) = found {
                notes.push(format!(
                    "container port {number} has no name: the template names it `{port_name}`, as the Service `{}` ({}) names its port, since Istio reads the protocol from the name",
                    s.name(),
                    s.place()
                ));
                named = Some(port_name);
            }
        }
        ports.push((named, number, p["name"].is_null()));
    }
    if ports.is_empty() {
        return Err(d.problem(container, format!("container `{main_name}` declares no TCP port: kanari's Service sends to the port it declares; add `ports: [{{name: http, containerPort: 8080}}]`")));
    }

    if let Some((Some(name), number, _)) = ports.first()
        && let Some(protocol) = crate::spec::Protocol::of(name).filter(|p| !p.is_http())
    {
        notes.push(format!("container port `{name}` ({number}) is {} to Istio, not HTTP: the steady state renders, but a canary on it is refused, as weights, matches and mirrors are HTTP routes; serve HTTP behind the sidecar (its mutual TLS encrypts between pods) and name the port `http`", protocol.name()));
    }
    if deployment_from.is_none() {
        shape_template(&mut template_node, main, &ports);
    }

    let hpas: Vec<&Doc> = docs
        .iter()
        .filter(|h| {
            h.kind() == "HorizontalPodAutoscaler" && h.text(&["spec", "scaleTargetRef", "name"]) == Some(d.name())
        })
        .collect();
    let autoscaling = match &hpas[..] {
        [] => None,
        [hpa] => Some(autoscaling(hpa, &mut notes)?),
        several => {
            bail!("{} HorizontalPodAutoscalers scale the Deployment `{}`: {}", several.len(), d.name(), listed(several))
        }
    };

    let release_host =
        |host: Option<&str>| host.and_then(|h| service_of(h, &namespace)) == Some((name, namespace.as_str()));
    let vs_docs = match req.virtual_service {
        Some(input) => documents(input)?,
        None => Vec::new(),
    };
    let mut vs = None;
    if let Some(input) = req.virtual_service {
        let sends = |r: &Value| {
            r["route"].as_array().into_iter().flatten().any(|dest| release_host(dest["destination"]["host"].as_str()))
        };
        let doc = routing(input, "VirtualService", &vs_docs, |v| {
            object(v)["spec"]["http"].as_array().into_iter().flatten().any(sends)
        })?;
        let object = object(doc);
        let http = doc.node.get("spec").and_then(|s| s.get("http")).map(Node::items).unwrap_or_default();
        let ours: Vec<&Node> = http.iter().filter(|r| sends(&r.to_json())).collect();
        let catch_all: Vec<&&Node> = ours.iter().filter(|r| r.get("match").is_none()).collect();
        let route =
            catch_all.last().copied().or(ours.last()).copied().expect("the VirtualService sends to the release");
        let Some(route_name) = route.get("name").and_then(Node::as_str) else {
            return Err(doc.problem(route, format!("this HTTP route sends to `{name}` and has no name, and kanari rewrites a route by its name: add `name: {name}` to it")));
        };
        let plain_route = beyond(&route.to_json(), &["name", "route"]).is_empty()
            && route.to_json()["route"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|d| beyond(d, &["destination.host", "destination.port", "weight"]).is_empty());
        let extras = beyond(
            &object,
            &["apiVersion", "kind", "metadata.name", "metadata.namespace", "spec.hosts", "spec.gateways", "spec.http"],
        );
        if http.len() == 1 && plain_route && extras.is_empty() {
            let list = |key: &str| {
                object["spec"][key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            };
            notes.push(format!("the VirtualService `{}` ({}) routes to `{name}` and nothing more: kanari's own replaces it, with its hosts and gateways", doc.name(), doc.place()));
            vs = Some(Vs::Spec { hosts: list("hosts"), gateways: list("gateways") });
        } else {
            let path = from_file(doc, "VirtualService", name, &mut files, &mut notes);
            vs = Some(Vs::From { path, route: route_name.to_string(), shown: format!("`{}`", doc.name()) });
        }
    }
    let dr_docs = match req.destination_rule {
        Some(input) => documents(input)?,
        None => Vec::new(),
    };
    let mut dr = None;
    if let Some(input) = req.destination_rule {
        let doc = routing(input, "DestinationRule", &dr_docs, |r| release_host(r.text(&["spec", "host"])))?;
        let object = object(doc);
        let extras = beyond(
            &object,
            &["apiVersion", "kind", "metadata.name", "metadata.namespace", "spec.host", "spec.subsets"],
        );
        let subset_policies =
            object["spec"]["subsets"].as_array().into_iter().flatten().any(|s| s.get("trafficPolicy").is_some());
        if extras.is_empty() && !subset_policies {
            notes.push(format!(
                "the DestinationRule `{}` ({}) holds only subsets, which kanari makes itself: it is not kept",
                doc.name(),
                doc.place()
            ));
        } else {
            dr = Some(from_file(doc, "DestinationRule", name, &mut files, &mut notes));
        }
    }

    let replicas = at(&d.node, &["spec", "replicas"]).and_then(|r| r.to_json().as_i64()).unwrap_or(1);
    let replicas = match replicas {
        n if n >= 1 => n,
        n => {
            notes.push(format!("{deployment_shown} runs {n} pods: the spec's replicas are 1, the pods a version runs at 100% of the traffic"));
            1
        }
    };
    let spec = Written {
        name,
        namespace: &namespace,
        deployment: d,
        stable: &stable,
        main_name: &main_name,
        ports: &ports,
        replicas,
        autoscaling: autoscaling.as_ref(),
        template: &template_node,
        deployment_from: deployment_from.as_deref().map(|p| (p, extras.as_slice())),
        vs: vs.as_ref(),
        dr: dr.as_deref(),
        router: req.router,
    }
    .text();
    Ok(Scaffold { spec, manifests: files, notes, namespace })
}

/// The user's VirtualService as the spec keeps it.
enum Vs {
    /// Said by the spec itself.
    Spec { hosts: Vec<String>, gateways: Vec<String> },
    /// Kept with `from:`; kanari rewrites the route named `route`.
    From { path: PathBuf, route: String, shown: String },
}

/// Everything the spec's text is made of.
struct Written<'a> {
    name: &'a str,
    namespace: &'a str,
    deployment: &'a Doc<'a>,
    stable: &'a Stable,
    main_name: &'a str,
    /// (name, number, whether the name was found on a Service rather than the container)
    ports: &'a [(Option<String>, i64, bool)],
    replicas: i64,
    autoscaling: Option<&'a Autoscaling>,
    template: &'a Node,
    deployment_from: Option<(&'a Path, &'a [String])>,
    vs: Option<&'a Vs>,
    dr: Option<&'a Path>,
    router: Router,
}

#[cfg(test)]
mod tests;

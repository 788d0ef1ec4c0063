//! The spec's text: every field with a comment saying what it does and what to edit, written
//! from what [`super::scaffold`] found; the pod template as the spec holds it, and manifests
//! written in the order their fields were (an emitter over [`Node`]s). Pure.

use super::{Router, Vs, Written, and, backticked};
use crate::kube_schema::{Node, NodeValue};
use crate::yaml;

impl Written<'_> {
    pub(super) fn text(&self) -> String {
        let (name, ns) = (self.name, self.namespace);
        let d = self.deployment;
        let mut o = String::new();
        comment(
            &mut o,
            0,
            &format!(
                "The release of `{name}`, written by `kanari init` from the Deployment `{}` of `{}`. Each field says what it does (`kanari schema` describes them all). It starts in the steady state: all the traffic goes to the stable version, and there is no canary yet.",
                d.name(),
                d.input.shown.display()
            ),
        );
        o.push_str("apiVersion: kanari.dev/v1alpha1\nkind: Canary\nmetadata:\n");
        comment(
            &mut o,
            2,
            "Names the Service, the VirtualService, the DestinationRule and the <name>-<version> Deployments kanari writes.",
        );
        o.push_str(&format!("  name: {}\n", yaml::string(name)));
        comment(&mut o, 2, "The namespace they go to.");
        o.push_str(&format!("  namespace: {}\nspec:\n", yaml::string(ns)));
        comment(
            &mut o,
            2,
            "The folder Argo CD or Flux syncs, where kanari writes each state of the release (this is the default; point your Application or Kustomization at it).",
        );
        o.push_str(&format!("  # output: overlays/{ns}/{name}\n"));
        if self.router == Router::GatewayApi {
            comment(
                &mut o,
                2,
                "An HTTPRoute over one Service per version carries the traffic, in place of a VirtualService and a DestinationRule.",
            );
            o.push_str("  router: gateway-api\n");
        }
        o.push_str("  service:\n");
        match self.ports {
            [(port_name, number, _)] => {
                let called = port_name.as_ref().map_or(String::new(), |n| format!(" `{n}`"));
                comment(
                    &mut o,
                    4,
                    &format!(
                        "The Service's port; it sends to the same port of the pods (container port{called}), whose name says its protocol to Istio."
                    ),
                );
                o.push_str(&format!("    port: {number}\n"));
            }
            several => {
                comment(
                    &mut o,
                    4,
                    "The Service's ports, one per container port; each name says its protocol to Istio.",
                );
                o.push_str("    ports:\n");
                for (port_name, number, _) in several {
                    match port_name {
                        Some(n) => o.push_str(&format!("      - name: {}\n        port: {number}\n", yaml::string(n))),
                        None => o.push_str(&format!("      - port: {number}\n")),
                    }
                    o.push_str(&format!("        targetPort: {number}\n"));
                }
            }
        }
        if let Some(Vs::Spec { hosts, gateways }) = self.vs {
            if !hosts.is_empty() && hosts != &[name.to_string()] {
                comment(&mut o, 2, "The hosts the VirtualService answers for (your VirtualService's).");
                o.push_str(&format!(
                    "  hosts: [{}]\n",
                    hosts.iter().map(|h| yaml::string(h)).collect::<Vec<_>>().join(", ")
                ));
            }
            if !gateways.is_empty() {
                comment(&mut o, 2, "The gateways it is bound to (your VirtualService's).");
                o.push_str(&format!(
                    "  gateways: [{}]\n",
                    gateways.iter().map(|g| yaml::string(g)).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let object_name = crate::spec::object_name(&self.stable.version);
        comment(
            &mut o,
            2,
            &format!(
                "The version that takes all the traffic now: `version` is its `version` label (here from {}), which also names its subset and its Deployment `{name}-{object_name}`; `image` is its image.",
                self.stable.source
            ),
        );
        o.push_str(&format!(
            "  stable:\n    version: {}\n    image: {}\n",
            yaml::string(&self.stable.version),
            yaml::string(&self.stable.image)
        ));
        comment(
            &mut o,
            2,
            &format!(
                "To release a new version, uncomment these lines with its version and image, commit, and run `kanari promote {name}`: the release then goes through the stages below, one commit each."
            ),
        );
        let repo = self
            .stable
            .image
            .rsplit_once(':')
            .filter(|(_, tag)| !tag.contains('/'))
            .map_or(self.stable.image.as_str(), |(r, _)| r);
        o.push_str(&format!("  # canary:\n  #   version: NEW-VERSION\n  #   image: {repo}:NEW-TAG\n"));
        match self.autoscaling {
            None => {
                comment(
                    &mut o,
                    2,
                    "Pods a version runs at 100% of the traffic (the Deployment's replicas); the canary runs its share of them in each stage.",
                );
                o.push_str(&format!("  replicas: {}\n", self.replicas));
            }
            Some(a) => {
                comment(
                    &mut o,
                    2,
                    &format!(
                        "One HorizontalPodAutoscaler per version, from {}: the stable's minimum (the canary's is its share of it), the maximum, and the CPU use it aims at, in percent of the pods' requests.",
                        a.shown
                    ),
                );
                o.push_str(&format!("  autoscaling:\n    minReplicas: {}\n    maxReplicas: {}\n    targetCPUUtilizationPercentage: {}\n", a.min, a.max, a.cpu));
            }
        }
        match self.deployment_from {
            Some((path, extras)) => {
                comment(
                    &mut o,
                    2,
                    &format!(
                        "Your Deployment, kept whole for what a spec does not say ({}): kanari sets each version's name, `app` and `version` labels, replicas, and the image of container `{}`.",
                        and(&backticked(extras)),
                        self.main_name
                    ),
                );
                o.push_str(&format!("  deployment:\n    from: {}\n", yaml::string(&path.display().to_string())));
            }
            None => {
                comment(
                    &mut o,
                    2,
                    &format!(
                        "The pod template of every version, from the Deployment; kanari adds the `app` and `version` labels and sets the image of container `{}`.",
                        self.main_name
                    ),
                );
                o.push_str("  template:\n");
                o.push_str(&emit(self.template, 4));
            }
        }
        if let Some(Vs::From { path, route, shown }) = self.vs {
            comment(
                &mut o,
                2,
                &format!(
                    "Your VirtualService {shown}, kept whole (retries, timeouts, other routes): kanari sets the destinations of its route `{route}` alone, and puts a stage's match route before it."
                ),
            );
            o.push_str(&format!(
                "  virtualService:\n    from: {}\n    route: {}\n",
                yaml::string(&path.display().to_string()),
                yaml::string(route)
            ));
        }
        if let Some(path) = self.dr {
            comment(&mut o, 2, "Your DestinationRule, kept whole (its traffic policy): kanari sets its subsets.");
            o.push_str(&format!("  destinationRule:\n    from: {}\n", yaml::string(&path.display().to_string())));
        }
        comment(
            &mut o,
            2,
            &format!(
                "The stages of a release, in order: rename them, change the weights, add or remove stages; `kanari plan {name}` shows the traffic and pods of each."
            ),
        );
        o.push_str("  stages:\n");
        comment(
            &mut o,
            4,
            "Requests with the header `end-user: tester` go to the canary; all others stay on stable. Put your testers' header (or a cookie) here. A match holds in its own stage alone.",
        );
        o.push_str("    - name: testers\n      match:\n        - headers: {end-user: {exact: tester}}\n");
        comment(&mut o, 4, "10% of the requests go to the canary.");
        o.push_str("    - name: 90-10\n      weight: 10\n");
        comment(
            &mut o,
            4,
            &format!("Half of them; the release stays here until `kanari approve {name}` is committed."),
        );
        o.push_str("    - name: 50-50\n      weight: 50\n      pause: {approval: true}\n");
        comment(
            &mut o,
            4,
            "All of them; the old version is scaled to 0 once no request reaches it, and the stage bakes 30 minutes before the release can be finished (the canary made `stable` in this file).",
        );
        o.push_str("    - name: 0-100\n      weight: 100\n      replicas: {stable: 0}\n      pause: {duration: 30m}\n");
        o
    }
}

/// A comment of `text` at `indent`, wrapped at 100 columns.
fn comment(out: &mut String, indent: usize, text: &str) {
    let pad = " ".repeat(indent);
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && pad.len() + 2 + line.len() + 1 + word.len() > 100 {
            out.push_str(&format!("{pad}# {line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&format!("{pad}# {line}\n"));
}

/// `node` as block YAML at `indent` spaces, ending in a newline: its entries in the order they
/// were written (a person reads their own manifest back), each scalar as [`yaml`] writes it.
pub(super) fn emit(node: &Node, indent: usize) -> String {
    let mut out = String::new();
    write_node(&mut out, node, indent);
    out
}

fn is_inline(node: &Node) -> bool {
    match &node.value {
        NodeValue::Map(entries) => entries.is_empty(),
        NodeValue::List(items) => items.is_empty(),
        _ => true,
    }
}

fn write_node(out: &mut String, node: &Node, indent: usize) {
    let pad = " ".repeat(indent);
    match &node.value {
        NodeValue::Map(entries) if !entries.is_empty() => {
            for (key, value) in entries {
                let key = key.as_str().map_or_else(|| yaml::scalar(&key.to_json()), yaml::string);
                out.push_str(&format!("{pad}{key}:"));
                if is_inline(value) {
                    out.push_str(&format!(" {}\n", yaml::scalar(&value.to_json())));
                } else {
                    out.push('\n');
                    write_node(out, value, indent + 2);
                }
            }
        }
        NodeValue::List(items) if !items.is_empty() => {
            for item in items {
                if is_inline(item) {
                    out.push_str(&format!("{pad}- {}\n", yaml::scalar(&item.to_json())));
                } else {
                    // The item as a block two spaces in, its first indent replaced by the dash.
                    let inner = emit(item, indent + 2);
                    out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
                }
            }
        }
        _ => out.push_str(&format!("{pad}{}\n", yaml::scalar(&node.to_json()))),
    }
}

/// The pod template as the spec holds it: without the labels and image kanari sets, with the
/// names found for the main container's ports.
pub(super) fn shape_template(template: &mut Node, main: usize, ports: &[(Option<String>, i64, bool)]) {
    if let Some(metadata) = child_mut(template, "metadata") {
        remove(metadata, "creationTimestamp");
        if let Some(labels) = child_mut(metadata, "labels") {
            remove(labels, "app");
            remove(labels, "version");
        }
        drop_if_empty(metadata, "labels");
    }
    drop_if_empty(template, "metadata");
    let container =
        child_mut(template, "spec").and_then(|s| child_mut(s, "containers")).and_then(|c| match &mut c.value {
            NodeValue::List(items) => items.get_mut(main),
            _ => None,
        });
    let Some(container) = container else { return };
    remove(container, "image");
    let Some(NodeValue::List(list)) = child_mut(container, "ports").map(|p| &mut p.value) else { return };
    for port in list.iter_mut() {
        let number = port.get("containerPort").and_then(|n| n.to_json().as_i64());
        if let Some((Some(name), _, true)) = ports.iter().find(|(_, n, _)| Some(*n) == number)
            && let Some(entries) = entries_mut(port)
        {
            let at = |value| Node { line: 0, column: 0, value };
            entries.insert(0, (at(NodeValue::String("name".into())), at(NodeValue::String(name.clone()))));
        }
    }
}

fn entries_mut(node: &mut Node) -> Option<&mut Vec<(Node, Node)>> {
    match &mut node.value {
        NodeValue::Map(entries) => Some(entries),
        _ => None,
    }
}

/// The value of `key` in the mapping `node`, to change.
pub(super) fn child_mut<'n>(node: &'n mut Node, key: &str) -> Option<&'n mut Node> {
    entries_mut(node)?.iter_mut().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
}

pub(super) fn remove(node: &mut Node, key: &str) {
    if let Some(entries) = entries_mut(node) {
        entries.retain(|(k, _)| k.as_str() != Some(key));
    }
}

/// Removes `key` from the mapping `node` when its value is an empty mapping.
pub(super) fn drop_if_empty(node: &mut Node, key: &str) {
    if child_mut(node, key).is_some_and(|v| matches!(&v.value, NodeValue::Map(e) if e.is_empty())) {
        remove(node, key);
    }
}

//! The pod template of a spec: checked against Kubernetes' own PodTemplateSpec schema
//! ([`crate::kube_schema`]) and kanari's rules, and which of its containers is the main one.
//! Like all of `spec`, it imports no later step of the pipeline.

use serde_json::Value;

use super::rules::{LABEL_KEY_RULE, is_label_key, is_label_value};
use super::validate::Validator;
use crate::kube_schema::Node;
use crate::problem::{Place, Problem};

/// The template's fields kanari fills in when they are missing (its default container), so not
/// required of the template.
pub(super) const FILLED: [&str; 1] = ["template.spec.containers"];

impl Validator<'_> {
    fn node_problem(&mut self, node: &Node, message: impl Into<String>) {
        self.problems.push(Problem::at(self.file, self.source, node.line, node.column, message));
    }

    fn node_place(&self, node: &Node) -> Place {
        Place::at(self.file, self.source, node.line, node.column)
    }

    /// The pod template: first checked against Kubernetes' own PodTemplateSpec schema
    /// ([`crate::kube_schema`]), then against kanari's rules: the `app`/`version` labels and the
    /// main container's image are kanari's to set, label keys and values follow Kubernetes'
    /// rules, and the containers (kanari adds one when there are none) are a non-empty list with
    /// one main container. Every problem points at its own key or value. Returns the template as
    /// JSON and the place of each container.
    pub(super) fn template(&mut self, raw: &Node, release: &str) -> (Value, Vec<Place>) {
        if !raw.is_map() {
            self.node_problem(
                raw,
                "template must be a mapping with `metadata` and `spec`, as in a Deployment's pod template",
            );
            return (Value::Object(Default::default()), Vec::new());
        }
        for found in crate::kube_schema::check(raw, "template", &FILLED) {
            self.problems.push(Problem::at(self.file, self.source, found.line, found.column, found.message));
        }
        if let Some(labels) = raw.get("metadata").and_then(|m| m.get("labels")) {
            for (key, value) in labels.entries() {
                let Some(k) = key.as_str() else { continue };
                if k == "app" || k == "version" {
                    self.node_problem(key, format!("template.metadata.labels.{k} is set by kanari; leave it out"));
                }
                if !is_label_key(k) {
                    self.node_problem(key, format!("template label key `{k}` is not valid: {LABEL_KEY_RULE}"));
                }
                if let Some(v) = value.as_str()
                    && !is_label_value(v)
                {
                    self.node_problem(value, format!("template label `{k}` has the value `{v}`, which is not a valid label value: at most 63 characters of alphanumerics, `-`, `_` and `.`, starting and ending with an alphanumeric"));
                }
            }
        }
        let template = raw.to_json();
        let mut places = Vec::new();
        if let Some(list) = raw.get("spec").and_then(|s| s.get("containers"))
            && let Some(containers) = template.pointer("/spec/containers").and_then(Value::as_array)
        {
            let items = list.items();
            places = items.iter().map(|c| self.node_place(c)).collect();
            let named = containers.iter().all(|c| c.get("name").and_then(Value::as_str).is_some());
            // A missing or mistyped name is the schema's finding already.
            if containers.is_empty() {
                self.node_problem(list, "template.spec.containers must be a non-empty list");
            } else if named {
                match main_container(containers, release) {
                    None => self.node_problem(list, format!("template.spec.containers has several containers and none is named `{release}`: name the one whose image the versions set")),
                    Some(main) => {
                        if let Some((key, _)) = items.get(main).and_then(|c| c.entries().find(|(k, _)| k.as_str() == Some("image"))) {
                            self.node_problem(key, format!("the image of container `{release}` comes from spec.stable and spec.canary; leave it out of the template"));
                        }
                    }
                }
            }
        }
        (template, places)
    }
}

/// The index of the container whose image the versions set: the one named after the release,
/// or the only one.
pub(crate) fn main_container(containers: &[Value], release: &str) -> Option<usize> {
    containers
        .iter()
        .position(|c| c.get("name").and_then(Value::as_str) == Some(release))
        .or_else(|| (containers.len() == 1).then_some(0))
}

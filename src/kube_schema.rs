//! The pod template's check against Kubernetes' own `io.k8s.api.core.v1.PodTemplateSpec` schema,
//! a step of spec validation: a spec's `template` is read as a [`Node`] tree that keeps the
//! place of every key and value, checked here, then turned into JSON for rendering.
//!
//! The schema is `schemas/pod-template-spec.json`, generated from the Kubernetes OpenAPI (see
//! `schemas/README.md`), embedded in the binary and parsed once. What is checked: unknown
//! fields (with the closest valid name when one is close), types (int32/int64 ranges,
//! int-or-string, quantities), required fields and enums where the schema has them.
//!
//! Decisions: a `null` is refused anywhere the schema names a type (Kubernetes would read it as
//! "not set"; in a spec it is almost always a mistake such as `spec:` with nothing under it),
//! and mapping keys must be strings, as in JSON. Fields that kanari fills in itself (the
//! default container) are not required of the template.
//!
//! Why by hand: the `jsonschema` crate (no default features, so no network) was tried on the
//! JSON Schema [`json_schema`] gives editors. Turning its errors back into findings at the
//! nodes, in these words and with "did you mean", took as many lines as this check (682
//! against 680), and it still needed a walk of its own for what JSON cannot hold (a key that
//! is not a string, `.inf`, and `80.0`, which JSON Schema reads as an integer). It adds 47
//! crates to the build and 4.7 MB to the stripped release binary (14.6 MB to 19.2 MB);
//! `kanari lint` over 1,000 releases took about as long with either. `versus_crate` holds the
//! two to the same verdicts on every template one step from a rich one: they agree, but where
//! JSON cannot say what the YAML wrote, where this check is the stricter.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};
use serde_saphyr::Spanned;

/// A YAML value with the place (1-based line and column) where it is written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub line: u64,
    pub column: u64,
    pub value: NodeValue,
}

/// The value of a [`Node`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NodeValue {
    Null,
    Bool(bool),
    Number(Number),
    /// `.inf`, `.nan`: YAML numbers that JSON, and so Kubernetes, cannot hold.
    NonFinite,
    String(String),
    List(Vec<Node>),
    /// Entries in the order written; keys may be any node, the check refuses all but strings.
    Map(Vec<(Node, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<NodeValue>::deserialize(deserializer)?;
        let at = spanned.referenced;
        Ok(Node { line: at.line(), column: at.column(), value: spanned.value })
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeValue, E> {
        Ok(NodeValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeValue, E> {
        Ok(NodeValue::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeValue, E> {
        Ok(NodeValue::Number(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<NodeValue, E> {
        Ok(match (i64::try_from(v), u64::try_from(v)) {
            (Ok(n), _) => NodeValue::Number(n.into()),
            (_, Ok(n)) => NodeValue::Number(n.into()),
            _ => self.visit_f64::<E>(v as f64)?,
        })
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<NodeValue, E> {
        Ok(match u64::try_from(v) {
            Ok(n) => NodeValue::Number(n.into()),
            Err(_) => self.visit_f64::<E>(v as f64)?,
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeValue, E> {
        Ok(Number::from_f64(v).map_or(NodeValue::NonFinite, NodeValue::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeValue, E> {
        Ok(NodeValue::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<NodeValue, D::Error> {
        NodeValue::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeValue::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Node, Node>()? {
            entries.push(entry);
        }
        Ok(NodeValue::Map(entries))
    }
}

impl Node {
    /// The value of `key` when this is a mapping that has it.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entries().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    /// The entries of a mapping (none for anything else).
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&Node, &Node)> {
        let entries = match &self.value {
            NodeValue::Map(entries) => entries.as_slice(),
            _ => &[],
        };
        entries.iter().map(|(k, v)| (k, v))
    }

    /// The items of a list (none for anything else).
    pub(crate) fn items(&self) -> &[Node] {
        match &self.value {
            NodeValue::List(items) => items,
            _ => &[],
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn is_map(&self) -> bool {
        matches!(self.value, NodeValue::Map(_))
    }

    /// The value as JSON, which is how it is rendered. Only meaningful once [`check`] found
    /// nothing: a non-finite number becomes `null` and a key that is not a string its JSON text.
    pub(crate) fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null | NodeValue::NonFinite => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Number(n) => Value::Number(n.clone()),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::List(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = k.as_str().map_or_else(|| k.to_json().to_string(), str::to_string);
                        (key, v.to_json())
                    })
                    .collect(),
            ),
        }
    }

    /// What kind of value this is, as messages name it.
    fn kind(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Number(n) if n.is_f64() => "a number with a fraction",
            NodeValue::Number(_) => "an integer",
            NodeValue::NonFinite => "a non-finite number",
            NodeValue::String(_) => "a string",
            NodeValue::List(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The schema.

/// `schemas/pod-template-spec.json`, generated by `schemas/generate.mjs`.
pub(crate) const SCHEMA_JSON: &str = include_str!("../schemas/pod-template-spec.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Schema {
    root: String,
    definitions: BTreeMap<String, Definition>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Definition {
    properties: BTreeMap<String, Type>,
    #[serde(default)]
    required: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Type {
    Simple(Simple),
    Enum {
        #[serde(rename = "enum")]
        values: Vec<String>,
    },
    List {
        list: Box<Type>,
    },
    Map {
        map: Box<Type>,
    },
    Ref {
        #[serde(rename = "ref")]
        name: String,
    },
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum Simple {
    String,
    Boolean,
    Int32,
    Int64,
    Integer,
    Number,
    IntOrString,
    Quantity,
    /// Any mapping (such as `FieldsV1`).
    Object,
}

// The file is generated and checked by the tests (`the_embedded_schema_is_whole`), so a failure
// here is a build that never passed its tests.
static SCHEMA: LazyLock<Schema> =
    LazyLock::new(|| serde_json::from_str(SCHEMA_JSON).expect("schemas/pod-template-spec.json is valid"));

// Kubernetes' serialization format of a resource.Quantity: a signed decimal, then a binary
// suffix (Ki..Ei), a decimal suffix (n, u, m, k, M..E) or a decimal exponent (e3, E-2).
const QUANTITY_PATTERN: &str =
    r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$";

static QUANTITY: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(QUANTITY_PATTERN).expect("the quantity regex compiles"));

/// One thing wrong in a template, at the place of the node it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finding {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// Checks a template (the node of `spec.template`) against the PodTemplateSpec schema. `path`
/// names the node in messages (`template`); `filled` lists the paths of fields kanari fills in
/// when they are missing (`template.spec.containers`), which are then not required.
pub(crate) fn check(template: &Node, path: &str, filled: &[&str]) -> Vec<Finding> {
    let schema = &*SCHEMA;
    let mut checker = Checker { schema, filled, found: Vec::new() };
    checker.definition(&schema.root, template, path);
    checker.found
}

/// The schema as JSON Schema (draft 2020-12) definitions, for editors: the name of the root
/// definition (`io.k8s.api.core.v1.PodTemplateSpec`) and every definition by name, each
/// referring to the others as `{refs}<name>` (`#/$defs/`). It says what [`check`] does where
/// JSON Schema can: every object closed to unknown fields, the integer ranges, int-or-string,
/// the quantity pattern, required fields and enums; `null` is refused wherever a type is named.
/// `filled` are the fields kanari fills in, as paths from the root (`spec.containers`): they
/// are not required. Deterministic: definitions and properties in sorted order.
pub(crate) fn json_schema(refs: &str, filled: &[&str]) -> (String, serde_json::Map<String, Value>) {
    let schema = &*SCHEMA;
    let not_required: Vec<(String, &str)> = filled
        .iter()
        .filter_map(|path| {
            let (parent, field) = path.rsplit_once('.').unwrap_or(("", path));
            let mut name = schema.root.clone();
            for step in parent.split('.').filter(|s| !s.is_empty()) {
                match schema.definitions.get(&name)?.properties.get(step)? {
                    Type::Ref { name: next } => name = next.clone(),
                    _ => return None,
                }
            }
            Some((name, field))
        })
        .collect();
    let definitions = schema
        .definitions
        .iter()
        .map(|(name, def)| {
            let properties: serde_json::Map<String, Value> =
                def.properties.iter().map(|(k, ty)| (k.clone(), json_type(ty, refs))).collect();
            let required: Vec<&String> =
                def.required.iter().filter(|r| !not_required.contains(&(name.clone(), r.as_str()))).collect();
            let mut object = serde_json::json!({
                "type": "object",
                "properties": properties,
                "additionalProperties": false,
            });
            if !required.is_empty() {
                object["required"] = serde_json::json!(required);
            }
            (name.clone(), object)
        })
        .collect();
    (schema.root.clone(), definitions)
}

/// The name of the schema's root definition, `io.k8s.api.core.v1.PodTemplateSpec`.
pub(crate) fn root() -> &'static str {
    &SCHEMA.root
}

fn json_type(ty: &Type, refs: &str) -> Value {
    use serde_json::json;
    let int32 = json!({"type": "integer", "format": "int32", "minimum": i32::MIN, "maximum": i32::MAX});
    match ty {
        Type::Simple(Simple::String) => json!({"type": "string"}),
        Type::Simple(Simple::Boolean) => json!({"type": "boolean"}),
        Type::Simple(Simple::Int32) => int32,
        Type::Simple(Simple::Int64) => {
            json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX})
        }
        Type::Simple(Simple::Integer) => json!({"type": "integer"}),
        Type::Simple(Simple::Number) => json!({"type": "number"}),
        Type::Simple(Simple::IntOrString) => json!({"anyOf": [int32, {"type": "string"}]}),
        Type::Simple(Simple::Quantity) => {
            json!({"anyOf": [{"type": "number"}, {"type": "string", "pattern": QUANTITY_PATTERN}]})
        }
        Type::Simple(Simple::Object) => json!({"type": "object"}),
        Type::Enum { values } => json!({"type": "string", "enum": values}),
        Type::List { list } => json!({"type": "array", "items": json_type(list, refs)}),
        Type::Map { map } => json!({"type": "object", "additionalProperties": json_type(map, refs)}),
        Type::Ref { name } => json!({"$ref": format!("{refs}{name}")}),
    }
}

struct Checker<'a> {
    schema: &'a Schema,
    filled: &'a [&'a str],
    found: Vec<Finding>,
}

impl Checker<'_> {
    fn report(&mut self, node: &Node, message: String) {
        self.found.push(Finding { line: node.line, column: node.column, message });
    }

    fn mismatch(&mut self, node: &Node, path: &str, expected: &str) {
        let message = match &node.value {
            NodeValue::Null => format!("{path} is null: give {expected} or leave the field out"),
            NodeValue::String(s) if s.len() <= 40 => format!("{path}: expected {expected}, got the string `{s}`"),
            _ => format!("{path}: expected {expected}, got {}", node.kind()),
        };
        self.report(node, message);
    }

    fn definition(&mut self, name: &str, node: &Node, path: &str) {
        let Some(def) = self.schema.definitions.get(name) else { return };
        let NodeValue::Map(entries) = &node.value else {
            return self.mismatch(node, path, "a mapping");
        };
        for (key, value) in entries {
            let Some(k) = key.as_str() else {
                self.report(key, format!("{path}: a key must be a string, got {}", key.kind()));
                continue;
            };
            let field = format!("{path}.{k}");
            match def.properties.get(k) {
                Some(ty) => self.value(ty, value, &field),
                None => {
                    let hint = closest(k, def.properties.keys().map(String::as_str))
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    self.report(key, format!("unknown field `{k}` in {path}{hint}"));
                }
            }
        }
        for required in &def.required {
            let field = format!("{path}.{required}");
            let present = node.get(required).is_some_and(|v| v.value != NodeValue::Null);
            if !present && !self.filled.contains(&field.as_str()) {
                self.report(node, format!("{path} needs the field `{required}`"));
            }
        }
    }

    fn value(&mut self, ty: &Type, node: &Node, path: &str) {
        match ty {
            Type::Simple(simple) => self.simple(*simple, node, path),
            Type::Enum { values } => match node.as_str() {
                Some(s) if values.iter().any(|v| v == s) => {}
                Some(s) => {
                    let listed = values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ");
                    let hint = closest(s, values.iter().map(String::as_str)).map(|c| format!("; did you mean `{c}`?"));
                    self.report(node, format!("{path} is `{s}`, not one of {listed}{}", hint.unwrap_or_default()));
                }
                None => self.mismatch(node, path, "a string"),
            },
            Type::List { list } => match &node.value {
                NodeValue::List(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.value(list, item, &format!("{path}[{i}]"));
                    }
                }
                _ => self.mismatch(node, path, "a list"),
            },
            Type::Map { map } => match &node.value {
                NodeValue::Map(entries) => {
                    for (key, value) in entries {
                        match key.as_str() {
                            Some(k) => self.value(map, value, &format!("{path}.{k}")),
                            None => self.report(key, format!("{path}: a key must be a string, got {}", key.kind())),
                        }
                    }
                }
                _ => self.mismatch(node, path, "a mapping"),
            },
            Type::Ref { name } => self.definition(name, node, path),
        }
    }

    fn simple(&mut self, simple: Simple, node: &Node, path: &str) {
        let v = &node.value;
        let integer = |n: &Number| n.is_i64() || n.is_u64();
        match simple {
            Simple::String if matches!(v, NodeValue::String(_)) => {}
            Simple::String => self.mismatch(node, path, "a string"),
            Simple::Boolean if matches!(v, NodeValue::Bool(_)) => {}
            Simple::Boolean => self.mismatch(node, path, "true or false"),
            Simple::Int32 | Simple::Int64 | Simple::Integer => match v {
                NodeValue::Number(n) if integer(n) => {
                    if simple == Simple::Int32 && n.as_i64().is_none_or(|n| i32::try_from(n).is_err()) {
                        self.report(node, format!("{path}: {n} does not fit in a 32-bit integer"));
                    } else if n.as_i64().is_none() {
                        self.report(node, format!("{path}: {n} does not fit in a 64-bit integer"));
                    }
                }
                _ => self.mismatch(node, path, "an integer"),
            },
            Simple::Number if matches!(v, NodeValue::Number(_)) => {}
            Simple::Number => self.mismatch(node, path, "a number"),
            Simple::IntOrString => match v {
                NodeValue::String(_) => {}
                NodeValue::Number(n) if integer(n) && n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) => {}
                _ => self.mismatch(node, path, "an integer or a string"),
            },
            Simple::Quantity => match v {
                NodeValue::Number(_) => {}
                NodeValue::String(s) if QUANTITY.is_match(s) => {}
                NodeValue::String(s) => self.report(
                    node,
                    format!("{path}: `{s}` is not a Kubernetes quantity (such as `250m`, `0.5`, `128Mi` or `2Gi`)"),
                ),
                _ => self.mismatch(node, path, "a quantity (such as `250m`, `0.5`, `128Mi` or `2Gi`)"),
            },
            Simple::Object => match v {
                NodeValue::Map(_) => self.plain(node, path),
                _ => self.mismatch(node, path, "a mapping"),
            },
        }
    }

    /// A free-form value: anything JSON can hold.
    fn plain(&mut self, node: &Node, path: &str) {
        match &node.value {
            NodeValue::NonFinite => self.report(node, format!("{path}: a non-finite number cannot be written as JSON")),
            NodeValue::List(items) => {
                items.iter().enumerate().for_each(|(i, n)| self.plain(n, &format!("{path}[{i}]")))
            }
            NodeValue::Map(entries) => {
                for (key, value) in entries {
                    match key.as_str() {
                        Some(k) => self.plain(value, &format!("{path}.{k}")),
                        None => self.report(key, format!("{path}: a key must be a string, got {}", key.kind())),
                    }
                }
            }
            _ => {}
        }
    }
}

/// The candidate closest to `name`, when it is close enough to be the one meant: the same
/// without regard to case, or within an edit distance of 1 (names up to 4 characters), 2 (up to
/// 10) or 3. Ties go to the first in order.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let limit = match name.chars().count() {
        0..=4 => 1,
        5..=10 => 2,
        _ => 3,
    };
    candidates
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod versus_crate;

#[cfg(test)]
mod tests {
    use super::*;

    fn node(yaml: &str) -> Node {
        serde_saphyr::from_str(yaml).expect("valid YAML")
    }

    fn findings(yaml: &str) -> Vec<String> {
        check(&node(yaml), "template", &["template.spec.containers"])
            .into_iter()
            .map(|f| format!("{}:{} {}", f.line, f.column, f.message))
            .collect()
    }

    #[test]
    fn the_embedded_schema_is_whole() {
        let schema = &*SCHEMA;
        assert_eq!(schema.root, "io.k8s.api.core.v1.PodTemplateSpec");
        fn refs<'a>(ty: &'a Type, out: &mut Vec<&'a str>) {
            match ty {
                Type::Ref { name } => out.push(name),
                Type::List { list: t } | Type::Map { map: t } => refs(t, out),
                _ => {}
            }
        }
        let mut names = vec![schema.root.as_str()];
        for def in schema.definitions.values() {
            def.properties.values().for_each(|t| refs(t, &mut names));
            for r in &def.required {
                assert!(def.properties.contains_key(r), "required `{r}` is not a property");
            }
        }
        for name in names {
            assert!(schema.definitions.contains_key(name), "no definition {name}");
        }
        let container = &schema.definitions["io.k8s.api.core.v1.Container"];
        assert!(container.properties.contains_key("readinessProbe"));
        assert_eq!(container.required, ["name"]);
    }

    #[test]
    fn a_good_template_passes() {
        let yaml = "metadata:\n  labels: {team: a}\n  annotations: {a: b}\nspec:\n  containers:\n    - name: web\n      ports: [{containerPort: 80, protocol: TCP}]\n      readinessProbe: {httpGet: {path: /, port: http}}\n      resources: {requests: {cpu: 100m, memory: 1.5Gi}, limits: {cpu: 1}}\n  volumes: [{name: tmp, emptyDir: {}}]\n  terminationGracePeriodSeconds: 30\n";
        assert_eq!(findings(yaml), Vec::<String>::new());
    }

    #[test]
    fn each_problem_is_at_its_node() {
        // (template, expected finding)
        let table = [
            (
                "spec:\n  containers:\n    - name: a\n      readinesProbe: {}\n",
                "4:7 unknown field `readinesProbe` in template.spec.containers[0]; did you mean `readinessProbe`?",
            ),
            (
                "spec:\n  containers: [{name: a, envv: []}]\n",
                "2:26 unknown field `envv` in template.spec.containers[0]; did you mean `env`?",
            ),
            (
                "spec:\n  containers: [{name: a, zzzzzzzz: 1}]\n",
                "2:26 unknown field `zzzzzzzz` in template.spec.containers[0]",
            ),
            (
                "spec:\n  containers: [{name: a, ports: [{containerPort: \"80\"}]}]\n",
                "2:50 template.spec.containers[0].ports[0].containerPort: expected an integer, got the string `80`",
            ),
            (
                "spec:\n  containers: [{name: a, ports: [{containerPort: 99999999999}]}]\n",
                "2:50 template.spec.containers[0].ports[0].containerPort: 99999999999 does not fit in a 32-bit integer",
            ),
            (
                "spec:\n  containers: [{name: a, ports: [{}]}]\n",
                "2:34 template.spec.containers[0].ports[0] needs the field `containerPort`",
            ),
            (
                "spec:\n  containers: [{name: a, resources: {limits: {cpu: [1]}}}]\n",
                "2:52 template.spec.containers[0].resources.limits.cpu: expected a quantity (such as `250m`, `0.5`, `128Mi` or `2Gi`), got a list",
            ),
            (
                "spec:\n  containers: [{name: a, resources: {limits: {cpu: 2cores}}}]\n",
                "2:52 template.spec.containers[0].resources.limits.cpu: `2cores` is not a Kubernetes quantity (such as `250m`, `0.5`, `128Mi` or `2Gi`)",
            ),
            (
                "spec:\n  containers: [{name: a, tty: \"true\"}]\n",
                "2:31 template.spec.containers[0].tty: expected true or false, got the string `true`",
            ),
            ("spec: null\n", "1:7 template.spec is null: give a mapping or leave the field out"),
            ("metadata: oops\n", "1:11 template.metadata: expected a mapping, got the string `oops`"),
            ("metadata: [a]\n", "1:11 template.metadata: expected a mapping, got a list"),
            ("spec:\n  containers: {name: a}\n", "2:15 template.spec.containers: expected a list, got a mapping"),
            ("spec:\n  containers: [{name: a}]\n  volumes: [{name: v, emptyDir: {sizeLimit: 1.5}}]\n", ""),
            (
                "spec:\n  containers: [{name: a, ports: [{containerPort: 80.5}]}]\n",
                "2:50 template.spec.containers[0].ports[0].containerPort: expected an integer, got a number with a fraction",
            ),
            ("metadata:\n  labels: {1: a}\n", "2:12 template.metadata.labels: a key must be a string, got an integer"),
            ("spec:\n  containers: [{ports: []}]\n", "2:16 template.spec.containers[0] needs the field `name`"),
            ("spec: {volumes: []}\n", ""),
            ("Spec: {}\n", "1:1 unknown field `Spec` in template; did you mean `spec`?"),
        ];
        let mut wrong = Vec::new();
        for (yaml, expect) in table {
            let found = findings(yaml);
            let ok = if expect.is_empty() { found.is_empty() } else { found.iter().any(|f| f == expect) };
            if !ok {
                wrong.push(format!("{yaml:?}: expected {expect:?}, got {found:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn close_names_only() {
        let names = ["readinessProbe", "env", "envFrom", "ports", "image"];
        assert_eq!(closest("readinesProbe", names.into_iter()), Some("readinessProbe"));
        assert_eq!(closest("envv", names.into_iter()), Some("env"));
        assert_eq!(closest("PORTS", names.into_iter()), Some("ports"));
        assert_eq!(closest("volumes", names.into_iter()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn json_keeps_every_value() {
        let n = node("a: [1, -2, 1.5, x, true, null]\nb: {c: 18446744073709551615}\n");
        assert_eq!(
            n.to_json(),
            serde_json::json!({"a": [1, -2, 1.5, "x", true, null], "b": {"c": 18446744073709551615u64}})
        );
    }
}

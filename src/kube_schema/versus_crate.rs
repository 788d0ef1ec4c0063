//! The hand-written [`check`] against the `jsonschema` crate (a test-only dependency) on the JSON
//! Schema the same schema gives editors ([`json_schema`]): every value of a rich template
//! replaced in turn by each of a set of good and bad values, every mapping given an unknown
//! field and stripped of each of its fields, and the two asked whether the result passes.
//! They agree, but where JSON cannot say what YAML wrote: a key that is not a string, a
//! non-finite number, and a number written with a fraction (`80.0`, which JSON Schema reads as
//! an integer). There the hand-written check refuses and the crate, given the JSON, passes; no
//! template passes the hand-written check that the crate refuses.

use super::*;

fn node(yaml: &str) -> Node {
    serde_saphyr::from_str(yaml).expect("valid YAML")
}

fn at(value: NodeValue) -> Node {
    Node { line: 1, column: 1, value }
}

fn string(s: &str) -> Node {
    at(NodeValue::String(s.to_string()))
}

/// A template that uses every kind of type the schema has: int32, int64, int-or-string,
/// quantities (in a map and alone), booleans, strings, lists, maps, references and the
/// free-form `fieldsV1`.
const GOOD: &str = "
metadata:
  labels: {team: a}
  managedFields: [{manager: m, fieldsV1: {\"f:spec\": {\".\": {}, \"f:k\": [1, x, {a: 1.5}]}}}]
spec:
  containers:
    - name: web
      ports: [{containerPort: 80, protocol: TCP}]
      readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 5}
      resources: {requests: {cpu: 100m, memory: 1.5Gi}, limits: {cpu: 1}}
      securityContext: {runAsUser: 1000, readOnlyRootFilesystem: true}
      env: [{name: A, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}]
  volumes: [{name: tmp, emptyDir: {sizeLimit: 1Gi}}]
  terminationGracePeriodSeconds: 30
";

/// The values each place is given in turn.
fn replacements() -> Vec<Node> {
    let number = |n: Number| at(NodeValue::Number(n));
    vec![
        at(NodeValue::Null),
        at(NodeValue::Bool(true)),
        number(7.into()),
        number((-1).into()),
        number(2_147_483_648u64.into()),
        number(u64::MAX.into()),
        number(Number::from_f64(80.0).unwrap()),
        number(Number::from_f64(0.5).unwrap()),
        at(NodeValue::NonFinite),
        string("x"),
        string("250m"),
        string("2cores"),
        string("TCP"),
        at(NodeValue::List(vec![])),
        at(NodeValue::List(vec![string("x")])),
        at(NodeValue::Map(vec![])),
        at(NodeValue::Map(vec![(string("name"), string("x"))])),
        at(NodeValue::Map(vec![(number(1.into()), string("x"))])),
    ]
}

/// Every template one step from `GOOD`: a value replaced, a field added or a field removed.
fn variants() -> Vec<Node> {
    fn walk(node: &Node, rebuild: &dyn Fn(Node) -> Node, out: &mut Vec<Node>) {
        for value in replacements() {
            out.push(rebuild(value));
        }
        match &node.value {
            NodeValue::Map(entries) => {
                let mut with = entries.clone();
                with.push((string("zzzz"), string("x")));
                out.push(rebuild(at(NodeValue::Map(with))));
                for i in 0..entries.len() {
                    let mut without = entries.clone();
                    without.remove(i);
                    out.push(rebuild(at(NodeValue::Map(without))));
                    let inner = |value: Node| {
                        let mut entries = entries.clone();
                        entries[i].1 = value;
                        rebuild(at(NodeValue::Map(entries)))
                    };
                    walk(&entries[i].1, &inner, out);
                }
            }
            NodeValue::List(items) => {
                for i in 0..items.len() {
                    let inner = |value: Node| {
                        let mut items = items.clone();
                        items[i] = value;
                        rebuild(at(NodeValue::List(items)))
                    };
                    walk(&items[i], &inner, out);
                }
            }
            _ => {}
        }
    }
    let good = node(GOOD);
    let mut out = vec![good.clone()];
    walk(&good, &|n| n, &mut out);
    out
}

/// What JSON cannot say of a template: a key that is not a string, a non-finite number, a
/// number written with a fraction where its value is whole.
fn beyond_json(node: &Node) -> bool {
    match &node.value {
        NodeValue::NonFinite => true,
        NodeValue::Number(n) => n.as_f64().is_some_and(|f| n.is_f64() && f.fract() == 0.0),
        NodeValue::List(items) => items.iter().any(beyond_json),
        NodeValue::Map(entries) => entries.iter().any(|(k, v)| k.as_str().is_none() || beyond_json(v)),
        _ => false,
    }
}

#[test]
fn the_crate_refuses_what_the_hand_written_check_refuses_but_what_json_cannot_say() {
    let (root, definitions) = json_schema("#/$defs/", &[]);
    let schema = serde_json::json!({"$ref": format!("#/$defs/{root}"), "$defs": definitions});
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let variants = variants();
    assert_eq!(check(&variants[0], "template", &[]), []);
    assert!(validator.is_valid(&variants[0].to_json()), "the crate refuses the good template");
    let (mut refused, mut beyond) = (0, 0);
    let mut wrong = Vec::new();
    for template in &variants {
        let hand = check(template, "template", &[]);
        let json = template.to_json();
        let by_crate = validator.is_valid(&json);
        refused += usize::from(!hand.is_empty());
        match (hand.is_empty(), by_crate) {
            (true, true) | (false, false) => {}
            (false, true) if beyond_json(template) => beyond += 1,
            _ => wrong.push(format!("hand-written {hand:?}, crate passes: {by_crate}, on {json}")),
        }
    }
    assert!(wrong.is_empty(), "{} disagreements:\n{}", wrong.len(), wrong.join("\n"));
    // Both verdicts are exercised, and what JSON cannot say is.
    assert!(variants.len() > 900 && refused > variants.len() / 2, "{} variants, {refused} refused", variants.len());
    assert!(refused + 20 < variants.len(), "{} variants, {refused} refused", variants.len());
    assert!(beyond > 10, "{beyond} templates beyond JSON");
}

//! The validator's rules, each at its place.

use super::*;
use crate::spec::table::problems_of;

const BASE: &str = "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  service: {port: 8080}
  stable: {version: v1, image: web:1}
  canary: {version: v2, image: web:2}
  stages:
    - name: one
      weight: 10
";

/// A lone CR once ended a line for the YAML parser but not for `file:line`, so a problem
/// could point past the end of the file (found by `props::loading_never_panics`).
#[test]
fn a_lone_carriage_return_is_refused_at_its_place_and_crlf_is_fine() {
    assert_eq!(
        problems_of("\r\r\0"),
        ["1:1 a carriage return that does not end a line with a line feed: save the file with LF (or CRLF) line ends"]
    );
    assert_eq!(problems_of("a: b\nkey: x\ry\n").len(), 1);
    assert!(problems_of("a: b\nkey: x\ry\n")[0].starts_with("2:7 "));
    assert_eq!(problems_of(&BASE.replace('\n', "\r\n")), Vec::<String>::new());
}

#[test]
fn base_spec_is_valid() {
    let (found, problems) = parse_file(Path::new("c.yaml"), BASE);
    assert!(problems.is_empty(), "{problems}");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].output, PathBuf::from("overlays/shop/web"));
    assert_eq!(found[0].hosts, vec!["web"]);
    assert_eq!(found[0].stages[0].weight, 10);
}

#[test]
fn a_version_is_any_label_value_and_names_its_objects_by_its_subset() {
    let yaml = BASE
        .replace("version: v1,", "version: 6.5.0,")
        .replace("version: v2, image: web:2}", "version: 6.6.0_rc.1, image: web:2, subset: next}");
    let (found, problems) = parse_file(Path::new("c.yaml"), &yaml);
    assert!(problems.is_empty(), "{problems}");
    let (stable, canary) = (&found[0].stable, found[0].canary.as_ref().unwrap());
    assert_eq!((stable.version.as_str(), stable.name.as_str()), ("6.5.0", "6-5-0"));
    assert_eq!((canary.version.as_str(), canary.name.as_str()), ("6.6.0_rc.1", "next"));
}

#[test]
fn rules_each_report_their_place() {
    // (replace this text of BASE, with this, expect a problem containing, at line:column)
    let table: &[(&str, &str, &str, &str)] = &[
        ("weight: 10", "weight: 101", "weight must be from 0 to 100", "10:15"),
        ("weight: 10", "weight: -1", "weight must be from 0 to 100", "10:15"),
        ("name: web,", "name: Web,", "DNS-1035", "3:18"),
        ("name: web,", "name: 9web,", "DNS-1035", "3:18"),
        ("namespace: shop", "namespace: Shop", "DNS-1123", "3:34"),
        ("version: v2", "version: v1", "is the stable version", "7:21"),
        ("version: v2", "version: V2", "DNS-1123", "7:21"),
        ("version: v2", "version: -v2", "must be a label value", "7:21"),
        ("version: v2", "version: 'v 2'", "must be a label value", "7:21"),
        ("version: v2", "version: v9, subset: v1", "share the object name `v1`", "7:33"),
        ("version: v2", "version: v2, subset: Next", "subset `Next` must be a DNS-1123 label", "7:33"),
        (
            "version: v1, image: web:1}\n  canary: {version: v2,",
            "version: 6.5.0, image: web:1}\n  canary: {version: 6_5_0,",
            "share the object name `6-5-0`",
            "7:21",
        ),
        ("name: one", "name: prepare", "reserved", "9:13"),
        ("name: one", "name: Aborted", "reserved", "9:13"),
        ("name: one", "name: ../x", "stage name", "9:13"),
        ("port: 8080", "port: 0", "service.port must be from 1 to 65535", "5:19"),
        ("image: web:2", "image: ''", "image", "7:32"),
        ("      weight: 10\n", "      weight: 10\n    - name: one\n", "used twice", "11:13"),
        ("      weight: 10\n", "      weight: 10\n    - name: ONE\n", "used twice", "11:13"),
        ("weight: 10", "weight: 10\n      match: [{}]", "empty match", "11:15"),
        ("weight: 10", "weight: 10\n      match: [{headers: {End-User: {exact: j}}}]", "lowercase HTTP token", "11:26"),
        ("weight: 10", "weight: 10\n      match: [{headers: {a: {exact: j, prefix: k}}}]", "exactly one of", "11:29"),
        ("weight: 10", "weight: 10\n      match: [{uri: {prefix: ''}}]", "empty prefix", "11:30"),
        ("weight: 10", "weight: 10\n      match: [{uri: {regex: '(('}}]", "does not compile", "11:29"),
        ("weight: 10", "weight: 10\n      pause: {duration: 5x}", "duration", "11:25"),
        ("weight: 10", "weight: 10\n      pause: {approval: yes}", "strict", "11:25"),
        ("weight: 10", "weight: 10\n      replicas: {stable: 0}", "replicas.stable is 0", "11:26"),
        ("weight: 10", "weight: 10\n      wieght: 3", "unknown field `wieght`", "11:7"),
        ("weight: 10", "mirror: 0", "mirror must be from 1 to 100, got 0", "10:15"),
        ("weight: 10", "weight: 10\n      mirror: 20", "weight 10 with mirror 20: a mirror stage keeps", "10:15"),
        ("weight: 10", "mirror: 5\n      match: [{uri: {prefix: /a}}]", "a match with mirror 5", "11:15"),
        ("weight: 10", "mirror: 5\n      replicas: {canary: 0}", "replicas.canary is 0 but", "11:26"),
        ("  service: {port: 8080}", "  service: {port: 8080}\n  output: ../up", "may not contain `..`", "6:11"),
        ("  service: {port: 8080}", "  service: {port: 8080}\n  output: .GIT/x", "`.git`", "6:11"),
        ("  service: {port: 8080}", "  service: {port: 8080}\n  output: /etc", "relative", "6:11"),
        (
            "  service: {port: 8080}",
            "  service: {port: 8080}\n  replicas: 2\n  autoscaling: {minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 50}",
            "exclude each other",
            "6:13",
        ),
        (
            "  service: {port: 8080}",
            "  service: {port: 8080}\n  autoscaling: {minReplicas: 4, maxReplicas: 3, targetCPUUtilizationPercentage: 50}",
            "below minReplicas",
            "6:46",
        ),
        ("kind: Canary", "kind: Rollout", "a Rollout (kanari.dev/v1alpha1), not a kanari.dev/v1alpha1 Canary", "2:7"),
        ("apiVersion: kanari.dev/v1alpha1", "apiVersion: v1", "a Canary (v1), not a kanari.dev/v1alpha1", "1:13"),
        ("      weight: 10\n", "    \t  weight: 10\n", "a tab in indentation", "10:5"),
        ("  service: {port: 8080}", "  service:\n\tport: 8080", "a tab in indentation", "6:1"),
        ("  service: {port: 8080}", "  service: {port: 8080}\n  hosts: [\"*\"]", "not allowed on the mesh", "6:11"),
        ("  service: {port: 8080}", "  service: {port: 8080}\n  hosts: [web, web]", "is listed twice", "6:16"),
        ("  service: {port: 8080}", "  service: {port: 8080}\n  hosts: [\"*.a.com\", b.a.com]", "overlaps", "6:22"),
        ("  service: {port: 8080}", "  service: {port: 8080}\n  service: {port: 1}", "duplicate key `service`", "6:3"),
    ];
    let mut wrong = Vec::new();
    for (from, to, expect, at) in table {
        assert!(BASE.contains(from), "{from}");
        let yaml = BASE.replacen(from, to, 1);
        let found = problems_of(&yaml);
        if !found.iter().any(|p| p.contains(expect) && p.starts_with(&format!("{at} "))) {
            wrong.push(format!("{to:?}: expected `{expect}` at {at}, got {found:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

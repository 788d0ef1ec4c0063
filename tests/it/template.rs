//! The pod template: any shape is refused at its own place (never a panic), it is checked
//! against Kubernetes' own PodTemplateSpec schema with the closest valid name suggested, that
//! schema is regenerated from its source byte for byte, and an autoscaler on CPU without a CPU
//! request is a warning at the container.

use std::process::Command;

use crate::{Spec, kanari, kanari_ok, project, repo_with, tree};

/// The smallest spec with this pod template (its YAML as at the top of a file).
fn with_template(template: &str) -> String {
    Spec::new("web").template(template).yaml()
}

/// Runs lint, render, render --stage and plan on each spec: exit 2, the problem at
/// `canaries/x.yaml:LINE:COLUMN` with its message, nothing printed on stdout, nothing written.
fn refused_everywhere(cases: &[(&str, String, &str, &str)]) {
    let mut wrong = Vec::new();
    for (name, text, message, at) in cases {
        let repo = repo_with(&[("canaries/x.yaml", text)]);
        let before = tree(repo.path());
        for args in [&["lint"][..], &["render"], &["render", "--stage", "half"], &["plan"]] {
            let mut all = vec!["-C", repo.path().to_str().unwrap()];
            all.extend_from_slice(args);
            let run = kanari(repo.path(), &all);
            let place = format!("canaries/x.yaml:{at}: ");
            let found = run.stderr.lines().any(|l| l.contains(&place) && l.contains(message));
            if run.code != 2 || !found || !run.stdout.is_empty() || tree(repo.path()) != before {
                wrong.push(format!(
                    "{name}: kanari {args:?} exited {}, expected `{place}{message}`; stdout {:?}, stderr:\n{}",
                    run.code, run.stdout, run.stderr
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn wrong_shaped_templates_exit_2_at_their_place_and_write_nothing() {
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "template is a list",
            Spec::new("web").template_inline("[a]").yaml(),
            "template must be a mapping with `metadata` and `spec`",
            "10:13",
        ),
        (
            "metadata is a string",
            with_template("metadata: oops"),
            "template.metadata: expected a mapping, got the string `oops`",
            "11:15",
        ),
        (
            "metadata is a list",
            with_template("metadata: [a]"),
            "template.metadata: expected a mapping, got a list",
            "11:15",
        ),
        (
            "spec is null",
            with_template("spec: null"),
            "template.spec is null: give a mapping or leave the field out",
            "11:11",
        ),
        ("spec is empty", with_template("spec:"), "template.spec is null", "11:9"),
        (
            "containers is a mapping",
            with_template("spec:\n  containers: {name: web}"),
            "template.spec.containers: expected a list, got a mapping",
            "12:19",
        ),
        (
            "a container is a string",
            with_template("spec:\n  containers: [web]"),
            "template.spec.containers[0]: expected a mapping, got the string `web`",
            "12:20",
        ),
        (
            "no containers",
            with_template("spec:\n  containers: []"),
            "template.spec.containers must be a non-empty list",
            "12:19",
        ),
        (
            "a container without a name",
            with_template("spec:\n  containers:\n    - ports: [{containerPort: 80}]"),
            "template.spec.containers[0] needs the field `name`",
            "13:11",
        ),
        (
            "labels are a list",
            with_template("metadata:\n  labels: [a]"),
            "template.metadata.labels: expected a mapping, got a list",
            "12:15",
        ),
        (
            "a label is a number",
            with_template("metadata:\n  labels:\n    tier: 1"),
            "template.metadata.labels.tier: expected a string, got an integer",
            "13:15",
        ),
        (
            "a label kanari sets",
            with_template("metadata:\n  labels:\n    app: other"),
            "template.metadata.labels.app is set by kanari; leave it out",
            "13:9",
        ),
        (
            "the main image in the template",
            with_template("spec:\n  containers:\n    - name: web\n      image: evil"),
            "the image of container `web` comes from spec.stable and spec.canary",
            "14:11",
        ),
        (
            "a mapping key that is not a string",
            with_template("metadata:\n  annotations: {1: a}"),
            "template.metadata.annotations: a key must be a string, got an integer",
            "12:21",
        ),
    ];
    refused_everywhere(&cases);
}

#[test]
fn template_typos_are_errors_at_their_line_with_the_closest_name() {
    let container = |lines: &str| with_template(&format!("spec:\n  containers:\n    - name: web\n{lines}"));
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "readinesProbe",
            container("      readinesProbe:\n        httpGet: {path: /, port: 8080}"),
            "unknown field `readinesProbe` in template.spec.containers[0]; did you mean `readinessProbe`?",
            "14:11",
        ),
        (
            "envv",
            container("      envv:\n        - {name: A, value: b}"),
            "unknown field `envv` in template.spec.containers[0]; did you mean `env`?",
            "14:11",
        ),
        (
            "containerPort as a string",
            container("      ports:\n        - containerPort: \"80\""),
            "template.spec.containers[0].ports[0].containerPort: expected an integer, got the string `80`",
            "15:30",
        ),
        (
            "a CPU limit as a list",
            container("      resources:\n        limits:\n          cpu: [1]"),
            "template.spec.containers[0].resources.limits.cpu: expected a quantity",
            "16:20",
        ),
        (
            "a CPU request that is no quantity",
            container("      resources:\n        requests: {cpu: 2cores}"),
            "`2cores` is not a Kubernetes quantity",
            "15:29",
        ),
        (
            "a field of the pod spec",
            with_template("spec:\n  terminationGracePeriodSecond: 30"),
            "unknown field `terminationGracePeriodSecond` in template.spec; did you mean `terminationGracePeriodSeconds`?",
            "12:7",
        ),
        (
            "a port out of range for int32",
            container("      ports:\n        - containerPort: 4294967296"),
            "containerPort: 4294967296 does not fit in a 32-bit integer",
            "15:30",
        ),
        (
            "a field far from any name",
            container("      flavour: vanilla"),
            "unknown field `flavour` in template.spec.containers[0]\n",
            "14:11",
        ),
    ];
    // The last case must have no suggestion: match the message up to the end of its line.
    let mut cases = cases;
    let last = cases.pop().unwrap();
    refused_everywhere(&cases);
    let repo = repo_with(&[("canaries/x.yaml", &last.1)]);
    let run = kanari(repo.path(), &["-C", repo.path().to_str().unwrap(), "lint"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("canaries/x.yaml:{}: {}", last.3, last.2)), "{}", run.stderr);
}

#[test]
fn every_template_problem_is_reported_at_once() {
    let text = with_template(
        "metadata:\n  labels: {app: x}\nspec:\n  containers:\n    - name: web\n      envv: []\n      ports: [{containerPort: \"80\"}]",
    );
    let repo = repo_with(&[("canaries/x.yaml", &text)]);
    let run = kanari(repo.path(), &["-C", repo.path().to_str().unwrap(), "lint"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    for at in ["x.yaml:12:16:", "x.yaml:16:11:", "x.yaml:17:35:", "3 problems found"] {
        assert!(run.stderr.contains(at), "no `{at}` in:\n{}", run.stderr);
    }
}

#[test]
fn the_schema_is_generated_from_its_source() {
    let root = project();
    let source = root.join("tests/schema/kubernetes-json-schema/v1.37.0-local-strict/_definitions.json");
    assert!(source.is_file(), "{} is missing: `bash .ci/run --tools-only` fetches it", source.display());
    let out = Command::new(crate::tool("node"))
        .arg(root.join("schemas/generate.mjs"))
        .arg(&source)
        .output()
        .expect("node runs");
    assert!(out.status.success(), "generate.mjs failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let committed = std::fs::read(root.join("schemas/pod-template-spec.json")).unwrap();
    assert!(
        out.stdout == committed,
        "schemas/pod-template-spec.json differs from what schemas/generate.mjs makes of its source; regenerate it (schemas/README.md)"
    );
    // And the binary embeds that file: a field only the upstream schema knows is accepted.
    let text = with_template(
        "spec:\n  containers:\n    - name: web\n      resizePolicy: [{resourceName: cpu, restartPolicy: NotRequired}]",
    );
    let repo = repo_with(&[("canaries/x.yaml", &text)]);
    kanari_ok(repo.path(), &["-C", repo.path().to_str().unwrap(), "lint"]);
}

#[test]
fn autoscaling_on_cpu_warns_for_a_container_without_a_cpu_request() {
    let autoscaled = Spec::new("web").autoscaling(2, 4, 60);
    let with_requests = |requests: &str| {
        let template = format!(
            "spec:
  containers:
    - name: web
      resources: {{requests: {requests}}}
    - name: proxy
      image: envoy:1
      resources: {{limits: {{cpu: 200m}}}}"
        );
        autoscaled.clone().template(&template).yaml()
    };
    let text = with_requests("{memory: 64Mi}");
    let repo = repo_with(&[("canaries/x.yaml", &text)]);
    let c = repo.path().to_str().unwrap();
    let run = kanari_ok(repo.path(), &["-C", c, "lint"]);
    assert!(
        run.stderr.contains("warning: canaries/x.yaml:14:11: container `web` has no resources.requests.cpu and the HorizontalPodAutoscaler targets CPU utilisation"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("missing request for cpu"), "{}", run.stderr);
    // The sidecar's CPU limit is its request too: no warning for it.
    assert!(!run.stderr.contains("`proxy`"), "{}", run.stderr);
    assert!(run.stdout.contains("1 warning"), "{}", run.stdout);
    let denied = kanari(repo.path(), &["-C", c, "--deny-warnings", "lint"]);
    assert_eq!(denied.code, 2, "{}", denied.stderr);
    assert!(denied.stderr.contains("1 warning and --deny-warnings"), "{}", denied.stderr);

    // Without a template, kanari's own container has no request: a warning at `autoscaling`.
    std::fs::write(repo.path().join("canaries/x.yaml"), autoscaled.yaml()).unwrap();
    let run = kanari_ok(repo.path(), &["-C", c, "lint"]);
    assert!(
        run.stderr.contains("warning: canaries/x.yaml:10:16: the default container `web` has no CPU request"),
        "{}",
        run.stderr
    );

    // With requests, or without autoscaling, nothing to say.
    let requested = with_requests("{memory: 64Mi, cpu: 100m}");
    std::fs::write(repo.path().join("canaries/x.yaml"), requested).unwrap();
    let run = kanari_ok(repo.path(), &["-C", c, "--deny-warnings", "lint"]);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    std::fs::write(repo.path().join("canaries/x.yaml"), Spec::new("web").yaml()).unwrap();
    let run = kanari_ok(repo.path(), &["-C", c, "--deny-warnings", "lint"]);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn every_fixture_lints_clean_with_deny_warnings() {
    for fixture in ["bookinfo", "helloworld"] {
        let dir = crate::fixture(fixture);
        kanari_ok(dir.path(), &["-C", dir.path().to_str().unwrap(), "--deny-warnings", "lint"]);
    }
}

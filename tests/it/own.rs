//! The team's own manifests (`spec.virtualService.from`, `spec.destinationRule.from`,
//! `spec.deployment.from`, fixture `own-manifests`): each mistake in them is an error at the
//! spec value that names the file (exit 2, nothing written); what kanari does not own passes
//! through unchanged in every state; a stage's match joins the named route's own; and a
//! committing command reads the files from the commit it builds on, not from the work tree.

use std::path::Path;

use serde_json::Value;

use crate::{Run, documents, fixture, fixture_repo, git, kanari, kanari_ok, one, tree};

const SPEC: &str = "canaries/reviews.yaml";
const VS: &str = "manifests/virtualservice.yaml";
const DR: &str = "manifests/destinationrule.yaml";
const DEPLOYMENT: &str = "manifests/deployment.yaml";

fn run(repo: &Path, args: &[&str]) -> Run {
    let mut all = vec!["-C", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    kanari(repo, &all)
}

fn read(repo: &Path, file: &str) -> String {
    std::fs::read_to_string(repo.join(file)).unwrap()
}

/// Replaces `from` (there once) with `to` in `file`.
fn edit(repo: &Path, file: &str, from: &str, to: &str) {
    let text = read(repo, file);
    assert_eq!(text.matches(from).count(), 1, "{file} has `{from}` once:\n{text}");
    std::fs::write(repo.join(file), text.replacen(from, to, 1)).unwrap();
}

/// `canaries/reviews.yaml:LINE:COLUMN` of `value` on the spec's line that holds `line`.
fn place(repo: &Path, line: &str, value: &str) -> String {
    let text = read(repo, SPEC);
    let (i, found) = text.lines().enumerate().find(|(_, l)| l.contains(line)).expect("the line is in the spec");
    format!("{SPEC}:{}:{}", i + 1, found.find(value).expect("the value is on its line") + 1)
}

/// The spec's `from:` value of a manifest, and its `route:` value.
fn from_of(repo: &Path, file: &str) -> String {
    place(repo, &format!("from: {file}"), file)
}

fn route_of(repo: &Path) -> String {
    place(repo, "route: ", "rev")
}

#[test]
fn each_mistake_is_shown_at_the_spec_value_with_exit_2_and_nothing_written() {
    type Case = (&'static str, fn(&Path), fn(&Path) -> String, &'static str);
    let cases: [Case; 13] = [
        (
            "a missing file",
            |r| std::fs::remove_file(r.join(VS)).unwrap(),
            |r| from_of(r, VS),
            "spec.virtualService.from `manifests/virtualservice.yaml`: no such file",
        ),
        (
            "not YAML",
            |r| std::fs::write(r.join(VS), "spec: [open\n").unwrap(),
            |r| from_of(r, VS),
            "spec.virtualService.from `manifests/virtualservice.yaml`: not YAML: unclosed bracket '[' (line 1, column 7)",
        ),
        (
            "a Service where a VirtualService is expected",
            |r| std::fs::write(r.join(VS), "apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\n").unwrap(),
            |r| from_of(r, VS),
            "spec.virtualService.from `manifests/virtualservice.yaml`: the file holds a Service (v1), not a VirtualService",
        ),
        (
            "a VirtualService where a DestinationRule is expected",
            |r| std::fs::copy(r.join(VS), r.join(DR)).map(drop).unwrap(),
            |r| from_of(r, DR),
            "spec.destinationRule.from `manifests/destinationrule.yaml`: the file holds a VirtualService (networking.istio.io/v1), not a DestinationRule",
        ),
        (
            "a DestinationRule for another host",
            |r| edit(r, DR, "  host: reviews\n", "  host: ratings\n"),
            |r| from_of(r, DR),
            "the DestinationRule in `manifests/destinationrule.yaml` is for host `ratings`, not for the release's Service `reviews`",
        ),
        (
            "a named route that is missing",
            |r| edit(r, SPEC, "route: reviews", "route: reveiws"),
            route_of,
            "`manifests/virtualservice.yaml` has no HTTP route named `reveiws`; it has the HTTP routes `ratings-preview`, `chaos`, `reviews`",
        ),
        (
            "a named route to another host",
            |r| {
                edit(
                    r,
                    VS,
                    "        - destination:\n            host: reviews\n",
                    "        - destination:\n            host: ratings\n",
                )
            },
            route_of,
            "route `reviews` of `manifests/virtualservice.yaml` sends to `ratings`, not to the release's Service `reviews`",
        ),
        (
            "another route to the release's host",
            |r| {
                edit(r, VS, "host: reviews-chaos.testing.svc.cluster.local", "host: reviews.bookinfo.svc.cluster.local")
            },
            route_of,
            "route `chaos` of `manifests/virtualservice.yaml` also sends to the release's Service `reviews`",
        ),
        (
            "a template beside deployment.from",
            |r| {
                edit(
                    r,
                    SPEC,
                    "  replicas: 4\n",
                    "  replicas: 4\n  template:\n    spec:\n      containers: [{name: reviews}]\n",
                )
            },
            |r| from_of(r, DEPLOYMENT),
            "`template` and `deployment.from` exclude each other",
        ),
        (
            "a path out of the repository",
            |r| edit(r, SPEC, "from: manifests/deployment.yaml", "from: ../deployment.yaml"),
            |r| place(r, "from: ../deployment.yaml", "../"),
            "spec.deployment.from `../deployment.yaml` may not contain `..`",
        ),
        (
            "an absolute path",
            |r| edit(r, SPEC, "from: manifests/deployment.yaml", "from: /etc/hostname"),
            |r| place(r, "from: /etc/hostname", "/etc"),
            "spec.deployment.from `/etc/hostname` must be relative to the repository root",
        ),
        (
            "a symlink",
            |r| {
                std::fs::rename(r.join(DR), r.join("dr.yaml")).unwrap();
                std::os::unix::fs::symlink("../dr.yaml", r.join(DR)).unwrap();
            },
            |r| from_of(r, DR),
            "spec.destinationRule.from `manifests/destinationrule.yaml`: `manifests/destinationrule.yaml` is a symlink: kanari reads files of the repository alone",
        ),
        (
            "a file over the size limit",
            |r| std::fs::write(r.join(DEPLOYMENT), format!("# {}\n", "x".repeat(1024 * 1024))).unwrap(),
            |r| from_of(r, DEPLOYMENT),
            "spec.deployment.from `manifests/deployment.yaml`: the file is larger than 1024 KiB",
        ),
    ];
    let mut wrong = Vec::new();
    for (what, break_it, at, message) in cases {
        let repo = fixture("own-manifests");
        let r = repo.path();
        break_it(r);
        let expected = format!("{}: {message}", at(r));
        let before = tree(r);
        for args in [&["render"][..], &["lint"], &["plan"]] {
            let out = run(r, args);
            if out.code != 2 || !out.stderr.contains(&expected) {
                wrong.push(format!(
                    "{what}: kanari {args:?} exited {}, expected `{expected}` in:\n{}",
                    out.code, out.stderr
                ));
            }
        }
        if tree(r) != before {
            wrong.push(format!("{what}: something was written"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn the_teams_routes_policy_and_deployment_pass_through_in_every_state() {
    let repo = fixture("own-manifests");
    let r = repo.path();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("states");
    kanari_ok(r, &["-C", r.to_str().unwrap(), "render", "--all-stages", "--out", dir.to_str().unwrap()]);
    let vs = documents(&read(r, VS)).remove(0);
    let dr = documents(&read(r, DR)).remove(0);
    let deployment = documents(&read(r, DEPLOYMENT)).remove(0);
    let theirs: Vec<&Value> =
        vs["spec"]["http"].as_array().unwrap().iter().filter(|h| h["name"] != "reviews").collect();
    let named = vs["spec"]["http"].as_array().unwrap().iter().find(|h| h["name"] == "reviews").unwrap();
    let mut states = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let state = entry.unwrap().path();
        let name = state.file_name().unwrap().to_string_lossy().into_owned();
        let docs = documents(&crate::kustomize(&state));
        let got = one(&docs, "VirtualService");
        let http = got["spec"]["http"].as_array().unwrap();
        assert_eq!(&http[..2].iter().collect::<Vec<_>>(), &theirs, "{name}: the other routes come first, unchanged");
        for key in ["timeout", "retries", "fault", "headers"] {
            assert_eq!(http.last().unwrap()[key], named[key], "{name}: the route's {key}");
        }
        assert_eq!(got["spec"]["hosts"], vs["spec"]["hosts"], "{name}");
        assert_eq!(got["metadata"]["labels"], vs["metadata"]["labels"], "{name}");
        let rule = one(&docs, "DestinationRule");
        assert_eq!(rule["spec"]["trafficPolicy"], dr["spec"]["trafficPolicy"], "{name}");
        for subset in rule["spec"]["subsets"].as_array().unwrap() {
            assert_ne!(subset["name"], "v0", "{name}: a subset of the team's that is no version goes");
            let policy =
                if subset["name"] == "v2" { dr["spec"]["subsets"][0]["trafficPolicy"].clone() } else { Value::Null };
            assert_eq!(subset["trafficPolicy"], policy, "{name}: {subset}");
        }
        for d in docs.iter().filter(|d| d["kind"] == "Deployment") {
            let version = d["metadata"]["labels"]["version"].as_str().unwrap();
            assert_eq!(d["metadata"]["name"], format!("reviews-{version}"), "{name}");
            assert_eq!(d["spec"]["strategy"], deployment["spec"]["strategy"], "{name}");
            assert_eq!(d["spec"]["selector"]["matchLabels"], serde_json::json!({"app": "reviews", "version": version}));
            let (c, theirs) = (
                &d["spec"]["template"]["spec"]["containers"][0],
                &deployment["spec"]["template"]["spec"]["containers"][0],
            );
            for key in ["readinessProbe", "livenessProbe", "resources", "env"] {
                assert_eq!(c[key], theirs[key], "{name} {version}: {key}");
            }
            assert!(c["image"].as_str().unwrap().contains(&format!("reviews-{version}:")), "{name}: {c}");
            assert_eq!(d["spec"]["template"]["metadata"]["labels"]["team"], "books", "{name}");
        }
        states += 1;
    }
    assert_eq!(states, 7);
}

#[test]
fn a_stage_match_joins_the_named_routes_own_match_right_before_it() {
    let repo = fixture("own-manifests");
    let r = repo.path();
    edit(
        r,
        VS,
        "    - name: reviews\n",
        "    - name: reviews\n      match:\n        - uri:\n            prefix: /reviews\n",
    );
    let tail = "    - name: home\n      route:\n        - destination:\n            host: productpage\n";
    std::fs::write(r.join(VS), read(r, VS) + tail).unwrap();
    let out = kanari_ok(r, &["-C", r.to_str().unwrap(), "render", "--stage", "jason", "--stdout"]);
    let docs = documents(&out.stdout);
    let http = one(&docs, "VirtualService")["spec"]["http"].as_array().unwrap().clone();
    let names: Vec<&str> = http.iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ratings-preview", "chaos", "canary-match", "reviews", "home"]);
    let matched = &http[2];
    assert_eq!(
        matched["match"],
        serde_json::json!([{ "headers": { "end-user": { "exact": "jason" } }, "uri": { "prefix": "/reviews" } }])
    );
    assert_eq!(
        matched["route"],
        serde_json::json!([{ "destination": { "host": "reviews", "port": { "number": 9080 }, "subset": "v2" } }])
    );
    assert_eq!(
        (&matched["retries"], &matched["fault"]),
        (&http[3]["retries"], &http[3]["fault"]),
        "the route's settings hold for matched requests"
    );
    assert_eq!(http[3]["match"], serde_json::json!([{ "uri": { "prefix": "/reviews" } }]));

    // A stage that matches on what the route matches on cannot be joined.
    edit(r, SPEC, "headers: {end-user: {exact: jason}}", "uri: {prefix: /beta}");
    let out = run(r, &["lint"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let at = place(r, "- name: jason", "jason");
    assert!(
        out.stderr.contains(&format!("{at}: stage `jason` matches on `uri`, as route `reviews`")),
        "{}",
        out.stderr
    );
}

#[test]
fn promote_reads_the_manifests_from_the_commit_it_builds_on() {
    let repo = fixture_repo("own-manifests");
    let r = repo.path();
    git(r, &["config", "user.name", "CI"]);
    git(r, &["config", "user.email", "ci@example.com"]);
    // Branch `slow` gives the route a longer timeout; branch `gone` drops the VirtualService.
    git(r, &["checkout", "-q", "-b", "slow"]);
    edit(r, VS, "      timeout: 10s\n", "      timeout: 42s\n");
    git(r, &["commit", "-q", "-am", "reviews: a longer timeout"]);
    git(r, &["checkout", "-q", "-b", "gone", "main"]);
    git(r, &["rm", "-q", VS]);
    git(r, &["commit", "-q", "-m", "no VirtualService"]);
    git(r, &["checkout", "-q", "main"]);
    assert!(read(r, VS).contains("timeout: 10s"));

    let out = run(r, &["promote", "--branch", "slow"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let committed = git(r, &["show", "slow:overlays/bookinfo/reviews/virtualservice-reviews.yaml"]);
    assert!(committed.contains("timeout: 42s") && !committed.contains("timeout: 10s"), "{committed}");
    assert!(!r.join("overlays").exists(), "the work tree, on main, is not touched");

    let tip = git(r, &["rev-parse", "gone"]);
    let out = run(r, &["promote", "--branch", "gone"]);
    let at = from_of(r, VS);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!("{at}: spec.virtualService.from `{VS}`: no such file in commit ")),
        "{}",
        out.stderr
    );
    assert_eq!(git(r, &["rev-parse", "gone"]), tip, "nothing was committed");
}

#[test]
fn a_mistake_in_the_deployments_pod_template_is_shown_in_its_own_file() {
    let repo = fixture("own-manifests");
    let r = repo.path();
    edit(r, DEPLOYMENT, "          readinessProbe:\n", "          readinesProbe:\n");
    let text = read(r, DEPLOYMENT);
    let line = text.lines().position(|l| l.contains("readinesProbe")).unwrap() + 1;
    let before = tree(r);
    let out = run(r, &["render"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let expected = format!(
        "{DEPLOYMENT}:{line}:11: unknown field `readinesProbe` in spec.template.spec.containers[0]; did you mean `readinessProbe`?"
    );
    assert!(out.stderr.contains(&expected), "{expected}\n{}", out.stderr);
    assert_eq!(tree(r), before, "nothing was written");
}

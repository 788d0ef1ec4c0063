//! The team's own manifests (`spec.virtualService.from`, `spec.destinationRule.from`,
//! `spec.deployment.from`, fixture `own-manifests`): each mistake in them is an error at the
//! spec value that names the file (exit 2, nothing written); what kanari does not own passes
//! through unchanged in every state; a stage's match joins the named route's own; and a
//! committing command reads the files from the commit it builds on, not from the work tree.

use std::path::Path;

use serde_json::Value;

use crate::{Run, documents, fixture, fixture_repo, git, kanari, kanari_env, kanari_ok, one, tree};

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
    let cases: [Case; 15] = [
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
            "a mirror stage on a route that mirrors already",
            |r| {
                edit(r, VS, "      timeout: 10s\n", "      timeout: 10s\n      mirror: {host: reviews-shadow}\n");
                edit(r, SPEC, "  stages:\n", "  stages:\n    - name: shadow\n      mirror: 20\n");
            },
            |r| place(r, "- name: shadow", "shadow"),
            "stage `shadow` mirrors to the canary, and route `reviews` of `manifests/virtualservice.yaml` has a mirror of its own",
        ),
        (
            "a mirror's match on the field the route matches on",
            |r| {
                edit(r, VS, "      timeout: 10s\n", "      match: [{method: {exact: GET}}]\n      timeout: 10s\n");
                edit(
                    r,
                    SPEC,
                    "  stages:\n",
                    "  stages:\n    - name: shadow\n      mirror: {percent: 20, match: [{method: HEAD}]}\n",
                );
            },
            |r| place(r, "- name: shadow", "shadow"),
            "stage `shadow` copies the requests that match on `method`, as route `reviews` of `manifests/virtualservice.yaml` does",
        ),
        (
            "otherRoutes neither stable nor follow",
            |r| edit(r, SPEC, "    route: reviews\n", "    route: reviews\n    otherRoutes: canary\n"),
            |r| place(r, "otherRoutes: canary", "canary"),
            "otherRoutes `canary` is neither `stable`",
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

/// The shadow stage of a team that keeps its own VirtualService: the copy is put on the named
/// route (a mirror of the stage's own matches on a copy of the route right before it), and
/// `plan`, the commit message and the rendered route all say it.
#[test]
fn a_shadow_stage_mirrors_through_the_teams_route() {
    for (mirror, said) in
        [("20", "mirror 20% -> v2"), ("{percent: 20, match: [{method: GET}]}", "mirror 20% of method=GET -> v2")]
    {
        let repo = fixture_repo("own-manifests");
        let r = repo.path();
        edit(r, SPEC, "  stages:\n", &format!("  stages:\n    - name: shadow\n      mirror: {mirror}\n"));
        git(r, &["commit", "-qam", "a shadow stage"]);
        git(r, &["config", "user.name", "CI"]);
        git(r, &["config", "user.email", "ci@example.com"]);
        let lint = run(r, &["lint"]);
        assert_eq!(lint.code, 0, "{}", lint.stderr);
        let plan = run(r, &["plan"]);
        assert!(plan.stdout.contains(said), "plan says `{said}`:\n{}", plan.stdout);
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("shadow");
        kanari_ok(r, &["-C", r.to_str().unwrap(), "render", "--stage", "shadow", "--out", dir.to_str().unwrap()]);
        let docs = documents(&crate::kustomize(&dir));
        let http = one(&docs, "VirtualService")["spec"]["http"].as_array().unwrap().clone();
        let mirrored: Vec<&Value> = http.iter().filter(|h| h.get("mirror").is_some()).collect();
        let [rule] = mirrored[..] else { panic!("one rule mirrors: {http:#?}") };
        assert_eq!(rule["mirror"], serde_json::json!({ "host": "reviews", "subset": "v2" }), "{mirror}");
        assert_eq!(rule["mirrorPercentage"]["value"], 20, "{mirror}");
        assert_eq!(rule["retries"]["attempts"], 3, "the copy keeps the route's retries");
        let weights: Vec<(&str, u64)> = rule["route"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["destination"]["subset"].as_str().unwrap(), d["weight"].as_u64().unwrap()))
            .collect();
        assert_eq!(weights, [("v1", 100), ("v2", 0)], "stable serves every request: {mirror}");
        if mirror.contains("GET") {
            assert_eq!(rule["name"], "canary-mirror");
            assert_eq!(rule["match"], serde_json::json!([{ "method": { "exact": "GET" } }]));
            assert_eq!(http.last().unwrap()["name"], "reviews");
            assert!(http.last().unwrap().get("mirror").is_none(), "the rest is not copied");
        } else {
            assert_eq!(rule["name"], "reviews");
        }
        // Through prepare to the shadow stage: the commit says the mirror starts.
        for hour in 4..10 {
            let now = format!("2026-01-02T{hour:02}:00:00Z");
            let promote = kanari_env(r, &["promote"], &[("KANARI_NOW", &now)]);
            assert!(promote.code == 0 || promote.code == 3, "{}", promote.stderr);
        }
        let messages = git(r, &["log", "--format=%B"]);
        assert!(messages.contains(said), "a commit says `{said}`:\n{messages}");
    }
}

/// A route of the team's other than the named one that sends to the release's Service is pinned
/// to the stable subset (`otherRoutes: stable`, the default), or takes the stage's split and
/// mirror (`follow`); nothing else of it changes.
#[test]
fn the_teams_other_routes_to_the_release_go_to_stable_or_follow_the_stage() {
    let out = tempfile::tempdir().unwrap();
    let destinations = |rule: &Value| -> Vec<(String, Option<u64>)> {
        rule["route"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["destination"]["subset"].as_str().unwrap_or("-").to_string(), d["weight"].as_u64()))
            .collect()
    };
    for (others, quarter, half) in [
        ("", vec![("v1".to_string(), None)], vec![("v1".to_string(), None)]),
        ("stable", vec![("v1".to_string(), None)], vec![("v1".to_string(), None)]),
        (
            "follow",
            vec![("v1".to_string(), Some(75)), ("v2".to_string(), Some(25))],
            vec![("v1".to_string(), Some(50)), ("v2".to_string(), Some(50))],
        ),
    ] {
        let repo = fixture("own-manifests");
        let r = repo.path();
        // The team's `chaos` route sends to the release's own Service.
        edit(r, VS, "host: reviews-chaos.testing.svc.cluster.local", "host: reviews.bookinfo.svc.cluster.local");
        if !others.is_empty() {
            edit(r, SPEC, "    route: reviews\n", &format!("    route: reviews\n    otherRoutes: {others}\n"));
        }
        let lint = run(r, &["lint"]);
        assert_eq!(lint.code, 0, "otherRoutes `{others}`: {}", lint.stderr);
        for (stage, want) in [("quarter", &quarter), ("half", &half), ("steady", &vec![("v1".to_string(), None)])] {
            let dir = out.path().join(format!("{others}-{stage}"));
            kanari_ok(r, &["-C", r.to_str().unwrap(), "render", "--stage", stage, "--out", dir.to_str().unwrap()]);
            let docs = documents(&crate::kustomize(&dir));
            let http = one(&docs, "VirtualService")["spec"]["http"].as_array().unwrap().clone();
            let chaos = http.iter().find(|h| h["name"] == "chaos").expect("the chaos route stays");
            let want = match stage {
                "steady" if others == "follow" => vec![("v1".to_string(), Some(100))],
                _ => want.clone(),
            };
            assert_eq!(destinations(chaos), want, "otherRoutes `{others}` at {stage}");
            assert_eq!(chaos["fault"]["delay"]["fixedDelay"], "3s", "the route's fault stays");
            assert_eq!(chaos["route"][0]["destination"]["port"]["number"], 9080, "its port stays");
        }
    }
}

//! Committing states to real repositories: the bookinfo release walked from nothing to its end,
//! gates, abort, races, shallow clones, detached HEADs, missing identities and `diff --base`.
//! Every result is checked with the real `git` and `kubectl kustomize`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::Pods::{self, Replicas};
use crate::{documents, fixture_repo, git, kanari_command, kanari_env, kustomize, one, pods, replicas, weights};

const AUTHOR: (&str, &str) = ("KANARI_TEST_UNUSED", "");

fn at(time: &str) -> Vec<(&str, &str)> {
    vec![("KANARI_NOW", time), AUTHOR]
}

fn run(repo: &Path, args: &[&str], time: &str) -> crate::Run {
    let mut all = vec!["-C", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--author", "CI <ci@example.com>"]);
    kanari_env(repo, &all, &at(time))
}

/// Every run of a test, as a reviewer reads it: the command, its time, its exit code and all it
/// printed.
#[derive(Default)]
struct Transcript {
    text: String,
}

impl Transcript {
    fn run(&mut self, repo: &Path, args: &[&str], time: &str) -> crate::Run {
        let out = run(repo, args, time);
        self.text.push_str(&format!("\n$ KANARI_NOW={time} kanari {}\n", args.join(" ")));
        self.text.push_str(&out.stdout);
        self.text.push_str(&out.stderr);
        self.text.push_str(&format!("(exit {})\n", out.code));
        out
    }
}

fn commits(repo: &Path) -> Vec<String> {
    git(repo, &["log", "--format=%H"]).lines().map(str::to_string).collect()
}

/// The one new commit since `before`: its files all inside the overlay, fsck clean, the work
/// tree in step with it. Returns its subject.
fn one_new_commit(repo: &Path, before: &[String]) -> String {
    let now = commits(repo);
    assert_eq!(now.len(), before.len() + 1, "expected exactly one new commit");
    assert_eq!(&now[1..], before, "history was rewritten");
    let files = git(repo, &["show", "--name-only", "--format=", "HEAD"]);
    assert!(
        files.lines().all(|f| f.starts_with("overlays/reviews/")),
        "the commit touched more than the overlay:\n{files}"
    );
    git(repo, &["fsck", "--strict", "--no-progress"]);
    assert_eq!(git(repo, &["status", "--porcelain", "--", "overlays"]), "", "the work tree lags the commit");
    git(repo, &["log", "-1", "--format=%s"]).trim().to_string()
}

fn built(repo: &Path) -> Vec<serde_json::Value> {
    documents(&kustomize(&repo.join("overlays/reviews")))
}

fn w(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(s, w)| (s.to_string(), *w)).collect()
}

#[test]
fn the_bookinfo_release_walks_from_nothing_to_its_end() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    let mut t = Transcript::default();
    let spec_commit = git(r, &["rev-parse", "HEAD"]).trim().to_string();
    // Unrelated work in progress: a staged new file and an unstaged edit.
    std::fs::write(r.join("notes.txt"), "draft").unwrap();
    git(r, &["add", "notes.txt"]);
    std::fs::write(r.join("README.md"), "edited, not staged\n").unwrap();

    // A minute between promotes: the pods a state brings up get `spec.warmup` (1m) before
    // traffic moves onto them.
    struct Step {
        args: &'static [&'static str],
        at: &'static str,
        subject: &'static str,
        weights: &'static [(&'static str, u64)],
        v1: Pods,
        v2: Pods,
    }
    let steps = [
        Step {
            args: &["promote"],
            at: "2026-03-01T10:00:00Z",
            subject: "reviews: promote (new) -> steady",
            weights: &[("v1", 100)],
            v1: Replicas(10),
            v2: Pods::None,
        },
        Step {
            args: &["promote"],
            at: "2026-03-01T10:01:00Z",
            subject: "reviews: promote steady -> prepare",
            weights: &[("v1", 100)],
            v1: Replicas(10),
            v2: Replicas(1),
        },
        Step {
            args: &["promote"],
            at: "2026-03-01T10:02:00Z",
            subject: "reviews: promote prepare -> jason (stage 1 of 4)",
            weights: &[("v1", 100), ("v2", 0)],
            v1: Replicas(10),
            v2: Replicas(1),
        },
        // 90-10 already runs the 5 pods 50-50 needs, 50-50 the 10 of 0-100.
        Step {
            args: &["promote"],
            at: "2026-03-01T10:03:00Z",
            subject: "reviews: promote jason -> 90-10 (stage 2 of 4)",
            weights: &[("v1", 90), ("v2", 10)],
            v1: Replicas(10),
            v2: Replicas(5),
        },
        Step {
            args: &["promote"],
            at: "2026-03-01T10:04:00Z",
            subject: "reviews: promote 90-10 -> 50-50 (stage 3 of 4)",
            weights: &[("v1", 50), ("v2", 50)],
            v1: Replicas(10),
            v2: Replicas(10),
        },
    ];
    for Step { args, at, subject, weights: expected, v1, v2 } in steps {
        let before = commits(r);
        let out = t.run(r, args, at);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert_eq!(one_new_commit(r, &before), subject);
        let docs = built(r);
        assert_eq!(weights(one(&docs, "VirtualService")), w(expected), "{subject}");
        assert_eq!(pods(&docs, "reviews-v1"), v1, "{subject}");
        assert_eq!(pods(&docs, "reviews-v2"), v2, "{subject}");
    }
    let trailers = git(r, &["log", "-1", "--format=%(trailers:key=Kanari-Stage,valueonly)"]);
    assert_eq!(trailers.trim(), "50-50");

    // The approval gate holds until an approval is committed.
    let before = commits(r);
    let held = t.run(r, &["promote"], "2026-03-02T10:00:00Z");
    assert_eq!(held.code, 3, "{}", held.stderr);
    assert_eq!(commits(r), before);
    assert_eq!(t.run(r, &["approve"], "2026-03-02T10:00:00Z").code, 0);
    assert_eq!(one_new_commit(r, &before), "reviews: approve 50-50");
    let before = commits(r);
    assert_eq!(t.run(r, &["approve"], "2026-03-02T10:00:00Z").code, 0);
    assert_eq!(commits(r), before, "a second approve committed again");

    // All traffic to v2; v1 keeps the 5 pods its half needed until the traffic has drained.
    let entered = "2026-03-02T10:05:00Z";
    assert_eq!(t.run(r, &["promote"], entered).code, 0);
    assert_eq!(one_new_commit(r, &before), "reviews: promote 50-50 -> 0-100 (stage 4 of 4)");
    let docs = built(r);
    assert_eq!(weights(one(&docs, "VirtualService")), w(&[("v1", 0), ("v2", 100)]));
    assert_eq!(replicas(&docs)["reviews-v1"], Some(5));
    // The next promote, after the warmup, applies `replicas: {stable: 0}`.
    let before = commits(r);
    let held = t.run(r, &["promote"], "2026-03-02T10:05:59Z");
    assert_eq!(held.code, 3);
    assert_eq!(t.run(r, &["promote"], "2026-03-02T10:06:00Z").code, 0);
    assert_eq!(one_new_commit(r, &before), "reviews: promote 50-50 -> 0-100: scale v1 down");
    assert_eq!(replicas(&built(r))["reviews-v1"], Some(0));

    // The bake time holds for 30 minutes from the stage's start, then there is nothing to do.
    let before = commits(r);
    let held = t.run(r, &["promote"], "2026-03-02T10:34:59Z");
    assert_eq!(held.code, 3);
    let done = t.run(r, &["promote"], "2026-03-02T10:35:00Z");
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(commits(r), before, "promote with nothing to do committed");

    // Abort from 0-100, where v1 runs no pods: v1 comes up first, then the traffic moves back
    // (the canary keeps its pods), then the canary goes to 0; promote then stays.
    assert_eq!(t.run(r, &["abort", "--reason", "p99 latency doubled"], "2026-03-02T11:00:00Z").code, 0);
    assert_eq!(one_new_commit(r, &before), "reviews: abort 0-100: scale v1 up");
    let docs = built(r);
    assert_eq!(weights(one(&docs, "VirtualService")), w(&[("v1", 0), ("v2", 100)]));
    assert_eq!(replicas(&docs)["reviews-v1"], Some(10));
    let before = commits(r);
    assert_eq!(t.run(r, &["abort", "--reason", "p99 latency doubled"], "2026-03-02T11:01:00Z").code, 0);
    assert_eq!(one_new_commit(r, &before), "reviews: abort 0-100");
    let docs = built(r);
    assert_eq!(weights(one(&docs, "VirtualService")), w(&[("v1", 100)]));
    assert_eq!(replicas(&docs)["reviews-v1"], Some(10));
    assert_eq!(replicas(&docs)["reviews-v2"], Some(10));
    let k = std::fs::read_to_string(r.join("overlays/reviews/kustomization.yaml")).unwrap();
    assert!(k.contains("kanari.dev/reason: p99 latency doubled"), "{k}");
    let before = commits(r);
    assert_eq!(t.run(r, &["promote"], "2026-03-02T11:02:00Z").code, 0);
    assert_eq!(one_new_commit(r, &before), "reviews: abort 0-100: scale v2 down");
    assert_eq!(replicas(&built(r))["reviews-v2"], Some(0));
    let before = commits(r);
    let held = t.run(r, &["promote"], "2026-03-02T12:00:00Z");
    assert_eq!(held.code, 3);
    assert_eq!(commits(r), before);
    assert_eq!(t.run(r, &["promote", "--restart"], "2026-03-02T12:00:00Z").code, 0);
    assert_eq!(one_new_commit(r, &before), "reviews: promote aborted -> prepare");

    // Finishing is a spec change: v2 becomes stable. From prepare (v2 at 1 pod, no traffic),
    // on purpose, v2 comes up to full size, then takes all the traffic with v1 still there, then
    // v1 goes.
    let spec = r.join("canaries/reviews.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    let stable_at = text.find("  stable:").unwrap();
    let canary_at = text.find("  canary:").unwrap();
    let replicas_at = text.find("  replicas:").unwrap();
    let finished = format!(
        "{}  stable:{}{}",
        &text[..stable_at],
        &text[canary_at + "  canary:".len()..replicas_at],
        &text[replicas_at..]
    );
    std::fs::write(&spec, finished).unwrap();
    git(r, &["commit", "-q", "-m", "reviews: v2 is stable", "--", "canaries/reviews.yaml"]);
    // No stage has run since the restart: the finish holds until one says so on purpose.
    let before = commits(r);
    let held = t.run(r, &["promote"], "2026-03-03T00:00:00Z");
    assert_eq!(held.code, 3, "{}", held.stderr);
    assert_eq!(commits(r), before);
    let skip: &[&str] = &["promote", "--skip-gates", "--reason", "v2 is proven"];
    let finish = [
        (skip, "2026-03-03T00:00:00Z", "reviews: promote prepare: scale up v2 to take all the traffic"),
        (&["promote"], "2026-03-03T00:01:00Z", "reviews: promote prepare -> steady: all traffic to v2, v1 departing"),
        (&["promote"], "2026-03-03T00:02:00Z", "reviews: promote steady: remove v1 after the traffic moved"),
    ];
    for (args, time, subject) in finish {
        let before = commits(r);
        let out = t.run(r, args, time);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(one_new_commit(r, &before), subject);
        kustomize(&r.join("overlays/reviews"));
    }
    let docs = built(r);
    assert_eq!(weights(one(&docs, "VirtualService")), w(&[("v2", 100)]));
    assert_eq!(replicas(&docs).keys().collect::<Vec<_>>(), ["reviews-v2"]);
    assert!(!r.join("overlays/reviews/deployment-reviews-v1.yaml").exists());

    // The unrelated work is as it was: still staged, still unstaged, never committed.
    assert_eq!(git(r, &["diff", "--cached", "--name-only"]), "notes.txt\n");
    assert_eq!(git(r, &["diff", "--name-only"]), "README.md\n");
    assert_eq!(git(r, &["log", "--format=", "--name-only", "--", "notes.txt", "README.md"]).trim(), "README.md");

    // What each run printed (the holds' reasons among it), then every commit's message.
    t.text.push_str("\n$ git log --reverse --format='%B-----'\n");
    t.text.push_str(&git(r, &["log", "--reverse", "--format=%B-----", &format!("{spec_commit}..HEAD")]));
    insta::assert_snapshot!("bookinfo-walk", t.text);
}

#[test]
fn promote_refuses_uncommitted_work_in_its_release() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    assert_eq!(run(r, &["promote"], "2026-03-01T00:00:00Z").code, 0);
    let before = commits(r);
    let cases: [(&str, &str); 2] = [
        ("canaries/reviews.yaml", "canaries/reviews.yaml"),
        ("overlays/reviews/stray.yaml", "overlays/reviews/stray.yaml"),
    ];
    for (path, named) in cases {
        let file = r.join(path);
        let original = std::fs::read(&file).ok();
        std::fs::write(
            &file,
            format!(
                "{}\n# edited\n",
                original.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
            ),
        )
        .unwrap();
        let out = run(r, &["promote"], "2026-03-01T00:00:00Z");
        assert_eq!(out.code, 2, "{path}");
        assert!(out.stderr.contains("uncommitted changes") && out.stderr.contains(named), "{path}: {}", out.stderr);
        assert_eq!(commits(r), before);
        match original {
            Some(bytes) => std::fs::write(&file, bytes).unwrap(),
            None => std::fs::remove_file(&file).unwrap(),
        }
    }
}

#[test]
fn no_identity_is_a_clear_error_and_the_environment_or_author_supplies_one() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    let c = r.to_str().unwrap();
    let out = kanari_env(r, &["-C", c, "promote"], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no identity to commit as: pass --author"), "{}", out.stderr);
    assert_eq!(commits(r).len(), 1);

    let env = [("GIT_AUTHOR_NAME", "Env Bot"), ("GIT_AUTHOR_EMAIL", "env@example.com")];
    assert_eq!(kanari_env(r, &["-C", c, "promote"], &env).code, 0);
    assert_eq!(
        git(r, &["log", "-1", "--format=%an <%ae> / %cn <%ce>"]).trim(),
        "Env Bot <env@example.com> / Env Bot <env@example.com>"
    );
    assert_eq!(kanari_env(r, &["-C", c, "promote", "--author", "Flag <flag@example.com>"], &env).code, 0);
    assert_eq!(git(r, &["log", "-1", "--format=%an <%ae>"]).trim(), "Flag <flag@example.com>");
    let later = [("KANARI_NOW", "2026-03-01T00:05:00Z")];
    let bad = kanari_env(r, &["-C", c, "promote", "--author", "no email"], &later);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("is not `Name <email>`"), "{}", bad.stderr);
}

#[test]
fn a_depth_1_clone_with_a_detached_head_commits_onto_its_branch() {
    let origin = fixture_repo("bookinfo");
    assert_eq!(run(origin.path(), &["promote"], "2026-03-01T00:00:00Z").code, 0);
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    git(tmp.path(), &["clone", "-q", "--depth", "1", &url, "clone"]);
    let clone = tmp.path().join("clone");
    assert_eq!(git(&clone, &["rev-parse", "--is-shallow-repository"]).trim(), "true");
    git(&clone, &["checkout", "-q", "--detach"]);

    let out = run(&clone, &["promote"], "2026-03-01T00:00:00Z");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("[main "), "{}", out.stdout);
    assert_eq!(git(&clone, &["log", "-1", "--format=%s", "main"]).trim(), "reviews: promote steady -> prepare");
    assert_eq!(
        git(&clone, &["rev-parse", "HEAD"]),
        git(&clone, &["rev-parse", "main"]),
        "the detached HEAD did not follow"
    );
    assert_eq!(git(&clone, &["rev-list", "--count", "main"]).trim(), "2");
    assert_eq!(git(&clone, &["status", "--porcelain"]), "");
    git(&clone, &["fsck", "--no-progress"]);

    // No local branch at all (a CI checkout of a commit): --branch creates it on HEAD.
    git(&clone, &["branch", "-q", "-D", "main"]);
    let out = run(&clone, &["promote", "--branch", "release"], "2026-03-01T00:01:00Z");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        git(&clone, &["log", "-1", "--format=%s", "release"]).trim(),
        "reviews: promote prepare -> jason (stage 1 of 4)"
    );
    kustomize(&clone.join("overlays/reviews"));
}

#[test]
fn two_promotes_racing_on_one_repository_make_one_commit() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    assert_eq!(run(r, &["promote"], "2026-03-01T00:00:00Z").code, 0);
    let before = commits(r);
    // Hold kanari's lock, as a running kanari would, so both contenders read the state first.
    let lock = r.join(".git/kanari.lock");
    let held = hold_lock(&lock, "1");
    let args = ["-C", r.to_str().unwrap(), "promote", "--author", "CI <ci@example.com>"];
    let mut children: Vec<std::process::Child> = (0..2)
        .map(|_| {
            kanari_command(r, &args, &at("2026-03-01T00:00:00Z"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Both are waiting for the lock once each has said so.
    let mut stderr_readers: Vec<BufReader<std::process::ChildStderr>> =
        children.iter_mut().map(|c| BufReader::new(c.stderr.take().unwrap())).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    for reader in &mut stderr_readers {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains("waiting for"), "{line}");
        assert!(Instant::now() < deadline, "the contenders never waited");
    }
    drop(held);
    let mut outputs = Vec::new();
    for (child, mut reader) in children.into_iter().zip(stderr_readers) {
        let out = child.wait_with_output().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
        outputs.push((out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), rest));
    }
    for (code, stdout, stderr) in &outputs {
        assert_eq!(*code, Some(0), "{stdout}{stderr}");
    }
    assert_eq!(one_new_commit(r, &before), "reviews: promote steady -> prepare");
    let loser =
        outputs.iter().filter(|(_, out, _)| out.contains("someone else moved it first (now at prepare)")).count();
    assert_eq!(loser, 1, "{outputs:?}");
}

/// Holds kanari's lock as another kanari would: an OS file lock on the file, whose text says
/// `pid` (what a holder in another PID namespace, or a reused PID, would leave there).
fn hold_lock(path: &Path, pid: &str) -> std::fs::File {
    let file = std::fs::OpenOptions::new().create(true).truncate(true).write(true).open(path).unwrap();
    std::io::Write::write_all(&mut &file, format!("{pid}\n").as_bytes()).unwrap();
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    file
}

/// The lock once went by `/proc/PID` of the number in the file: a live holder in another PID
/// namespace (its number unknown here) was robbed, and a dead one whose PID was reused blocked
/// every run for a minute.
#[test]
fn the_repository_lock_is_the_kernel_s_not_a_pid_in_a_file() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    let lock = r.join(".git/kanari.lock");
    // A file naming a PID that is running (this test's), with no lock held: a holder that died
    // and whose number was reused. Taken at once.
    std::fs::write(&lock, format!("{}\n", std::process::id())).unwrap();
    let out = run(r, &["promote"], "2026-03-01T00:00:00Z");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("waiting for"), "{}", out.stderr);
    // A live holder whose PID means nothing here (above pid_max, as one in another namespace
    // can look): waited for, never taken over.
    let held = hold_lock(&lock, "99999999");
    let args = ["-C", r.to_str().unwrap(), "promote", "--author", "CI <ci@example.com>"];
    let mut child = kanari_command(r, &args, &at("2026-03-01T00:00:00Z"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("waiting for"), "{line}");
    assert_eq!(git(r, &["log", "-1", "--format=%s"]).trim(), "reviews: promote (new) -> steady", "it did not wait");
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(git(r, &["log", "-1", "--format=%s"]).trim(), "reviews: promote steady -> prepare");
}

#[test]
fn diff_compares_the_specs_with_a_commit() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    let c = r.to_str().unwrap();
    for minute in 0..4 {
        assert_eq!(run(r, &["promote"], &format!("2026-03-01T00:0{minute}:00Z")).code, 0);
    }
    // Nothing changed: exit 0.
    let same = kanari_env(r, &["-C", c, "diff"], &[]);
    assert_eq!(same.code, 0, "{}{}", same.stdout, same.stderr);
    assert_eq!(same.stdout, "bookinfo/reviews: 90-10: no changes\n");

    // A branch that changes the canary's image mid-release.
    git(r, &["checkout", "-q", "-b", "new-image"]);
    let spec = r.join("canaries/reviews.yaml");
    let text = std::fs::read_to_string(&spec).unwrap().replace("reviews-v2:1.16.2", "reviews-v2:1.16.3");
    std::fs::write(&spec, text).unwrap();
    git(r, &["commit", "-q", "-am", "reviews: v2 1.16.3"]);
    let out = kanari_env(r, &["-C", c, "diff", "--base", "main"], &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.starts_with("bookinfo/reviews: 90-10: 1 file changed, +1 -1\n"), "{}", out.stdout);
    assert!(out.stdout.contains("-          image: docker.io/istio/examples-bookinfo-reviews-v2:1.16.2\n+          image: docker.io/istio/examples-bookinfo-reviews-v2:1.16.3\n"), "{}", out.stdout);
    assert!(out.stdout.contains(
        "--- a/overlays/reviews/deployment-reviews-v2.yaml\n+++ b/overlays/reviews/deployment-reviews-v2.yaml\n"
    ));

    // --next shows what promote would commit; JSON carries the same. Here that is the new image
    // rolled out in place at 90-10, with no traffic moved.
    let at = |time: &str| [("KANARI_NOW", time.to_string())];
    let next_at = |time: &str| {
        let env = at(time);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let next = kanari_env(r, &["-C", c, "diff", "--next", "--format", "json"], &env);
        assert_eq!(next.code, 1, "{}", next.stderr);
        serde_json::from_str::<serde_json::Value>(&next.stdout).unwrap()
    };
    let json = next_at("2026-03-01T01:00:00Z");
    assert_eq!((json[0]["from"].as_str(), json[0]["to"].as_str()), (Some("90-10"), Some("90-10")));
    let paths = |json: &serde_json::Value| -> Vec<String> {
        json[0]["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect()
    };
    assert!(paths(&json).contains(&"overlays/reviews/deployment-reviews-v2.yaml".to_string()), "{json}");
    assert!(!paths(&json).contains(&"overlays/reviews/virtualservice-reviews.yaml".to_string()), "{json}");
    // Once the re-roll is committed, --next moves the traffic.
    assert_eq!(run(r, &["promote", "--branch", "new-image"], "2026-03-01T01:00:00Z").code, 0);
    let json = next_at("2026-03-01T02:00:00Z");
    assert_eq!((json[0]["from"].as_str(), json[0]["to"].as_str()), (Some("90-10"), Some("50-50")));
    assert!(paths(&json).contains(&"overlays/reviews/virtualservice-reviews.yaml".to_string()), "{json}");
}

#[test]
fn status_reports_stage_gate_and_next() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    let c = r.to_str().unwrap();
    let status = |time: &str| {
        let out = kanari_env(r, &["-C", c, "status", "--format", "json"], &[("KANARI_NOW", time)]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
    };
    let s = status("2026-03-01T00:00:00Z");
    assert_eq!(
        (s["name"].as_str(), s["status"].as_str(), s["next"].as_str()),
        (Some("bookinfo/reviews"), Some("new"), Some("steady"))
    );
    for minute in 0..5 {
        assert_eq!(run(r, &["promote"], &format!("2026-03-01T00:0{minute}:00Z")).code, 0);
    }
    let s = status("2026-03-01T01:00:00Z");
    assert_eq!(s["stage"], "50-50");
    assert_eq!(s["status"], "waiting");
    assert_eq!(s["gate"], "approval");
    assert_eq!(s["since"], "2026-03-01T00:04:00Z");
    assert_eq!(s["next"], "0-100");
    let text = kanari_env(r, &["-C", c, "status"], &[]).stdout;
    assert_eq!(
        text,
        "bookinfo/reviews  50-50 (3 of 4)  waiting  since 2026-03-01T00:04:00Z  next: 0-100, held: approval\n"
    );
}

#[test]
fn a_committed_symlink_or_foreign_file_in_the_overlay_is_refused() {
    for (name, make) in [
        (
            "symlink",
            (|r: &Path| std::os::unix::fs::symlink("/etc/passwd", r.join("overlays/reviews/evil.yaml")).unwrap())
                as fn(&Path),
        ),
        ("foreign file", |r: &Path| std::fs::write(r.join("overlays/reviews/notes.md"), "mine").unwrap()),
    ] {
        let repo = fixture_repo("bookinfo");
        let r = repo.path();
        assert_eq!(run(r, &["promote"], "2026-03-01T00:00:00Z").code, 0);
        make(r);
        git(r, &["add", "-A"]);
        git(r, &["commit", "-q", "-m", name]);
        let before = commits(r);
        let out = run(r, &["promote"], "2026-03-01T00:00:00Z");
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        let named =
            if name == "symlink" { "overlays/reviews/evil.yaml` is a symlink" } else { "`overlays/reviews/notes.md`" };
        assert!(out.stderr.contains(named), "{name}: {}", out.stderr);
        assert_eq!(commits(r), before);
    }
}

#[test]
fn a_work_tree_write_that_fails_commits_nothing_and_leaves_the_clone_as_it_was() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    assert_eq!(run(r, &["promote"], "2026-03-01T00:00:00Z").code, 0);
    let before = git(r, &["rev-parse", "HEAD"]);
    // A folder (ignored, so not an uncommitted change) where the next state writes a file.
    std::fs::write(r.join(".git/info/exclude"), "deployment-reviews-v2.yaml/\n").unwrap();
    std::fs::create_dir_all(r.join("overlays/reviews/deployment-reviews-v2.yaml")).unwrap();
    std::fs::write(r.join("overlays/reviews/deployment-reviews-v2.yaml/x"), "x").unwrap();
    let out = run(r, &["promote"], "2026-03-01T01:00:00Z");
    // The work tree is written before the branch moves: the failure commits nothing (an outside
    // failure, 4, not "bad input"), and says so.
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("nothing was committed: ")
            && out.stderr.contains("`overlays/reviews` are as `main` has them"),
        "{}",
        out.stderr
    );
    assert_eq!(git(r, &["rev-parse", "HEAD"]), before);
    // Nothing staged, nothing changed, no journal or lock left.
    assert_eq!(git(r, &["status", "--porcelain"]), "");
    assert!(!r.join(".git/kanari-move").exists() && !r.join(".git/index.lock").exists());
    git(r, &["fsck", "--strict", "--no-progress"]);
}

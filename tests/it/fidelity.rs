//! kanari behaves like git in every repository state: locks held by other processes, linked
//! work trees, an abort that meets a release someone else moved, `--to` across gates, renders
//! racing into one output. Each test names the problem it guards against.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::{fixture_repo, git, kanari_command, kanari_env, kustomize, tree};

fn run(repo: &Path, args: &[&str], time: &str) -> crate::Run {
    let mut all = vec!["-C", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--author", "CI <ci@example.com>"]);
    kanari_env(repo, &all, &[("KANARI_NOW", time)])
}

const T0: &str = "2026-03-01T00:00:00Z";

/// `m` minutes after [`T0`]: a step of the clock past the warmup (1m) of the state before.
fn minute(m: u32) -> String {
    format!("2026-03-01T00:{m:02}:00Z")
}

/// The bookinfo release promoted `n` times from nothing (steady, prepare, jason, 90-10, 50-50),
/// the `i`-th promote at `minute(i)`, so that each one's new pods have warmed up.
fn promoted(n: u32) -> tempfile::TempDir {
    let repo = fixture_repo("bookinfo");
    for i in 0..n {
        let out = run(repo.path(), &["promote"], &minute(i));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    repo
}

fn subject(repo: &Path) -> String {
    git(repo, &["log", "-1", "--format=%s"]).trim().to_string()
}

fn head(repo: &Path) -> String {
    git(repo, &["rev-parse", "HEAD"]).trim().to_string()
}

/// `promote --to 0-100` from `jason` once committed at once, jumping over 50-50's approval.
#[test]
fn promote_to_a_later_stage_meets_every_gate_on_the_way_unless_told_to_skip() {
    let repo = promoted(3);
    let r = repo.path();
    assert_eq!(subject(r), "reviews: promote prepare -> jason (stage 1 of 4)");
    let before = head(r);
    let out = run(r, &["promote", "--to", "0-100"], &minute(3));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("--to passes stage `50-50`, which waits for approval"), "{}", out.stderr);
    assert_eq!(head(r), before, "nothing may be committed");
    // Up to the gated stage itself is fine: its gate guards the way out. 50-50's pods come up
    // first, and the traffic moves onto them once they have warmed up.
    assert_eq!(run(r, &["promote", "--to", "50-50"], &minute(3)).code, 0);
    assert_eq!(subject(r), "reviews: promote jason -> 50-50: scale v2 up");
    let before = head(r);
    let out = run(r, &["promote", "--to", "50-50"], &minute(3));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("traffic moves onto them after the warmup (1m)"), "{}", out.stderr);
    assert_eq!(head(r), before, "nothing may be committed while the pods warm up");
    assert_eq!(run(r, &["promote", "--to", "50-50"], &minute(4)).code, 0);
    assert_eq!(subject(r), "reviews: promote jason -> 50-50 (stage 3 of 4)");
    // --skip-gates needs a reason, and the commit records both.
    let bare = run(r, &["promote", "--skip-gates"], &minute(5));
    assert_eq!(bare.code, 2, "{}", bare.stderr);
    assert!(bare.stderr.contains("--reason"), "{}", bare.stderr);
    let out = run(r, &["promote", "--skip-gates", "--reason", "INC-42: v1 leaks memory"], &minute(5));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let message = git(r, &["log", "-1", "--format=%B"]);
    assert!(message.starts_with("reviews: promote 50-50 -> 0-100 (stage 4 of 4)"), "{message}");
    assert!(message.contains("gates skipped: stage `50-50` waits for approval"), "{message}");
    let trailers = git(r, &["log", "-1", "--format=%(trailers:key=Kanari-Skip-Gates,valueonly)"]);
    assert_eq!(trailers.trim(), "INC-42: v1 leaks memory");
}

/// With `.git/index.lock` held, promote once moved `main`, could not write the index, and the
/// next plain `git commit` reverted the promotion.
#[test]
fn a_held_index_lock_moves_nothing_and_a_released_one_leaves_the_index_at_head() {
    let repo = promoted(1);
    let r = repo.path();
    let lock = r.join(".git/index.lock");
    std::fs::write(&lock, "").unwrap();
    let before = head(r);
    let out = run(r, &["promote"], T0);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains(".git/index.lock` exists") && out.stderr.contains("nothing was committed"),
        "{}",
        out.stderr
    );
    assert_eq!(head(r), before, "the branch moved without its index");
    std::fs::remove_file(&lock).unwrap();

    // A lock that goes away while kanari waits (a `git status` in an editor): it commits, and
    // the index is the commit's. The lock is removed only once kanari has found it held.
    std::fs::write(&lock, "").unwrap();
    let args = ["-C", r.to_str().unwrap(), "promote", "--author", "CI <ci@example.com>"];
    let (child, trace) = traced(r, &args, T0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(trace.path())
        .unwrap()
        .lines()
        .any(|l| l.contains("index.lock") && l.contains("EEXIST"))
    {
        assert!(Instant::now() < deadline, "kanari did not try to take the held index.lock within 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::remove_file(&lock).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(subject(r), "reviews: promote steady -> prepare");
    assert_eq!(git(r, &["diff", "--cached", "--name-only"]), "", "the index differs from HEAD");
    assert_eq!(git(r, &["status", "--porcelain"]), "");
    // The next plain commit reverts nothing.
    std::fs::write(r.join("NOTES.md"), "notes\n").unwrap();
    git(r, &["add", "NOTES.md"]);
    git(r, &["commit", "-q", "-m", "notes"]);
    assert_eq!(git(r, &["show", "--name-only", "--format=", "HEAD"]).trim(), "NOTES.md");
}

/// `kanari args` at `time`, started under `strace`, which writes each of its failed attempts to
/// open or create a file (with `EEXIST` for a lock that is held) into the returned file as it
/// happens.
fn traced(repo: &Path, args: &[&str], time: &str) -> (Child, tempfile::NamedTempFile) {
    let trace = tempfile::NamedTempFile::new().unwrap();
    let k = kanari_command(repo, args, &[("KANARI_NOW", time)]);
    let mut cmd = std::process::Command::new(crate::tool("strace"));
    cmd.args(["-f", "-qq", "-e", "trace=open,openat", "-e", "status=failed", "-o"])
        .arg(trace.path())
        .arg(k.get_program())
        .args(k.get_args())
        .current_dir(repo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in k.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    (cmd.spawn().expect("strace runs"), trace)
}

/// From a linked work tree, `promote --branch main` once moved `main` from under the main work
/// tree, which was left with a staged revert.
#[test]
fn a_branch_checked_out_in_another_work_tree_is_not_moved() {
    let repo = promoted(1);
    let r = repo.path();
    let linked_parent = tempfile::tempdir().unwrap();
    let linked = linked_parent.path().join("linked");
    git(r, &["worktree", "add", "-q", "-b", "feature", linked.to_str().unwrap()]);
    let before = git(r, &["rev-parse", "main"]);
    let out = run(&linked, &["promote", "--branch", "main"], T0);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("`main` is checked out in the work tree"), "{}", out.stderr);
    assert!(out.stderr.contains(&r.canonicalize().unwrap().display().to_string()), "{}", out.stderr);
    assert_eq!(git(r, &["rev-parse", "main"]), before);
    // And the other way round, naming the linked one.
    let out = run(r, &["promote", "--branch", "feature"], T0);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("`feature` is checked out in the work tree"), "{}", out.stderr);
    // Its own branch, from the linked work tree: committed, and that work tree follows.
    let out = run(&linked, &["promote"], T0);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(subject(&linked), "reviews: promote steady -> prepare");
    assert_eq!(git(&linked, &["status", "--porcelain"]), "");
    assert_eq!(git(r, &["status", "--porcelain"]), "", "the main work tree was touched");
    assert_eq!(git(r, &["rev-parse", "main"]), before);
    kustomize(&linked.join("overlays/reviews"));
}

/// A person's `abort`, started while a scheduled promote moved the release, once said "nothing
/// to do: someone else moved it first" and left the release live at the new stage.
#[test]
fn an_abort_lands_on_a_release_that_someone_moved_meanwhile() {
    let repo = promoted(4);
    let r = repo.path();
    assert_eq!(subject(r), "reviews: promote jason -> 90-10 (stage 2 of 4)");
    // Hold kanari's lock as a running promote would, so that the abort reads 90-10 and waits.
    let lock =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(r.join(".git/kanari.lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let args = ["-C", r.to_str().unwrap(), "abort", "--reason", "5xx above 1%", "--author", "CI <ci@example.com>"];
    let mut abort = kanari_command(r, &args, &[("KANARI_NOW", &minute(4))])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(&mut abort, "waiting for");
    // Meanwhile the release moves on to 50-50 (as the promote holding the lock would commit it).
    assert_eq!(kanari_env(r, &["-C", r.to_str().unwrap(), "render", "--stage", "50-50", "-q"], &[]).code, 0);
    git(r, &["add", "-A"]);
    git(r, &["commit", "-q", "-m", "reviews: promote 90-10 -> 50-50 (stage 3 of 4)"]);
    drop(lock);
    let out = abort.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(subject(r), "reviews: abort 50-50");
    // The traffic is back on v1 at once; v2 keeps the pods 50-50's traffic needed.
    let state = std::fs::read_to_string(r.join("overlays/reviews/kustomization.yaml")).unwrap();
    assert!(state.contains("kanari.dev/stage: aborted"), "{state}");
    assert!(state.contains("kanari.dev/holding: 50-50"), "{state}");
    // A second abort scales the canary to 0, once the traffic has drained.
    let early = run(r, &["abort", "--reason", "again"], &minute(4));
    assert_eq!(early.code, 3, "{}", early.stderr);
    assert!(early.stderr.contains("are kept until the warmup (1m) has passed"), "{}", early.stderr);
    let out = run(r, &["abort", "--reason", "again"], &minute(5));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(subject(r), "reviews: abort 50-50: scale v2 down");
    let state = std::fs::read_to_string(r.join("overlays/reviews/kustomization.yaml")).unwrap();
    assert!(state.contains("kanari.dev/stage: aborted") && !state.contains("kanari.dev/holding"), "{state}");
    let v2 = std::fs::read_to_string(r.join("overlays/reviews/deployment-reviews-v2.yaml")).unwrap();
    assert!(v2.contains("replicas: 0"), "{v2}");
    // Aborted already: a third abort has nothing to do.
    let again = run(r, &["abort", "--reason", "again"], &minute(6));
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("nothing to do: aborted already"), "{}", again.stdout);
}

/// Reads the child's stderr up to a line holding `text` (bounded: the child's own wait is).
fn wait_for_line(child: &mut Child, text: &str) {
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let mut reader = std::io::BufReader::new(stderr);
    for _ in 0..20 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if line.contains(text) {
            // Keep draining in the background so the child never blocks on a full pipe.
            std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
            return;
        }
    }
    panic!("the child never said `{text}`");
}

/// A lost race once exited 2 blaming the user for "uncommitted changes in
/// `.kanari-3191-….tmp`", the winner's file in flight (or a killed run's leftover).
#[test]
fn kanari_s_own_temporary_files_are_not_uncommitted_work() {
    let repo = promoted(1);
    let r = repo.path();
    std::fs::write(r.join("overlays/reviews/.kanari-4242-virtualservice-reviews.yaml.tmp"), "half").unwrap();
    let out = run(r, &["promote"], T0);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(subject(r), "reviews: promote steady -> prepare");
    assert!(!r.join("overlays/reviews/.kanari-4242-virtualservice-reviews.yaml.tmp").exists(), "the leftover stayed");
    assert_eq!(git(r, &["status", "--porcelain"]), "");
}

/// Two renders into one output at once once left a kustomization of one state with the files
/// of the other, or failed because the other removed their temporary file.
#[test]
fn renders_racing_into_one_output_leave_one_whole_state() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    let c = r.to_str().unwrap();
    // The two states, each rendered alone, as references.
    let refs = tempfile::tempdir().unwrap();
    let states = ["50-50", "0-100"];
    for s in states {
        let out = refs.path().join(s);
        assert_eq!(kanari_env(r, &["-C", c, "render", "--stage", s, "--out", out.to_str().unwrap()], &[]).code, 0);
    }
    let expected: Vec<_> = states.iter().map(|s| tree(&refs.path().join(s))).collect();
    for round in 0..15 {
        let children: Vec<Child> = states
            .iter()
            .map(|s| {
                kanari_command(r, &["-C", c, "render", "--stage", s, "-q"], &[])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(0), "round {round}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let now = tree(&r.join("overlays/reviews"));
        assert!(expected.contains(&now), "round {round}: the overlay is neither state whole: {:?}", now.keys());
    }
    kustomize(&r.join("overlays/reviews"));
}

/// With the overlay outside a sparse checkout's cone, libgit2's status once called its files
/// "uncommitted changes" (git shows them clean), and a sparse index failed with libgit2's
/// "unsupported mandatory extension: 'sdir'".
#[test]
fn sparse_checkouts_commit_overlays_outside_the_cone_and_a_sparse_index_is_refused_clearly() {
    let repo = promoted(1);
    let r = repo.path();
    git(r, &["sparse-checkout", "set", "canaries"]);
    assert!(!r.join("overlays/reviews/kustomization.yaml").exists(), "the cone holds the overlay");
    let out = run(r, &["promote"], T0);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(subject(r), "reviews: promote steady -> prepare");
    let state = git(r, &["show", "HEAD:overlays/reviews/kustomization.yaml"]);
    assert!(state.contains("kanari.dev/stage: prepare"), "{state}");
    // Still outside the cone: not in the work tree, marked skip-worktree, and git sees no change.
    assert!(!r.join("overlays/reviews").exists(), "the overlay was written outside the cone");
    let flags = git(r, &["ls-files", "-t", "overlays/reviews"]);
    assert!(!flags.is_empty() && flags.lines().all(|l| l.starts_with("S ")), "{flags}");
    assert_eq!(git(r, &["status", "--porcelain"]), "");
    assert_eq!(git(r, &["diff", "--cached", "--name-only"]), "");

    // A sparse index: one sentence that says how to turn it off, and nothing committed.
    git(r, &["sparse-checkout", "reapply", "--sparse-index"]);
    let before = head(r);
    let out = run(r, &["promote"], T0);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("git sparse-checkout reapply --no-sparse-index"), "{}", out.stderr);
    assert_eq!(head(r), before);
    git(r, &["sparse-checkout", "reapply", "--no-sparse-index"]);
    let out = run(r, &["promote"], &minute(1));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(subject(r), "reviews: promote prepare -> jason (stage 1 of 4)");
    assert_eq!(git(r, &["status", "--porcelain"]), "");
    // Back to a full checkout: the files are the commit's.
    git(r, &["sparse-checkout", "disable"]);
    assert_eq!(git(r, &["status", "--porcelain"]), "");
    kustomize(&r.join("overlays/reviews"));
}

/// Uncommitted work in a release's spec or overlay is told without libgit2's status whenever
/// the index's bytes and the files' stat data can say "clean"; whatever the shortcut, the
/// answer must be git's own. Each case changes a fresh clone one way, and kanari refuses to
/// promote exactly when `git status` shows a change there.
#[test]
fn uncommitted_work_is_what_git_status_says_it_is() {
    type Change = fn(&Path);
    let overlay = "overlays/reviews";
    let cases: &[(&str, Change)] = &[
        ("nothing", |_| {}),
        ("a file appended to", |r| append(&r.join("overlays/reviews/service-reviews.yaml"), "# more\n")),
        ("a file edited to the same size", |r| {
            let path = r.join("overlays/reviews/service-reviews.yaml");
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, text.replacen("port", "pord", 1)).unwrap();
        }),
        ("a file deleted", |r| std::fs::remove_file(r.join("overlays/reviews/service-reviews.yaml")).unwrap()),
        ("an untracked file", |r| std::fs::write(r.join("overlays/reviews/notes.md"), "x").unwrap()),
        ("an untracked file in a new folder", |r| {
            std::fs::create_dir_all(r.join("overlays/reviews/extra")).unwrap();
            std::fs::write(r.join("overlays/reviews/extra/a.yaml"), "x").unwrap();
        }),
        ("an ignored file", |r| {
            std::fs::write(r.join(".git/info/exclude"), "*.swp\n").unwrap();
            std::fs::write(r.join("overlays/reviews/.x.swp"), "x").unwrap();
        }),
        ("a change staged, then undone in the work tree", |r| {
            let path = r.join("overlays/reviews/service-reviews.yaml");
            let before = std::fs::read(&path).unwrap();
            append(&path, "# staged\n");
            git(r, &["add", "overlays/reviews/service-reviews.yaml"]);
            std::fs::write(&path, before).unwrap();
        }),
        ("a file made executable", |r| {
            let path = r.join("overlays/reviews/service-reviews.yaml");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }),
        ("a file removed from the index only", |r| {
            git(r, &["rm", "-q", "--cached", "overlays/reviews/service-reviews.yaml"]).truncate(0)
        }),
        ("the spec edited", |r| append(&r.join("canaries/reviews.yaml"), "# a comment\n")),
        ("a file touched, its bytes the same", |r| {
            let path = r.join("overlays/reviews/service-reviews.yaml");
            let bytes = std::fs::read(&path).unwrap();
            let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
            std::fs::write(&path, bytes).unwrap();
            // A later time than the index recorded, whatever the file system's clock granularity.
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(modified + std::time::Duration::from_secs(2)).unwrap();
        }),
    ];
    for (name, change) in cases {
        let repo = promoted(1);
        let r = repo.path();
        change(r);
        let status =
            git(r, &["status", "--porcelain", "--untracked-files=all", "--", "canaries/reviews.yaml", overlay]);
        let out = run(r, &["promote"], T0);
        let refused = out.code == 2 && out.stderr.contains("uncommitted changes");
        assert_eq!(
            refused,
            !status.is_empty(),
            "{name}: git status says {status:?}; kanari: {} {}",
            out.code,
            out.stderr
        );
        if status.is_empty() {
            assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        }
    }
}

fn append(path: &Path, text: &str) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes.extend_from_slice(text.as_bytes());
    std::fs::write(path, bytes).unwrap();
}

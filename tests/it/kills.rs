//! A kanari killed at any write never costs a release: a real `promote`, `abort` and `promote
//! --push` (to a local bare remote) are killed with SIGKILL at every invocation of each system
//! call that writes (strace's fault injection, `-e inject=SYSCALL:signal=KILL:when=N`), and at
//! an even stride of `openat` calls, each on a fresh copy of the repository. After each kill:
//! `git fsck` is clean; the index never stages a revert of the overlay (HEAD is the old commit
//! with the old or the new overlay staged, or the new commit with the new overlay); one `kanari
//! status` leaves the repository at the old or the new commit with a clean `git status`, no lock
//! and no journal; and where it is still at the old one, the next run of the same command ends
//! at the new one.
//!
//! Only kanari's main thread is traced (no `-f`): it makes every write of a move, while the
//! worker threads read, and the `git` programs a push runs (a remote's `receive-pack` among
//! them) are not kanari's to kill. A run that ends without being killed (N past the thread's
//! count) ends the walk of that call.

use std::path::Path;
use std::process::Command;

use crate::{git, kanari_command};

/// The system calls that write, each killed at every invocation.
const WRITES: &[&str] = &[
    "write",
    "pwrite64",
    "writev",
    "mkdir",
    "mkdirat",
    "fsync",
    "fdatasync",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "ftruncate",
    "utimensat",
    "flock",
];
/// `openat` (which also creates files) is killed at an even stride of this many points.
const OPENAT_POINTS: u32 = 200;
const OVERLAY: &str = "overlays/reviews";

/// One command to kill, on a template repository.
struct Scenario {
    /// The template: `clone/` (the repository kanari runs in) and, for a push, `origin.git/`.
    template: tempfile::TempDir,
    args: &'static [&'static str],
    now: &'static str,
    /// For a push: `git daemon` serving the copies' `origin.git` (a server of its own, as a real
    /// remote is, not a process of the client's that a kill could take down with it).
    remote: Option<(crate::servers::Daemon, tempfile::TempDir)>,
}

/// Runs `kanari args` in `repo` at `now`, through `strace` with `strace_args` when given;
/// returns the exit code (None: killed by a signal).
pub fn kanari_at(repo: &Path, args: &[&str], now: &str, strace_args: Option<&[String]>) -> (Option<i32>, String) {
    let k = kanari_command(repo, args, &[("KANARI_NOW", now), ("RAYON_NUM_THREADS", "1")]);
    let mut cmd = match strace_args {
        Some(strace_args) => {
            let mut c = Command::new(crate::tool("strace"));
            c.args(strace_args).arg(k.get_program()).args(k.get_args());
            c
        }
        None => Command::new(k.get_program()),
    };
    if strace_args.is_none() {
        cmd.args(k.get_args());
    }
    cmd.current_dir(repo);
    for (key, value) in k.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    let out = cmd.output().expect("strace and kanari run");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

pub fn bookinfo_template(push: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("clone");
    crate::copy_tree(&crate::project().join("fixtures/bookinfo"), &clone);
    git(&clone, &["init", "-q", "-b", "main"]);
    git(&clone, &["add", "-A"]);
    git(&clone, &["commit", "-q", "-m", "the release's spec"]);
    git(&clone, &["config", "user.name", "CI"]);
    git(&clone, &["config", "user.email", "ci@example.com"]);
    if push {
        git(dir.path(), &["init", "-q", "--bare", "-b", "main", "origin.git"]);
        git(&clone, &["remote", "add", "origin", dir.path().join("origin.git").to_str().unwrap()]);
        git(&clone, &["push", "-q", "origin", "main"]);
    }
    dir
}

fn promote_scenario() -> Scenario {
    let template = bookinfo_template(false);
    let clone = template.path().join("clone");
    for now in ["2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z"] {
        assert_eq!(kanari_at(&clone, &["promote"], now, None).0, Some(0));
    }
    Scenario { template, args: &["promote"], now: "2026-03-01T02:00:00Z", remote: None }
}

fn abort_scenario() -> Scenario {
    let template = bookinfo_template(false);
    let clone = template.path().join("clone");
    for now in ["2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z", "2026-03-01T02:00:00Z", "2026-03-01T03:00:00Z"] {
        assert_eq!(kanari_at(&clone, &["promote"], now, None).0, Some(0));
    }
    Scenario { template, args: &["abort", "--reason", "errors"], now: "2026-03-01T04:00:00Z", remote: None }
}

fn push_scenario() -> Scenario {
    let template = bookinfo_template(true);
    let clone = template.path().join("clone");
    for now in ["2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z"] {
        assert_eq!(kanari_at(&clone, &["promote", "--push"], now, None).0, Some(0));
    }
    let base = tempfile::tempdir().unwrap();
    let daemon = crate::servers::Daemon::serve(base.path());
    Scenario { template, args: &["promote", "--push"], now: "2026-03-01T02:00:00Z", remote: Some((daemon, base)) }
}

/// A fresh copy of the scenario's template, with the clone's `origin` pointing at the copy's
/// (served by `git daemon`, for a push).
fn copy(s: &Scenario) -> tempfile::TempDir {
    let dir = match &s.remote {
        Some((_, base)) => tempfile::tempdir_in(base.path()).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let status = Command::new("cp").arg("-a").arg(s.template.path().join(".")).arg(dir.path()).status().unwrap();
    assert!(status.success());
    if let Some((daemon, base)) = &s.remote {
        let served = dir.path().strip_prefix(base.path()).unwrap().join("origin.git");
        let url = daemon.url(served.to_str().unwrap());
        git(&dir.path().join("clone"), &["remote", "set-url", "origin", &url]);
    }
    dir
}

/// `(mode, id, path)` of the overlay's entries: in the index, or in a commit's tree.
pub fn index_entries(repo: &Path) -> Vec<(String, String, String)> {
    let text = git(repo, &["ls-files", "-s", "--", OVERLAY]);
    text.lines()
        .map(|l| {
            let (meta, path) = l.split_once('\t').unwrap();
            let parts: Vec<&str> = meta.split(' ').collect();
            (parts[0].to_string(), parts[1].to_string(), path.to_string())
        })
        .collect()
}

pub fn tree_entries(repo: &Path, commit: &str) -> Vec<(String, String, String)> {
    let text = git(repo, &["ls-tree", "-r", commit, "--", OVERLAY]);
    text.lines()
        .map(|l| {
            let (meta, path) = l.split_once('\t').unwrap();
            let parts: Vec<&str> = meta.split(' ').collect();
            (parts[0].to_string(), parts[2].to_string(), path.to_string())
        })
        .collect()
}

pub fn head(repo: &Path) -> String {
    git(repo, &["rev-parse", "HEAD"]).trim().to_string()
}

/// The old commit and the overlay the command's complete run commits.
struct Ends {
    old: String,
    new_overlay: Vec<(String, String, String)>,
}

/// The kill points of a scenario: `(system call, invocation)`, from one traced run's counts.
fn points(s: &Scenario) -> (Ends, Vec<(String, u32)>) {
    let copy = copy(s);
    let clone = copy.path().join("clone");
    let old = head(&clone);
    let summary = copy.path().join("summary.txt");
    let strace = ["-qq", "-c", "-o", summary.to_str().unwrap()].map(String::from);
    let (code, stderr) = kanari_at(&clone, s.args, s.now, Some(&strace));
    assert_eq!(code, Some(0), "the traced run: {stderr}");
    let new = head(&clone);
    assert_ne!(old, new, "the command commits");
    let new_overlay = tree_entries(&clone, &new);
    let mut points = Vec::new();
    for line in std::fs::read_to_string(&summary).unwrap().lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(calls)) = (fields.last(), fields.get(3).and_then(|c| c.parse::<u32>().ok())) else {
            continue;
        };
        // Lines with an `errors` column have 6 fields, others 5: `calls` is the 4th either way.
        if WRITES.contains(name) {
            points.extend((1..=calls).map(|n| (name.to_string(), n)));
        } else if *name == "openat" {
            let step = calls.div_ceil(OPENAT_POINTS).max(1);
            points.extend((1..=calls).step_by(step as usize).map(|n| (name.to_string(), n)));
        }
    }
    (Ends { old, new_overlay }, points)
}

/// Kills the scenario's command at each point, and checks what is left (module doc). Returns
/// how many points killed it.
fn kill_everywhere(s: &Scenario) -> usize {
    let (ends, points) = points(s);
    let old_overlay = tree_entries(&s.template.path().join("clone"), &ends.old);
    let mut killed = 0;
    let mut past_the_end: Vec<String> = Vec::new();
    for (call, n) in &points {
        if past_the_end.contains(call) {
            continue;
        }
        let copy = copy(s);
        let clone = copy.path().join("clone");
        let at = format!("{} killed at {call} #{n}", s.args.join(" "));
        let inject =
            ["-f", "-qq", "-o", "/dev/null", "-e", &format!("inject={call}:signal=KILL:when={n}")].map(String::from);
        let (code, stderr) = kanari_at(&clone, s.args, s.now, Some(&inject));
        if code == Some(0) {
            // It ran to its end: no thread made this many such calls.
            past_the_end.push(call.clone());
            continue;
        }
        // Killed; or, for a push, ended by a `git` it ran that the kill broke: an outside
        // failure (4, 6), never "bad input".
        assert!(code.is_none() || (s.remote.is_some() && matches!(code, Some(4 | 6))), "{at}: exit {code:?}: {stderr}");
        killed += 1;
        check_after_kill(&clone, &at, &ends, &old_overlay);
        // The next command heals it, whatever it is, and the next run ends at the new state.
        let (code, stderr) = kanari_at(&clone, &["status"], s.now, None);
        assert_eq!(code, Some(0), "{at}: status: {stderr}");
        let now = head(&clone);
        assert!(now == ends.old || tree_entries(&clone, &now) == ends.new_overlay, "{at}: HEAD {now} after status");
        assert_eq!(git(&clone, &["status", "--porcelain"]), "", "{at}: git status after kanari status");
        for left in [".git/index.lock", ".git/kanari-move", ".git/refs/heads/main.lock"] {
            assert!(!clone.join(left).exists(), "{at}: `{left}` left after kanari status");
        }
        // With a push the move lands on the remote: the clone may follow it or stay behind.
        let origin = copy.path().join("origin.git");
        let landed = match s.remote.is_some() {
            true => git(&origin, &["rev-parse", "main"]).trim().to_string(),
            false => now.clone(),
        };
        assert!(
            landed == ends.old || tree_entries(&clone, &landed) == ends.new_overlay,
            "{at}: the branch is at {landed}, neither the old nor the new state"
        );
        // The move had not landed: the same command, run again, makes it.
        if landed == ends.old {
            let (code, stderr) = kanari_at(&clone, s.args, s.now, None);
            assert_eq!(code, Some(0), "{at}: the next run: {stderr}");
            assert_eq!(tree_entries(&clone, "HEAD"), ends.new_overlay, "{at}: the next run ends at the new overlay");
            assert_eq!(git(&clone, &["status", "--porcelain"]), "", "{at}: git status after the next run");
            if s.remote.is_some() {
                assert_eq!(git(&origin, &["rev-parse", "main"]).trim(), head(&clone), "{at}: origin has the clone's");
            }
        }
    }
    killed
}

/// What a kill may leave: a clean object database, HEAD at the old commit or at one whose
/// overlay is the new one, and an index that stages the move or nothing, never its revert.
fn check_after_kill(clone: &Path, at: &str, ends: &Ends, old_overlay: &[(String, String, String)]) {
    let fsck = Command::new(crate::tool("git"))
        .args(["fsck", "--no-dangling", "--no-progress"])
        .current_dir(clone)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(fsck.status.success(), "{at}: git fsck: {}", String::from_utf8_lossy(&fsck.stderr));
    let now = head(clone);
    let staged = index_entries(clone);
    if now == ends.old {
        assert!(
            staged == old_overlay || staged == ends.new_overlay,
            "{at}: HEAD is the old commit and the index stages something else:\n{staged:?}"
        );
    } else {
        let committed = tree_entries(clone, &now);
        assert_eq!(committed, ends.new_overlay, "{at}: HEAD {now} is neither the old nor the new state");
        assert_eq!(staged, ends.new_overlay, "{at}: HEAD moved and the index stages a revert of the move");
    }
}

fn report(what: &str, killed: usize) {
    eprintln!("{what}: killed at {killed} points");
    assert!(killed >= 100, "{what}: only {killed} kill points; the test covers too little");
}

#[test]
fn a_promote_killed_at_any_write_leaves_the_old_or_the_new_state_and_the_next_command_heals_it() {
    report("promote", kill_everywhere(&promote_scenario()));
}

#[test]
fn an_abort_killed_at_any_write_leaves_the_old_or_the_new_state_and_the_next_command_heals_it() {
    report("abort", kill_everywhere(&abort_scenario()));
}

#[test]
fn a_push_killed_at_any_write_leaves_the_old_or_the_new_state_and_the_next_command_heals_it() {
    report("promote --push", kill_everywhere(&push_scenario()));
}

/// Regression: the journal named its folders from the folder the killed run was started in, so
/// a command started elsewhere in the repository healed the wrong folder and left the move
/// staged. Killed as the branch is about to move (its index already written), a promote run in
/// `deploy/` is healed by a `status` run from the repository's root.
#[test]
fn a_move_killed_in_a_subfolder_is_healed_from_the_repository_s_root() {
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("deploy");
    crate::copy_tree(&crate::project().join("fixtures/bookinfo"), &project);
    git(root.path(), &["init", "-q", "-b", "main"]);
    git(root.path(), &["add", "-A"]);
    git(root.path(), &["commit", "-q", "-m", "the release's spec"]);
    git(root.path(), &["config", "user.name", "CI"]);
    git(root.path(), &["config", "user.email", "ci@example.com"]);
    let dir = project.to_str().unwrap();
    for now in ["2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z"] {
        assert_eq!(kanari_at(&project, &["-C", dir, "promote"], now, None).0, Some(0));
    }
    let old = head(root.path());
    // The third `rename`: the journal's, the index's, then the branch's (libgit2's lock file).
    let inject = ["-qq", "-o", "/dev/null", "-e", "inject=rename:signal=KILL:when=3"].map(String::from);
    let (code, stderr) = kanari_at(&project, &["-C", dir, "promote"], "2026-03-01T02:00:00Z", Some(&inject));
    assert_eq!(code, None, "killed: {stderr}");
    assert_eq!(head(root.path()), old, "the branch had not moved");
    assert_ne!(git(root.path(), &["diff", "--cached", "--name-only"]), "", "the move was staged");
    let top = root.path().to_str().unwrap();
    let (_, stderr) = kanari_at(root.path(), &["-C", top, "status"], "2026-03-01T02:00:00Z", None);
    assert!(
        stderr.contains("note: an interrupted kanari had not moved `main`")
            && stderr.contains("`deploy/overlays/reviews` put back"),
        "{stderr}"
    );
    assert_eq!(git(root.path(), &["status", "--porcelain"]), "");
    assert!(!root.path().join(".git/kanari-move").exists());
}

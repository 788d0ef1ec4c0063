//! Decisions against real repositories with two releases, `reviews` and `ratings`, both waiting
//! for approval at 50-50: a bare `approve` approves the one release that waits, or none; and a
//! `--push` decides on the remote's state, from a clone that is behind it (a CI clone), ahead of
//! it with kanari's own commits (a person who committed locally first), or ahead with commits
//! of its own.

use std::path::{Path, PathBuf};

use crate::{fixture_repo, git, kanari_env};

const AUTHOR: &str = "Dev <dev@example.com>";

/// `minute` minutes into the day these tests run on.
fn at(minute: u32) -> String {
    format!("2026-04-01T00:{minute:02}:00Z")
}

/// `kanari args --author ...` in `repo` at `minute`.
fn kanari_at(repo: &Path, args: &[&str], minute: u32) -> crate::Run {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--author", AUTHOR]);
    kanari_env(repo, &all, &[("KANARI_NOW", &at(minute))])
}

/// The bookinfo fixture plus `ratings` (the reviews spec under another name and output), both
/// promoted a minute apart to 50-50, where each waits for approval.
fn two_releases_waiting() -> tempfile::TempDir {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    let reviews = std::fs::read_to_string(r.join("canaries/reviews.yaml")).unwrap();
    std::fs::write(r.join("canaries/ratings.yaml"), reviews.replace("reviews", "ratings")).unwrap();
    git(r, &["add", "canaries/ratings.yaml"]);
    git(r, &["commit", "-q", "-m", "the ratings release's spec"]);
    for minute in 0..5 {
        let run = kanari_at(r, &["promote"], minute);
        assert_eq!(run.code, 0, "minute {minute}: {}", run.stderr);
    }
    let held = kanari_at(r, &["promote"], 5);
    assert_eq!(held.code, 3, "{}", held.stderr);
    for id in ["bookinfo/ratings", "bookinfo/reviews"] {
        assert!(held.stderr.contains(&format!("{id}: held: stage `50-50` waits for approval")), "{}", held.stderr);
    }
    repo
}

/// Subjects on `rev`, newest first.
fn log(repo: &Path, rev: &str) -> Vec<String> {
    git(repo, &["log", "--format=%s", rev]).lines().map(str::to_string).collect()
}

fn rev(repo: &Path, rev: &str) -> String {
    git(repo, &["rev-parse", rev]).trim().to_string()
}

/// A bare `origin.git` holding [`two_releases_waiting`] on `main`, and clones of it.
struct Origin {
    dir: tempfile::TempDir,
}

impl Origin {
    fn new() -> Origin {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "--bare", "-b", "main", "origin.git"]);
        let seed = two_releases_waiting();
        git(seed.path(), &["push", "-q", dir.path().join("origin.git").to_str().unwrap(), "main"]);
        Origin { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("origin.git")
    }

    fn clone(&self, name: &str) -> PathBuf {
        git(self.dir.path(), &["clone", "-q", self.path().to_str().unwrap(), name]);
        self.dir.path().join(name)
    }

    fn log(&self) -> Vec<String> {
        log(&self.path(), "main")
    }
}

/// A clone whose `main` is at the remote's tip, with nothing uncommitted, and whose overlays on
/// disk are the tip's.
fn assert_follows(clone: &Path, origin: &Origin) {
    assert_eq!(rev(clone, "main"), rev(&origin.path(), "main"), "the local `main` did not follow the push");
    assert_eq!(git(clone, &["status", "--porcelain"]), "", "the work tree or index did not follow");
    for name in ["reviews", "ratings"] {
        let path = format!("overlays/{name}/kustomization.yaml");
        let on_disk = std::fs::read_to_string(clone.join(&path)).unwrap();
        assert_eq!(on_disk, git(&origin.path(), &["show", &format!("main:{path}")]), "{path}");
    }
}

/// Regression: a bare `approve` with two releases waiting committed both approvals, unasked.
#[test]
fn approve_without_a_name_approves_the_one_release_that_waits_or_none() {
    let repo = two_releases_waiting();
    let r = repo.path();
    let before = log(r, "main");

    let refused = kanari_at(r, &["approve"], 5);
    assert_eq!(refused.code, 2, "a bare approve with two releases waiting: {}{}", refused.stdout, refused.stderr);
    assert_eq!(
        refused.stderr,
        "error: 2 releases wait for approval: `bookinfo/ratings`, `bookinfo/reviews`; name the one to approve (as in `kanari approve bookinfo/ratings`), or pass `--all` to approve them all\n"
    );
    assert_eq!(log(r, "main"), before, "a refused approve committed");
    assert_eq!(git(r, &["status", "--porcelain"]), "");

    let one = kanari_at(r, &["approve", "reviews"], 5);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert_eq!(log(r, "main")[..2], ["reviews: approve 50-50", before[0].as_str()]);

    // One release waits now: a bare approve approves it.
    let last = kanari_at(r, &["approve"], 6);
    assert_eq!(last.code, 0, "{}", last.stderr);
    assert_eq!(log(r, "main")[..2], ["ratings: approve 50-50", "reviews: approve 50-50"]);

    // None waits: nothing to do.
    let none = kanari_at(r, &["approve"], 7);
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert_eq!(log(r, "main").len(), before.len() + 2);
}

#[test]
fn approve_all_approves_every_release_that_waits_on_purpose() {
    let repo = two_releases_waiting();
    let r = repo.path();
    let before = log(r, "main");

    let both = kanari_at(r, &["approve", "--all", "reviews"], 5);
    assert_eq!(both.code, 2, "--all with a name: {}", both.stderr);
    assert!(both.stderr.contains("'--all' cannot be used with '[RELEASE]...'"), "{}", both.stderr);
    assert_eq!(log(r, "main"), before);

    let all = kanari_at(r, &["approve", "--all"], 5);
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert_eq!(log(r, "main")[..3], ["reviews: approve 50-50", "ratings: approve 50-50", before[0].as_str()]);
    let help = kanari_env(r, &["approve", "--help"], &[]);
    assert!(help.stdout.contains("--all"), "{}", help.stdout);
}

/// Regression: a CI clone behind `origin` read its intents from its own, older tip, and said
/// `reviews` waits for approval while `origin` already held the approval.
#[test]
fn a_clone_behind_its_remote_decides_on_the_remote_s_state_and_follows() {
    let origin = Origin::new();
    let ci = origin.clone("ci");
    let person = origin.clone("person");
    let approved = kanari_at(&person, &["approve", "reviews", "--push"], 5);
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    assert_eq!(origin.log()[0], "reviews: approve 50-50");

    let run = kanari_at(&ci, &["promote", "--push"], 6);
    let tip = origin.log();
    assert!(tip[0].starts_with("reviews: promote 50-50 -> "), "{tip:?}\n{}{}", run.stdout, run.stderr);
    assert_eq!(tip[1], "reviews: approve 50-50");
    assert!(run.stdout.contains(&format!("] {}", tip[0])), "{}", run.stdout);
    // ratings still waits: the run holds it, and says so.
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("bookinfo/ratings: held: stage `50-50` waits for approval"), "{}", run.stderr);
    assert_follows(&ci, &origin);
}

/// Regression: `promote` (committed locally), then `promote --push` in the same clone said
/// "someone else moved it first" and pushed nothing, while the local branch was ahead.
#[test]
fn kanari_s_local_commits_are_pushed_with_the_next_move() {
    let origin = Origin::new();
    let person = origin.clone("person");
    let before = origin.log();
    assert_eq!(kanari_at(&person, &["approve", "reviews"], 5).code, 0);

    let run = kanari_at(&person, &["promote", "reviews", "--push"], 6);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let tip = origin.log();
    assert_eq!(tip.len(), before.len() + 2, "{tip:?}\n{}{}", run.stdout, run.stderr);
    assert!(tip[0].starts_with("reviews: promote 50-50 -> "), "{tip:?}");
    assert_eq!(tip[1], "reviews: approve 50-50");
    let pushed: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("[main ")).collect();
    assert_eq!(pushed.len(), 2, "{}", run.stdout);
    assert!(pushed[0].ends_with(" -> origin] reviews: approve 50-50"), "{pushed:?}");
    assert_follows(&person, &origin);
}

/// With nothing new to commit, kanari's local commits are pushed all the same, and printed.
#[test]
fn kanari_s_local_commits_are_pushed_when_nothing_new_moves() {
    let origin = Origin::new();
    let person = origin.clone("person");
    assert_eq!(kanari_at(&person, &["approve", "reviews"], 5).code, 0);
    let local = rev(&person, "main");

    let run = kanari_at(&person, &["approve", "reviews", "--push"], 5);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(rev(&origin.path(), "main"), local, "the local approval was not pushed: {}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("bookinfo/reviews: nothing to do: stage `50-50` is approved already"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("[main {} -> origin] reviews: approve 50-50", &local[..12])),
        "{}",
        run.stdout
    );
    assert_follows(&person, &origin);
}

/// A clone with a commit of its own: kanari decides on the remote's tip and pushes its commit
/// there, never the person's; the local branch cannot follow, and the run says so (exit 6).
#[test]
fn a_clone_with_a_commit_of_its_own_pushes_on_the_remote_tip_and_says_it_cannot_follow() {
    let origin = Origin::new();
    let person = origin.clone("person");
    std::fs::write(person.join("TEAM.md"), "payments\n").unwrap();
    git(&person, &["add", "TEAM.md"]);
    git(&person, &["commit", "-q", "-m", "docs: the owning team"]);
    let (before, local) = (origin.log(), rev(&person, "main"));

    let run = kanari_at(&person, &["approve", "reviews", "--push"], 5);
    let tip = origin.log();
    assert_eq!(tip[0], "reviews: approve 50-50", "{}{}", run.stdout, run.stderr);
    assert_eq!(tip[1..], before[..], "the person's own commit was pushed");
    assert_eq!(run.code, 6, "{}{}", run.stdout, run.stderr);
    let pushed = rev(&origin.path(), "main");
    assert_eq!(
        run.stderr,
        format!(
            "error: `main` on `origin` is at {} (pushed), but the local `main` could not follow: it has 1 commit that `origin` does not, which kanari does not push; run `git pull --rebase`\n",
            &pushed[..12]
        )
    );
    assert_eq!(rev(&person, "main"), local, "the local branch moved");
    // What it says heals it.
    git(&person, &["pull", "-q", "--rebase"]);
    assert_eq!(log(&person, "main")[..2], ["docs: the owning team", "reviews: approve 50-50"]);
    assert_eq!(kanari_at(&person, &["approve", "reviews", "--push"], 6).code, 0);
    assert_eq!(rev(&origin.path(), "main"), pushed);
}

/// A clone whose kanari commit diverged from the remote (another job pushed first): kanari
/// decides on the remote's tip, pushes, and says the local branch cannot follow.
#[test]
fn a_clone_that_diverged_decides_on_the_remote_tip_and_says_it_cannot_follow() {
    let origin = Origin::new();
    let (ci, person) = (origin.clone("ci"), origin.clone("person"));
    assert_eq!(kanari_at(&person, &["approve", "reviews"], 5).code, 0);
    assert_eq!(kanari_at(&ci, &["approve", "ratings", "--push"], 5).code, 0);

    let run = kanari_at(&person, &["promote", "ratings", "--push"], 6);
    let tip = origin.log();
    assert!(tip[0].starts_with("ratings: promote 50-50 -> "), "{tip:?}\n{}{}", run.stdout, run.stderr);
    assert_eq!(tip[1], "ratings: approve 50-50");
    assert!(!tip.contains(&"reviews: approve 50-50".to_string()), "the diverged commit was pushed: {tip:?}");
    assert_eq!(run.code, 6, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("the local `main` could not follow: it has 1 commit that `origin` does not")
            && run.stderr.contains("run `git pull --rebase`"),
        "{}",
        run.stderr
    );
}

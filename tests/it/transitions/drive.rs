//! Driving a release with the real binary: a clock the test keeps and advances, each run's exit
//! code checked, and the loops that take a release to its end or abort it for good, however many
//! commits kanari makes on the way.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};

use crate::{Run, git, kanari_env, repo_with};

/// The first time every release starts at.
const START: &str = "2026-03-01T10:00:00Z";

/// A Git repository on `main` holding `files` in one commit, with a committer for kanari.
pub fn repository(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = repo_with(files);
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "the release's spec"]);
    identity(dir.path());
    dir
}

/// Gives kanari's commits in `repo` an author, in the repository's own configuration.
pub fn identity(repo: &Path) {
    git(repo, &["config", "user.name", "CI"]);
    git(repo, &["config", "user.email", "ci@example.com"]);
}

/// A repository with a release, a clock, and a log of every command run.
pub struct Driver<'a> {
    repo: &'a Path,
    now: Timestamp,
    /// `time command -> exit code: first line of output`, for failure messages.
    pub log: Vec<String>,
}

impl<'a> Driver<'a> {
    pub fn new(repo: &'a Path) -> Driver<'a> {
        Driver { repo, now: START.parse().unwrap(), log: Vec::new() }
    }

    pub fn advance_hours(&mut self, hours: i64) {
        self.now += SignedDuration::from_hours(hours);
    }

    pub fn advance_minutes(&mut self, minutes: i64) {
        self.now += SignedDuration::from_mins(minutes);
    }

    /// Runs `kanari -C REPO args` at the clock's time; an exit code outside `allowed` is an
    /// error with the whole output.
    pub fn run(&mut self, args: &[&str], allowed: &[i32]) -> Result<Run, String> {
        let now = self.now.to_string();
        let mut all = vec!["-C", self.repo.to_str().unwrap()];
        all.extend_from_slice(args);
        let run = kanari_env(self.repo, &all, &[("KANARI_NOW", &now)]);
        let said = run.stdout.lines().chain(run.stderr.lines()).next().unwrap_or("").to_string();
        self.log.push(format!("{now} kanari {} -> {}: {said}", args.join(" "), run.code));
        if !allowed.contains(&run.code) {
            return Err(format!(
                "kanari {args:?} at {now} exited {} (allowed {allowed:?})\nstdout:\n{}\nstderr:\n{}\nlog:\n{}",
                run.code,
                run.stdout,
                run.stderr,
                self.log.join("\n")
            ));
        }
        Ok(run)
    }

    /// Writes `text` to the spec file `file` and commits it, as a person would.
    pub fn commit_spec(&mut self, file: &str, text: &str, message: &str) {
        std::fs::write(self.repo.join(file), text).unwrap();
        git(self.repo, &["commit", "-q", "-am", message]);
        self.log.push(format!("{} git commit: {message}", self.now));
    }

    /// Promotes (2 hours later each time, approving when a stage waits for it) until promote
    /// twice says there is nothing to do; at most 200 promotes.
    pub fn drive_to_end(&mut self) -> Result<(), String> {
        let mut idle = 0;
        for _ in 0..200 {
            self.advance_hours(2);
            let run = self.run(&["promote"], &[0, 3])?;
            if run.code == 3 {
                idle = 0;
                if run.stderr.contains("approval") {
                    self.run(&["approve"], &[0])?;
                }
            } else if run.stdout.contains("nothing to do") {
                idle += 1;
                if idle == 2 {
                    return Ok(());
                }
            } else {
                idle = 0;
            }
        }
        Err(format!("the release did not reach its end in 200 promotes:\n{}", self.log.join("\n")))
    }

    /// Aborts (2 hours later each time) until abort says there is nothing to do; at most 20
    /// aborts.
    pub fn abort_fully(&mut self) -> Result<(), String> {
        for _ in 0..20 {
            self.advance_hours(2);
            let run = self.run(&["abort", "--reason", "x"], &[0, 3])?;
            if run.code == 0 && run.stdout.contains("nothing to do") {
                return Ok(());
            }
        }
        Err(format!("the abort did not complete in 20 runs:\n{}", self.log.join("\n")))
    }

    /// The committed `kanari.dev/stage` of the overlay in `dir`, if one is committed.
    pub fn stage(&self, dir: &str) -> Option<String> {
        let head = super::history(self.repo, dir).pop()?;
        Some(super::overlay_at(self.repo, &head, dir).stage)
    }

    /// The committed `kanari.dev/stage` of the overlay in `dir`, and whether a move is under way
    /// there (a scale-up, a drain, a version departing).
    pub fn stage_annotations(&self, dir: &str) -> Option<(String, bool)> {
        let head = super::history(self.repo, dir).pop()?;
        let x = super::overlay_at(self.repo, &head, dir);
        let kustomization = x.files.get("kustomization.yaml")?;
        let between = ["kanari.dev/toward:", "kanari.dev/holding:", "kanari.dev/departing:"]
            .iter()
            .any(|key| kustomization.contains(key));
        Some((x.stage, between))
    }

    /// Promotes (2 hours later each time, approving when a stage waits for it) until the
    /// committed stage is `target`; at most 100 promotes.
    pub fn reach(&mut self, dir: &str, target: &str) -> Result<(), String> {
        for _ in 0..100 {
            if self.stage(dir).as_deref() == Some(target) {
                return Ok(());
            }
            self.advance_hours(2);
            let run = self.run(&["promote"], &[0, 3])?;
            if run.code == 3 && run.stderr.contains("approval") {
                self.run(&["approve"], &[0])?;
            }
        }
        Err(format!("the release did not reach `{target}` in 100 promotes:\n{}", self.log.join("\n")))
    }
}

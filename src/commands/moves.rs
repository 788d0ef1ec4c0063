//! Committing new states: what `promote`, `approve` and `abort` share.
//!
//! The intent of a run is fixed when it starts, read from the branch tip: "move release R from
//! state S" (promote, approve) or "abort R, wherever it stands" (abort). Then the repository
//! lock is taken, and the tip is read again: if R is no longer at S, someone else moved it, and
//! for promote and approve that is success with nothing to do; an abort is decided again on the
//! new tip, and lands unless R is aborted already (a person's abort is never dropped because a
//! scheduled promote moved the release first). Otherwise the states are rendered from the tip's
//! specs, one commit per release is built on the tip in the object database, every lock the
//! local clone needs is taken (the index's too), and the branch is moved by compare-and-swap on
//! the tip; if it moved in between, everything starts again from the new tip, a bounded number
//! of times.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use git2::Oid;
use jiff::Timestamp;

use crate::cli::{CommitArgs, Selection};
use crate::commands::Workspace;
use crate::commands::git::{Git, now};
use crate::exit::{Code, Exit};
use crate::plan::{self, Recorded, State, Step, Summary};
use crate::release::{self, Next, Position};
use crate::repo::short;
use crate::spec::Canary;
use crate::transport::{Credentials, Pushed};

/// How many times the branch may move under a run before it gives up (exit 4).
const ATTEMPTS: u32 = 8;
/// How long to wait for another kanari holding the repository lock.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// What a command commits for one release: the state, and what shapes the message.
pub struct Transition {
    /// The state to record.
    pub target: State,
    /// `promote`, `approve` or `abort`: the subject's verb.
    pub verb: &'static str,
    /// A line of the body before the traffic and pod changes.
    pub note: Option<String>,
    /// Trailers after kanari's own.
    pub trailers: Vec<(&'static str, String)>,
}

impl Transition {
    /// A transition to `target` with no note and no trailers of its own.
    pub fn to(target: State, verb: &'static str) -> Self {
        Transition { target, verb, note: None, trailers: vec![] }
    }
}

/// What a command decides for one release: the release's [`Next`] with the transition to commit.
pub type Decision = Next<Transition>;

/// How an intent meets a release that someone else moved after the run read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// Only from the state it was read in (promote, approve): moved means nothing to do.
    FromHere,
    /// Wherever the release stands (abort): decided again on the new tip.
    Wherever,
}

/// Decides, for a release and what its overlay records, at time `now`.
pub type Decide<'a> = dyn Fn(&Canary, Option<&Recorded>, Timestamp) -> Result<Decision> + 'a;

/// Runs a committing command over the selected releases.
pub fn run(ws: &Workspace, selection: &Selection, args: &CommitArgs, intent: Intent, decide: &Decide) -> Result<Code> {
    let git = Git::open(ws)?;
    let now = now()?;
    let branch = git.repo.branch(args.branch.as_deref(), &args.remote)?;
    let base = match branch.tip {
        Some(tip) => tip,
        None => git.repo.head_commit()?.ok_or_else(|| anyhow::anyhow!("the repository has no commit yet"))?,
    };
    let canaries = git.releases_at(base, &selection.releases)?;

    // The intents, fixed now.
    let mut intents = Vec::new();
    let mut held = false;
    for canary in &canaries {
        let committed = git.committed(Some(base), canary)?;
        match decide(canary, committed.recorded.as_ref(), now)? {
            Next::Move { .. } => intents.push((canary.id(), key(committed.recorded.as_ref()))),
            Next::Stay { why } => say(ws, format!("{}: nothing to do: {why}", canary.id())),
            Next::Held(gate) => {
                held = true;
                eprintln!("{}: held: {gate}", canary.id());
            }
        }
    }
    let held_code = |held: bool| if held { Code::Gate } else { Code::Ok };
    if intents.is_empty() {
        git.refuse_uncommitted(&canaries)?;
        return Ok(held_code(held));
    }

    let creds = Credentials::from_env();
    let _lock = if args.dry_run { None } else { Some(git.repo.lock(LOCK_WAIT, ws.quiet)?) };
    // Under the lock: another kanari's files in flight are done by now, never blamed on the user.
    git.refuse_uncommitted(&canaries)?;
    let mut last_reason = String::new();
    for attempt in 1..=ATTEMPTS {
        // The tip to build on: the remote's, freshly fetched, when pushing; else the branch's.
        // A branch that does not exist yet starts at the base commit.
        let tip = match args.push {
            true => git.repo.fetch(&args.remote, &branch.name, &creds)?,
            false => git.repo.branch(Some(&branch.name), &args.remote)?.tip,
        };
        let tip_commit = tip.unwrap_or(base);
        // Specs are read again only when the tip is not the commit they were read from.
        let tip_canaries;
        let canaries = match tip_commit == base {
            true => &canaries,
            false => {
                tip_canaries = git.releases_at(tip_commit, &selection.releases)?;
                &tip_canaries
            }
        };
        let renderer = git.renderer_at(tip_commit)?;
        let mut parent = tip_commit;
        let mut made: Vec<(Oid, String, &Canary)> = Vec::new();
        let mut held = held;
        for (id, from) in &intents {
            let Some(canary) = canaries.iter().find(|c| &c.id() == id) else {
                say(ws, format!("{id}: nothing to do: the release is gone from the specs at {}", short(tip_commit)));
                continue;
            };
            let committed = git.committed(Some(parent), canary)?;
            let moved = &key(committed.recorded.as_ref()) != from;
            let now_at = describe(committed.recorded.as_ref());
            if moved && intent == Intent::FromHere {
                say(ws, format!("{id}: nothing to do: someone else moved it first (now at {now_at})"));
                continue;
            }
            let Transition { target, verb, note, trailers } = match decide(canary, committed.recorded.as_ref(), now)? {
                Next::Move { to } => to,
                Next::Stay { why } if moved => {
                    say(ws, format!("{id}: nothing to do: {why} (someone else moved it first: now at {now_at})"));
                    continue;
                }
                Next::Stay { why } => {
                    say(ws, format!("{id}: nothing to do: {why}"));
                    continue;
                }
                Next::Held(gate) => {
                    held = true;
                    eprintln!("{id}: held: {gate}");
                    continue;
                }
            };
            let plan = plan::plan(canary, &target);
            let rendered = renderer.render(&plan, &canary.file)?;
            let message = message(canary, committed.recorded.as_ref(), &target, verb, note.as_deref(), &trailers);
            let (author, committer) = git.repo.signatures(args.author.as_deref(), now)?;
            match git.repo.build_commit(Some(parent), &canary.output, &rendered.files, &message, &author, &committer)? {
                Some(oid) => {
                    parent = oid;
                    made.push((oid, message.lines().next().unwrap_or_default().to_string(), canary));
                }
                None => say(ws, format!("{id}: nothing to do: the committed overlay is already that state")),
            }
        }
        if made.is_empty() {
            return Ok(held_code(held));
        }
        if args.dry_run {
            for (_, subject, _) in &made {
                println!("would commit: {subject}");
            }
            return Ok(held_code(held));
        }
        let dirs: Vec<&Path> = made.iter().map(|(_, _, c)| c.output.as_path()).collect();
        if args.push {
            match git.repo.push(&args.remote, &branch.name, parent, tip, &creds)? {
                Pushed::Accepted => follow_locally(&git, &branch.name, tip_commit, parent, &dirs).map_err(|e| {
                    partial(format!(
                        "`{}` on `{}` is at {} (pushed), but the local clone could not follow: {e:#}; run `git pull`",
                        branch.name,
                        args.remote,
                        short(parent)
                    ))
                })?,
                Pushed::Moved(why) => {
                    last_reason = format!(" (last: {why})");
                    eprintln!(
                        "`{}` on `{}` moved first ({why}); attempt {attempt} of {ATTEMPTS}, starting again",
                        branch.name, args.remote
                    );
                    backoff(attempt);
                    continue;
                }
                Pushed::Refused(why) => {
                    return Err(Exit {
                        code: Code::Conflict,
                        message: format!(
                            "the server refused the push to `{}` on `{}`: {why}",
                            branch.name, args.remote
                        ),
                    }
                    .into());
                }
            }
        } else {
            let log = format!("kanari: {}", made[0].1);
            // Every lock the local clone needs, before the branch moves: a lock that cannot be
            // had stops the run here, with nothing committed.
            let local = git.repo.prepare_move(&branch.name, tip)?;
            if !git.repo.move_branch(&branch.name, tip, parent, &log)? {
                drop(local);
                eprintln!(
                    "`{}` moved while kanari worked (attempt {attempt} of {ATTEMPTS}); starting again",
                    branch.name
                );
                backoff(attempt);
                continue;
            }
            git.repo.sync_worktree(local, Some(tip_commit), parent, &dirs).map_err(|e| {
                partial(format!(
                    "`{}` is at {} (committed), but the work tree could not follow: {e:#}; the index matches the commit, so `git checkout -- {}` brings the files back",
                    branch.name,
                    short(parent),
                    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" ")
                ))
            })?;
        }
        for (oid, subject, _) in &made {
            let pushed = if args.push { format!(" -> {}", args.remote) } else { String::new() };
            say(ws, format!("[{} {}{pushed}] {subject}", branch.name, short(*oid)));
        }
        return Ok(held_code(held));
    }
    Err(Exit {
        code: Code::Conflict,
        message: format!("`{}` kept moving under kanari: gave up after {ATTEMPTS} attempts{last_reason}", branch.name),
    }
    .into())
}

/// After a push: the local branch (and HEAD, the index and the work tree for `dirs`) follow,
/// when they were at the commit the push built on. A clone that had other commits is left alone.
fn follow_locally(git: &Git, branch: &str, built_on: Oid, pushed: Oid, dirs: &[&Path]) -> Result<()> {
    let local = git.repo.branch(Some(branch), "origin")?.tip;
    if local.is_some_and(|l| l != built_on) {
        eprintln!("note: the local `{branch}` is not at the remote's tip; update it with `git pull`");
        return Ok(());
    }
    let prepared = git.repo.prepare_move(branch, Some(built_on))?;
    if local.is_some() && !git.repo.move_branch(branch, local, pushed, "kanari: follow the push")? {
        eprintln!("note: the local `{branch}` moved meanwhile; update it with `git pull`");
        return Ok(());
    }
    git.repo.sync_worktree(prepared, Some(built_on), pushed, dirs)?;
    Ok(())
}

/// The error for a run whose commit landed but whose local clone could not follow (exit 6).
fn partial(message: String) -> anyhow::Error {
    Exit { code: Code::Partial, message }.into()
}

/// Sleeps 50 ms doubled per attempt (at most 1.6 s), plus up to as much again at random, so that
/// jobs that collided once do not collide again in step.
fn backoff(attempt: u32) {
    let base = 50u64 << attempt.min(5);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let jitter = u64::from(seed ^ std::process::id().wrapping_mul(2_654_435_761)) % base;
    std::thread::sleep(Duration::from_millis(base + jitter));
}

fn say(ws: &Workspace, line: String) {
    if !ws.quiet {
        println!("{line}");
    }
}

/// What identifies a recorded state for "has someone else moved it": canary, stage, approval.
fn key(recorded: Option<&Recorded>) -> Option<(Option<String>, String, Option<String>)> {
    recorded.map(|r| (r.canary.clone(), r.stage.clone(), r.approved.clone()))
}

fn describe(recorded: Option<&Recorded>) -> String {
    match recorded {
        Some(r) => r.stage.clone(),
        None => "nothing committed".into(),
    }
}

/// `reviews: promote 90-10 -> 50-50 (stage 3 of 4)`, a body with the traffic and pod changes,
/// and the `Kanari-Canary` and `Kanari-Stage` trailers.
fn message(
    canary: &Canary,
    from: Option<&Recorded>,
    to: &State,
    verb: &str,
    note: Option<&str>,
    trailers: &[(&str, String)],
) -> String {
    let to_name = to.step.name(canary);
    let from_name = from.map_or("(new)", |r| r.stage.as_str());
    let mut subject = match verb {
        "promote" => format!("{}: promote {from_name} -> {to_name}", canary.name),
        _ => format!("{}: {verb} {from_name}", canary.name),
    };
    if let Step::Stage(i) = to.step
        && verb == "promote"
    {
        subject.push_str(&format!(" (stage {} of {})", i + 1, canary.stages.len()));
    }
    let mut body = Vec::new();
    if let Some(note) = note {
        body.push(note.to_string());
    }
    let after = plan::summarize(canary, to.step, &plan::plan(canary, to));
    let before = match release::position(canary, from) {
        Ok(Position::At(step)) => Some(plan::summarize(canary, step, &plan::plan(canary, &State::new(step)))),
        _ => None,
    };
    let traffic_before = before.as_ref().map(Summary::traffic_text);
    body.push(format!("traffic: {}", changes(traffic_before.as_ref(), &after.traffic_text())));
    body.push(format!("pods: {}", changes(before.as_ref().map(|b| &b.pods), &after.pods)));
    let more: String = trailers.iter().map(|(key, value)| format!("{key}: {value}\n")).collect();
    format!("{subject}\n\n{}\n\nKanari-Canary: {}\nKanari-Stage: {to_name}\n{more}", body.join("\n"), canary.id())
}

/// `v1 90% -> 50%, v2 10% -> 50%`: each version's value before and after.
fn changes(before: Option<&Vec<(String, String)>>, after: &[(String, String)]) -> String {
    let mut versions: Vec<&String> = after.iter().map(|(v, _)| v).collect();
    for (v, _) in before.into_iter().flatten() {
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    let get = |list: Option<&Vec<(String, String)>>, v: &str| {
        list.and_then(|l| l.iter().find(|(name, _)| name == v).map(|(_, x)| x.clone()))
    };
    let after = after.to_vec();
    versions
        .iter()
        .map(|v| {
            let new = get(Some(&after), v).unwrap_or_else(|| "-".into());
            match (before, get(before, v)) {
                (None, _) => format!("{v} {new}"),
                (Some(_), Some(old)) if old == new => format!("{v} {new}"),
                (Some(_), old) => format!("{v} {} -> {new}", old.unwrap_or_else(|| "-".into())),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Summary {
    /// The traffic as `(version, "90%")`.
    pub fn traffic_text(&self) -> Vec<(String, String)> {
        self.traffic.iter().map(|(v, w)| (v.clone(), format!("{w}%"))).collect()
    }
}

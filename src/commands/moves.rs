//! Committing new states: what `promote`, `approve` and `abort` share.
//!
//! The intent of a run is fixed when it starts, read from the branch tip (with `--push`, under the
//! lock, from the tip [`upstream`] picks): "move release R from state S" (promote, approve) or
//! "abort R, wherever it stands" (abort). Then the repository
//! lock is taken, and the tip is read again: if R is no longer at S, someone else moved it, and
//! for promote and approve that is success with nothing to do; an abort is decided again on the
//! new tip, and lands unless R is aborted already (a person's abort is never dropped because a
//! scheduled promote moved the release first). Otherwise the states are rendered from the tip's
//! specs, one commit per release is built on the tip in the object database, every lock the
//! local clone needs is taken (the index's too), and the branch is moved by compare-and-swap on
//! the tip; if it moved in between, everything starts again from the new tip, a bounded number
//! of times.
//!
//! In the code, three steps and a loop: [`Run::intents`] (what moves, from which recorded state,
//! fixed at the start), [`Run::plan_on`] (one attempt on a given tip: the commits built in the
//! object database, a [`Planned`] value, no ref moved and no remote touched), and
//! [`Run::publish`] (a push, or a compare-and-swap of the local branch, then the clone follows).
//! [`run`] retries plan-then-publish while the branch moves under it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use jiff::Timestamp;

use crate::cli::{CommitArgs, Selection};
use crate::commands::Workspace;
use crate::commands::broken;
use crate::commands::commits::{Commits, Committed, now};
use crate::commands::upstream::{self, Upstream};
use crate::exit::{Code, Exit, Kind};
use crate::plan::{self, Recorded, State};
use crate::release::{Gate, Next};
use crate::repo::{CommitId, MoveStopped, Moved};
use crate::spec::{Broken, Canary};
use crate::transport::{Credentials, Pushed};

/// How many times the branch may move under a run before it gives up (exit 4).
const ATTEMPTS: u32 = 8;
/// How long to wait for another kanari holding the repository lock.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// What a command commits for one release: the state, and what shapes the message.
pub(super) struct Transition {
    /// The state to record.
    pub target: State,
    /// `promote`, `approve` or `abort`: the subject's verb.
    pub verb: &'static str,
    /// A line of the body before the traffic and pod changes.
    pub note: Option<String>,
    /// Trailers after kanari's own.
    pub trailers: Vec<(&'static str, String)>,
    /// The exit code a run that commits this transition ends with, instead of 0 (an abort by
    /// the analysis: 5).
    pub exit: Option<Code>,
}

impl Transition {
    /// A transition to `target` with no note and no trailers of its own.
    pub(super) fn to(target: State, verb: &'static str) -> Self {
        Transition { target, verb, note: None, trailers: vec![], exit: None }
    }
}

/// What a command decides for one release: the release's [`Next`] with the transition to commit.
pub(super) type Decision = Next<Transition>;

/// How an intent meets a release that someone else moved after the run read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Intent {
    /// Only from the state it was read in (promote, approve): moved means nothing to do.
    FromHere,
    /// Wherever the release stands (abort): decided again on the new tip.
    Wherever,
}

/// Decides, for a release and its committed overlay (read at or after commit `at`: a fleet's
/// other instances are read there), at time `now`.
pub(super) type Decide<'a> = dyn Fn(&Canary, &Committed, CommitId, Timestamp) -> Result<Decision> + 'a;

/// A line a run says about one release, in the order it is found: `nothing to do` on stdout
/// (unless `--quiet`), `held` and what a person should know on stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Note {
    Stay(String),
    Held(String),
    /// Something the run did otherwise than usual (an abort with an older spec).
    Warn(String),
}

/// What a run sets out to do, fixed when it starts, read from the branch tip (`base`).
struct Intents {
    /// The commit the intents were read from.
    base: CommitId,
    /// The selectors of the command line, to read the specs of another tip with.
    selectors: Vec<String>,
    /// The selected releases as `base` defines them, with those of [`Intents::fallbacks`].
    canaries: Vec<Canary>,
    /// The releases an abort moves with their last spec that loaded ([`broken::fall_back`]).
    fallbacks: Vec<Canary>,
    /// The problems of the selected releases whose specs do not load: reported at the end.
    broken: Vec<Broken>,
    /// The releases to move, each with the recorded state it was read in.
    moves: Vec<(String, Key)>,
    /// The exit code of the gates that held a release, if any ([`hold`]).
    held: Option<Code>,
}

/// A commit one attempt built in the object database, not yet on any branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct NewCommit {
    pub id: CommitId,
    /// The first line of its message.
    pub subject: String,
    /// The overlay folder it changes.
    pub output: PathBuf,
}

/// One attempt on a tip: the commits to publish, one per release that moves, each on the one
/// before it, the first on `on`. A value: built without touching the remote or any ref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Planned {
    /// The commit the first new commit is built on.
    pub on: CommitId,
    pub commits: Vec<NewCommit>,
    /// The exit code of the gates that held a release on this tip, if any ([`hold`]).
    pub held: Option<Code>,
    /// The exit code a committed transition asks for (an abort by the analysis).
    pub exit: Option<Code>,
}

impl Planned {
    /// The commit the branch moves to: the last one built.
    pub(super) fn head(&self) -> CommitId {
        self.commits.last().map_or(self.on, |c| c.id)
    }

    fn dirs(&self) -> Vec<&Path> {
        self.commits.iter().map(|c| c.output.as_path()).collect()
    }
}

/// How publishing an attempt ended: its commits are on the branch, or the branch moved first.
enum Published {
    Done,
    /// The branch moved under the run; the reason, for the final error.
    Moved(Option<String>),
}

/// What stays the same through a run: the repository, the flags, the kind of intent, the time
/// and the command's decision.
struct Run<'a> {
    git: Commits<'a>,
    args: &'a CommitArgs,
    intent: Intent,
    now: Timestamp,
    decide: &'a Decide<'a>,
}

/// Runs a committing command over the selected releases whose specs load (and, for an abort,
/// those whose last spec that loaded is in reach), then reports the others ([`broken::finish`]).
pub(super) fn run(
    ws: &Workspace,
    selection: &Selection,
    args: &CommitArgs,
    intent: Intent,
    decide: &Decide,
) -> Result<Code> {
    run_checked(ws, selection, args, intent, decide, &|_| Ok(()))
}

/// Asked, once the intents are read, about the releases a run sets out to move (`namespace/name`
/// each): an error stops the run before anything is committed.
pub(super) type Check<'a> = dyn Fn(&[String]) -> Result<()> + 'a;

/// [`run`], with a [`Check`] of the releases to move.
pub(super) fn run_checked(
    ws: &Workspace,
    selection: &Selection,
    args: &CommitArgs,
    intent: Intent,
    decide: &Decide,
    check: &Check,
) -> Result<Code> {
    let mut broken = Vec::new();
    let result = attempts(ws, selection, args, intent, decide, check, &mut broken);
    broken::finish(&broken, result)
}

/// The intents, then attempts on the branch tip, each planned and then published, until one
/// lands or `ATTEMPTS` have failed; the problems of the releases left out go to `broken`.
fn attempts(
    ws: &Workspace,
    selection: &Selection,
    args: &CommitArgs,
    intent: Intent,
    decide: &Decide,
    check: &Check,
    broken: &mut Vec<Broken>,
) -> Result<Code> {
    let run = Run { git: Commits::open(ws)?, args, intent, now: now()?, decide };
    let git = &run.git;
    let branch = git.repo.branch(args.branch.as_deref(), &args.remote)?;
    let creds = Credentials::from_env().allowing_insecure_http(args.allow_insecure_http);
    // With --push the remote's tip decides (or the local tip ahead of it with kanari's commits
    // alone), fetched first, under the lock, as every fetch is.
    let lock = args.push.then(|| git.repo.lock(LOCK_WAIT, ws.quiet)).transpose()?;
    let mut upstream = args.push.then(|| Upstream::fetch(git, &branch.name, &args.remote, &creds)).transpose()?;
    let mut notes = Vec::new();
    let mut intents = run.intents(upstream.as_ref().map_or(branch.tip, |u| u.base), selection, &mut notes);
    if let (Ok(intents), Some(u), Intent::FromHere) = (&mut intents, &upstream, intent) {
        intents.moves.retain(|(id, _)| match u.moved.iter().find(|(moved, _)| moved == id) {
            Some((_, subject)) => {
                notes.push(Note::Stay(format!("{id}: nothing to do: someone else moved it first (`{subject}`)")));
                false
            }
            None => true,
        });
    }
    if let Ok(intents) = &intents {
        check(&intents.moves.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>())?;
    }
    print_notes(ws, &notes);
    let mut intents = intents?;
    *broken = std::mem::take(&mut intents.broken);
    let code = |held: Option<Code>| {
        held.into_iter().chain(intents.held).max_by_key(|c| *c == Code::Failed).unwrap_or(Code::Ok)
    };
    if intents.moves.is_empty() && upstream.as_ref().is_none_or(|u| u.ahead.is_empty()) {
        git.refuse_uncommitted(&intents.canaries)?;
        upstream.inspect(|u| u.note_stranded(&branch.name, &args.remote));
        return Ok(code(None));
    }

    let _lock = if lock.is_some() || args.dry_run { lock } else { Some(git.repo.lock(LOCK_WAIT, ws.quiet)?) };
    // Under the lock: another kanari's files in flight are done by now, never blamed on the user.
    git.refuse_uncommitted(&intents.canaries)?;
    let mut last_reason = String::new();
    for attempt in 1..=ATTEMPTS {
        // The tip to build on: the remote's, freshly fetched, when pushing (the first attempt's
        // fetched before the intents), or the local tip ahead of it; else the branch's. A
        // branch that does not exist yet starts at the base commit.
        let upstream = match (args.push, upstream.take()) {
            (true, None) => Some(Upstream::fetch(git, &branch.name, &args.remote, &creds)?),
            (_, first) => first,
        };
        let tip = match &upstream {
            Some(u) => u.remote,
            None => git.repo.branch(Some(&branch.name), &args.remote)?.tip,
        };
        let on = upstream.as_ref().map_or(tip, |u| u.base);
        let ahead = upstream.as_ref().map_or(&[][..], |u| u.ahead.as_slice());
        let mut notes = Vec::new();
        let planned = run.plan_on(&intents, on.unwrap_or(intents.base), &mut notes);
        print_notes(ws, &notes);
        let planned = planned?;
        if planned.commits.is_empty() && ahead.is_empty() {
            upstream.inspect(|u| u.note_stranded(&branch.name, &args.remote));
            return Ok(code(planned.held));
        }
        if args.dry_run {
            for commit in &planned.commits {
                println!("would commit: {}", commit.subject);
            }
            return Ok(code(planned.held));
        }
        // An abort by the analysis that landed is what CI must hear (5), even when the clone could
        // not follow it (6): the message says both.
        let published = run.publish(&branch.name, tip, &planned, &creds, attempt).map_err(|e| {
            match (planned.exit, super::failure::kind_of(&e)) {
                (Some(Code::Aborted), Kind::Partial) => Exit { kind: Kind::Aborted, message: format!("{e:#}") }.into(),
                _ => e,
            }
        });
        match published? {
            Published::Done => {
                let pushed = if args.push { format!(" -> {}", args.remote) } else { String::new() };
                let ahead = ahead.iter().map(|c| (c.id, &c.subject));
                for (id, subject) in ahead.chain(planned.commits.iter().map(|c| (c.id, &c.subject))) {
                    say(ws, format!("[{} {}{pushed}] {subject}", branch.name, id.short()));
                }
                upstream.map_or(Ok(()), |u| u.refuse_stranded(&branch.name, &args.remote, planned.head()))?;
                return Ok(planned.exit.unwrap_or(code(planned.held)));
            }
            Published::Moved(reason) => {
                if let Some(why) = reason {
                    last_reason = format!(" (last: {why})");
                }
                backoff(attempt);
            }
        }
    }
    Err(Exit {
        kind: Kind::Outside,
        message: format!("`{}` kept moving under kanari: gave up after {ATTEMPTS} attempts{last_reason}", branch.name),
    }
    .into())
}

impl Run<'_> {
    /// The intents of a run, read from the branch tip (or HEAD, for a branch not made yet). What
    /// it has to say about the releases that stay goes to `notes`, in order.
    fn intents(&self, tip: Option<CommitId>, selection: &Selection, notes: &mut Vec<Note>) -> Result<Intents> {
        let git = &self.git;
        let base = match tip {
            Some(tip) => tip,
            None => git.repo.head_commit()?.ok_or_else(|| anyhow::anyhow!("the repository has no commit yet"))?,
        };
        let mut loaded = git.loaded_at(base, &selection.releases)?;
        // Only an abort moves a release whose spec does not load, with its last spec that did.
        let fallen = if self.intent == Intent::Wherever { &selection.releases[..] } else { &[] };
        let fallbacks = broken::fall_back(git, base, fallen, &mut loaded, notes)?;
        let canaries: Vec<Canary> = loaded.canaries.into_iter().chain(fallbacks.iter().cloned()).collect();
        let (mut moves, mut held) = (Vec::new(), None);
        for canary in &canaries {
            let committed = git.committed(Some(base), canary)?;
            match (self.decide)(canary, &committed, base, self.now)? {
                Next::Move { .. } => moves.push((canary.id(), key(committed.recorded.as_ref()))),
                Next::Stay { why } => notes.push(Note::Stay(format!("{}: nothing to do: {why}", canary.id()))),
                Next::Held(gates) => held = hold(held, notes, &canary.id(), &gates),
            }
        }
        let (selectors, broken) = (selection.releases.clone(), loaded.broken);
        Ok(Intents { base, selectors, canaries, fallbacks, broken, moves, held })
    }

    /// One attempt on `tip`: each intent decided again on what `tip` records, rendered from
    /// `tip`'s specs and templates, and committed in the object database on the commit before it.
    /// No ref moves. What it has to say goes to `notes`, in order, even when it fails part way.
    fn plan_on(&self, intents: &Intents, tip: CommitId, notes: &mut Vec<Note>) -> Result<Planned> {
        let git = &self.git;
        // Specs are read again only when the tip is not the commit they were read from.
        let tip_canaries;
        let canaries = match tip == intents.base {
            true => &intents.canaries,
            false => {
                tip_canaries =
                    broken::with_fallbacks(git.loaded_at(tip, &intents.selectors)?.canaries, &intents.fallbacks);
                &tip_canaries
            }
        };
        let renderer = git.renderer_at(tip)?;
        let mut planned = Planned { on: tip, commits: Vec::new(), held: None, exit: None };
        for (id, from) in &intents.moves {
            let Some(canary) = canaries.iter().find(|c| &c.id() == id) else {
                notes.push(Note::Stay(format!(
                    "{id}: nothing to do: the release is gone from the specs at {}",
                    tip.short()
                )));
                continue;
            };
            let parent = planned.head();
            let committed = git.committed(Some(parent), canary)?;
            let recorded = committed.recorded.as_ref();
            let moved = &key(recorded) != from;
            let now_at = recorded_stage(recorded);
            if moved && self.intent == Intent::FromHere {
                notes.push(Note::Stay(format!("{id}: nothing to do: someone else moved it first (now at {now_at})")));
                continue;
            }
            let Transition { target, verb, note, trailers, exit } =
                match (self.decide)(canary, &committed, tip, self.now)? {
                    Next::Move { to } => to,
                    Next::Stay { why } if moved => {
                        notes.push(Note::Stay(format!(
                            "{id}: nothing to do: {why} (someone else moved it first: now at {now_at})"
                        )));
                        continue;
                    }
                    Next::Stay { why } => {
                        notes.push(Note::Stay(format!("{id}: nothing to do: {why}")));
                        continue;
                    }
                    Next::Held(gates) => {
                        planned.held = hold(planned.held, notes, id, &gates);
                        continue;
                    }
                };
            let mut planned_state = plan::plan(canary, &target);
            committed.carry_into(&mut planned_state)?;
            let rendered = renderer.render(&planned_state, &canary.file)?;
            let message =
                super::message::message(canary, &committed, &target, &rendered, verb, note.as_deref(), &trailers);
            let by = git.repo.signatures(self.args.author.as_deref(), self.now)?;
            match git.repo.build_commit(Some(parent), &canary.output, &rendered.files, &message, &by, git.ws.remotes)? {
                Some(id) => {
                    planned.exit = planned.exit.or(exit);
                    planned.commits.push(NewCommit {
                        id,
                        subject: message.lines().next().unwrap_or_default().to_string(),
                        output: canary.output.clone(),
                    });
                }
                None => {
                    notes.push(Note::Stay(format!("{id}: nothing to do: the committed overlay is already that state")))
                }
            }
        }
        Ok(planned)
    }

    /// Puts an attempt's commits on the branch: a push that the remote takes only if the branch
    /// is still at `tip` (then the local clone follows), or a compare-and-swap of the local branch
    /// from `tip` (then the index and the work tree follow).
    fn publish(
        &self,
        branch: &str,
        tip: Option<CommitId>,
        planned: &Planned,
        creds: &Credentials,
        attempt: u32,
    ) -> Result<Published> {
        let (git, args) = (&self.git, self.args);
        let (head, dirs) = (planned.head(), planned.dirs());
        if args.push {
            return match git.repo.push(&args.remote, branch, head, tip, creds, git.ws.remotes)? {
                Pushed::Accepted => {
                    follow_locally(git, branch, planned.on, head, &dirs).map_err(|e| {
                        partial(format!(
                            "`{branch}` on `{}` is at {} (pushed), but the local clone could not follow: {e:#}; run `git pull`",
                            args.remote,
                            head.short()
                        ))
                    })?;
                    Ok(Published::Done)
                }
                Pushed::Moved(why) => {
                    eprintln!(
                        "`{branch}` on `{}` moved first ({why}); attempt {attempt} of {ATTEMPTS}, starting again",
                        args.remote
                    );
                    Ok(Published::Moved(Some(why)))
                }
                Pushed::Refused(why) => Err(Exit {
                    kind: Kind::Outside,
                    message: format!("the server refused the push to `{branch}` on `{}`: {why}", args.remote),
                }
                .into()),
            };
        }
        let log = format!("kanari: {}", planned.commits[0].subject);
        // The crash-safe protocol of `repo::journal`: the folders and the index reach the new
        // commit before the branch does.
        match git.repo.move_local(branch, tip, head, &dirs, &log, true).map_err(|e| stopped(branch, head, e))? {
            Moved::Done => Ok(Published::Done),
            Moved::Lost => {
                eprintln!("`{branch}` moved while kanari worked (attempt {attempt} of {ATTEMPTS}); starting again");
                Ok(Published::Moved(None))
            }
        }
    }
}

/// Says each gate that holds release `id`, a line each, and returns the run's hold code with
/// this one's: 4 when Prometheus could not answer (an outside system failed), else 3.
fn hold(held: Option<Code>, notes: &mut Vec<Note>, id: &str, gates: &[Gate]) -> Option<Code> {
    for gate in gates {
        notes.push(Note::Held(format!("{id}: held: {gate}")));
    }
    let code = match gates.iter().any(|g| matches!(g, Gate::Unavailable { .. })) {
        true => Code::Failed,
        false => Code::Gate,
    };
    Some(if held == Some(Code::Failed) { Code::Failed } else { code })
}

fn print_notes(ws: &Workspace, notes: &[Note]) {
    for note in notes {
        match note {
            Note::Stay(line) => say(ws, line.clone()),
            Note::Held(line) | Note::Warn(line) => eprintln!("{line}"),
        }
    }
}

/// After a push: the local branch (and HEAD, the index and the work tree for `dirs`) follow,
/// when they were at the commit the push built on; elsewhere, [`upstream::catch_up`].
fn follow_locally(git: &Commits, branch: &str, built_on: CommitId, pushed: CommitId, dirs: &[&Path]) -> Result<()> {
    let local = git.repo.branch(Some(branch), "origin")?.tip;
    if let Some(local) = local.filter(|l| *l != built_on || *l == pushed) {
        return upstream::catch_up(git, branch, local, built_on, pushed);
    }
    let log = "kanari: follow the push";
    if git.repo.move_local(branch, Some(built_on), pushed, dirs, log, local.is_some())? == Moved::Lost {
        eprintln!("note: the local `{branch}` moved meanwhile; update it with `git pull`");
    }
    Ok(())
}

/// The error of a local move that stopped part way, with the kind and advice that are true for
/// what it left: the commit landed (6) or not (an I/O failure, 4), the folders put right or left
/// for the next kanari command (which finishes or undoes the move from its journal).
fn stopped(branch: &str, new: CommitId, e: anyhow::Error) -> anyhow::Error {
    let Some(s) = e.downcast_ref::<MoveStopped>() else { return e };
    let dirs = s.dirs.iter().map(|d| format!("`{}`", d.display())).collect::<Vec<_>>().join(", ");
    let (kind, message) = match (s.landed, s.healed) {
        (true, true) => (Kind::Partial, format!("`{branch}` is at {} (committed): {s}; {dirs} follow it", new.short())),
        (true, false) => (
            Kind::Partial,
            format!(
                "`{branch}` is at {} (committed), but the index and work tree of {dirs} could not follow: {s}; the next kanari command brings them up to date",
                new.short()
            ),
        ),
        (false, true) => (Kind::Io, format!("nothing was committed: {s}; {dirs} are as `{branch}` has them")),
        (false, false) => (
            Kind::Io,
            format!("nothing was committed: {s}; the next kanari command puts {dirs} back as `{branch}` has them"),
        ),
    };
    Exit { kind, message }.into()
}

/// The error for a run whose commit landed but whose local clone could not follow (exit 6).
fn partial(message: String) -> anyhow::Error {
    Exit { kind: Kind::Partial, message }.into()
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

/// What identifies a recorded state for "has someone else moved it": canary, stage, approval,
/// and the transition under way (a drain, a scale-up, a version departing).
type Key = Option<Recorded>;

fn key(recorded: Option<&Recorded>) -> Key {
    recorded.map(|r| Recorded { since: None, reason: None, warming: Vec::new(), ..r.clone() })
}

fn recorded_stage(recorded: Option<&Recorded>) -> String {
    match recorded {
        Some(r) => r.stage.clone(),
        None => "nothing committed".into(),
    }
}

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
use crate::commands::git::{Committed, Git, now};
use crate::commands::{Workspace, broken, by_version};
use crate::exit::{Code, Exit};
use crate::plan::{self, Recorded, State, Step};
use crate::release::Next;
use crate::render::Rendered;
use crate::repo::{CommitId, short};
use crate::review;
use crate::spec::{Broken, Canary};
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
    /// The exit code a run that commits this transition ends with, instead of 0 (an abort by
    /// the analysis: 5).
    pub exit: Option<Code>,
}

impl Transition {
    /// A transition to `target` with no note and no trailers of its own.
    pub fn to(target: State, verb: &'static str) -> Self {
        Transition { target, verb, note: None, trailers: vec![], exit: None }
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

/// Decides, for a release and its committed overlay, at time `now`.
pub type Decide<'a> = dyn Fn(&Canary, &Committed, Timestamp) -> Result<Decision> + 'a;

/// A line a run says about one release, in the order it is found: `nothing to do` on stdout
/// (unless `--quiet`), `held` and what a person should know on stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
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
    /// Whether a gate held a release.
    held: bool,
}

/// A commit one attempt built in the object database, not yet on any branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCommit {
    pub id: CommitId,
    /// The first line of its message.
    pub subject: String,
    /// The overlay folder it changes.
    pub output: PathBuf,
}

/// One attempt on a tip: the commits to publish, one per release that moves, each on the one
/// before it, the first on `on`. A value: built without touching the remote or any ref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The commit the first new commit is built on.
    pub on: CommitId,
    pub commits: Vec<NewCommit>,
    /// Whether a gate held a release on this tip.
    pub held: bool,
    /// The exit code a committed transition asks for (an abort by the analysis).
    pub exit: Option<Code>,
}

impl Planned {
    /// The commit the branch moves to: the last one built.
    pub fn head(&self) -> CommitId {
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
    git: Git<'a>,
    args: &'a CommitArgs,
    intent: Intent,
    now: Timestamp,
    decide: &'a Decide<'a>,
}

/// Runs a committing command over the selected releases whose specs load (and, for an abort,
/// those whose last spec that loaded is in reach), then reports the others ([`broken::finish`]).
pub fn run(ws: &Workspace, selection: &Selection, args: &CommitArgs, intent: Intent, decide: &Decide) -> Result<Code> {
    let mut broken = Vec::new();
    let result = attempts(ws, selection, args, intent, decide, &mut broken);
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
    broken: &mut Vec<Broken>,
) -> Result<Code> {
    let run = Run { git: Git::open(ws)?, args, intent, now: now()?, decide };
    let git = &run.git;
    let branch = git.repo.branch(args.branch.as_deref(), &args.remote)?;
    let mut notes = Vec::new();
    let intents = run.intents(branch.tip, selection, &mut notes);
    print_notes(ws, &notes);
    let mut intents = intents?;
    *broken = std::mem::take(&mut intents.broken);
    let code = |held: bool| if held || intents.held { Code::Gate } else { Code::Ok };
    if intents.moves.is_empty() {
        git.refuse_uncommitted(&intents.canaries)?;
        return Ok(code(false));
    }

    let creds = Credentials::from_env();
    let _lock = if args.dry_run { None } else { Some(git.repo.lock(LOCK_WAIT, ws.quiet)?) };
    // Under the lock: another kanari's files in flight are done by now, never blamed on the user.
    git.refuse_uncommitted(&intents.canaries)?;
    let mut last_reason = String::new();
    for attempt in 1..=ATTEMPTS {
        // The tip to build on: the remote's, freshly fetched, when pushing; else the branch's.
        // A branch that does not exist yet starts at the base commit.
        let tip = match args.push {
            true => git.repo.fetch(&args.remote, &branch.name, &creds)?,
            false => git.repo.branch(Some(&branch.name), &args.remote)?.tip,
        };
        let mut notes = Vec::new();
        let planned = run.plan_on(&intents, tip.unwrap_or(intents.base), &mut notes);
        print_notes(ws, &notes);
        let planned = planned?;
        if planned.commits.is_empty() {
            return Ok(code(planned.held));
        }
        if args.dry_run {
            for commit in &planned.commits {
                println!("would commit: {}", commit.subject);
            }
            return Ok(code(planned.held));
        }
        match run.publish(&branch.name, tip, &planned, &creds, attempt)? {
            Published::Done => {
                let pushed = if args.push { format!(" -> {}", args.remote) } else { String::new() };
                for commit in &planned.commits {
                    say(ws, format!("[{} {}{pushed}] {}", branch.name, short(commit.id), commit.subject));
                }
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
        code: Code::Conflict,
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
        let (mut moves, mut held) = (Vec::new(), false);
        for canary in &canaries {
            let committed = git.committed(Some(base), canary)?;
            match (self.decide)(canary, &committed, self.now)? {
                Next::Move { .. } => moves.push((canary.id(), key(committed.recorded.as_ref()))),
                Next::Stay { why } => notes.push(Note::Stay(format!("{}: nothing to do: {why}", canary.id()))),
                Next::Held(gate) => {
                    held = true;
                    notes.push(Note::Held(format!("{}: held: {gate}", canary.id())));
                }
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
        let mut planned = Planned { on: tip, commits: Vec::new(), held: false, exit: None };
        for (id, from) in &intents.moves {
            let Some(canary) = canaries.iter().find(|c| &c.id() == id) else {
                notes.push(Note::Stay(format!(
                    "{id}: nothing to do: the release is gone from the specs at {}",
                    short(tip)
                )));
                continue;
            };
            let parent = planned.head();
            let committed = git.committed(Some(parent), canary)?;
            let recorded = committed.recorded.as_ref();
            let moved = &key(recorded) != from;
            let now_at = describe(recorded);
            if moved && self.intent == Intent::FromHere {
                notes.push(Note::Stay(format!("{id}: nothing to do: someone else moved it first (now at {now_at})")));
                continue;
            }
            let Transition { target, verb, note, trailers, exit } = match (self.decide)(canary, &committed, self.now)? {
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
                Next::Held(gate) => {
                    planned.held = true;
                    notes.push(Note::Held(format!("{id}: held: {gate}")));
                    continue;
                }
            };
            let mut planned_state = plan::plan(canary, &target);
            committed.carry_into(&mut planned_state)?;
            let rendered = renderer.render(&planned_state, &canary.file)?;
            let message = message(canary, &committed, &target, &rendered, verb, note.as_deref(), &trailers);
            let by = git.repo.signatures(self.args.author.as_deref(), self.now)?;
            match git.repo.build_commit(Some(parent), &canary.output, &rendered.files, &message, &by)? {
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
            return match git.repo.push(&args.remote, branch, head, tip, creds)? {
                Pushed::Accepted => {
                    follow_locally(git, branch, planned.on, head, &dirs).map_err(|e| {
                        partial(format!(
                            "`{branch}` on `{}` is at {} (pushed), but the local clone could not follow: {e:#}; run `git pull`",
                            args.remote,
                            short(head)
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
                    code: Code::Conflict,
                    message: format!("the server refused the push to `{branch}` on `{}`: {why}", args.remote),
                }
                .into()),
            };
        }
        let log = format!("kanari: {}", planned.commits[0].subject);
        // Every lock the local clone needs, before the branch moves: a lock that cannot be had
        // stops the run here, with nothing committed.
        let local = git.repo.prepare_move(branch, tip)?;
        if !git.repo.move_branch(branch, tip, head, &log)? {
            drop(local);
            eprintln!("`{branch}` moved while kanari worked (attempt {attempt} of {ATTEMPTS}); starting again");
            return Ok(Published::Moved(None));
        }
        git.repo.sync_worktree(local, Some(planned.on), head, &dirs).map_err(|e| {
            partial(format!(
                "`{branch}` is at {} (committed), but the work tree could not follow: {e:#}; the index matches the commit, so `git checkout -- {}` brings the files back",
                short(head),
                dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" ")
            ))
        })?;
        Ok(Published::Done)
    }
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
/// when they were at the commit the push built on. A clone that had other commits is left alone.
fn follow_locally(git: &Git, branch: &str, built_on: CommitId, pushed: CommitId, dirs: &[&Path]) -> Result<()> {
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

/// What identifies a recorded state for "has someone else moved it": canary, stage, approval,
/// and the transition under way (a drain, a scale-up, a version departing).
type Key = Option<[Option<String>; 6]>;

fn key(recorded: Option<&Recorded>) -> Key {
    recorded.map(|r| {
        [&r.canary, &Some(r.stage.clone()), &r.approved, &r.holding, &r.toward, &r.departing].map(Clone::clone)
    })
}

fn describe(recorded: Option<&Recorded>) -> String {
    match recorded {
        Some(r) => r.stage.clone(),
        None => "nothing committed".into(),
    }
}

/// `reviews: promote 90-10 -> 50-50 (stage 3 of 4)`, a body that says what the commit is for
/// when it is a step on the way (a scale-up, a drain, a settle) and the traffic and pod changes
/// read from the committed and the new overlay, and the `Kanari-Canary` and `Kanari-Stage`
/// trailers.
fn message(
    canary: &Canary,
    from: &Committed,
    to: &State,
    rendered: &Rendered,
    verb: &str,
    note: Option<&str>,
    trailers: &[(&str, String)],
) -> String {
    let recorded = from.recorded.as_ref();
    let to_name = match &to.transit {
        Some(t) => t.record.stage.clone(),
        None => to.step.name(canary).to_string(),
    };
    let from_name = recorded.map_or("(new)", |r| r.stage.as_str());
    let purpose = purpose(canary, recorded, to);
    // An abort's traffic move is the abort itself: its subject says no more than that.
    let purpose_in_subject =
        purpose.as_ref().filter(|_| !(verb == "abort" && to.holding.is_some() && from_name != to_name));
    let mut subject = match (verb, purpose_in_subject) {
        (_, Some((short, _))) if from_name == to_name => format!("{}: {verb} {from_name}: {short}", canary.name),
        (_, Some((short, _))) if to.transit.is_some() => {
            format!("{}: {verb} {from_name} -> {to_name}: {short}", canary.name)
        }
        ("promote", _) => format!("{}: promote {from_name} -> {to_name}", canary.name),
        (_, Some((short, _))) => format!("{}: {verb} {from_name}: {short}", canary.name),
        _ => format!("{}: {verb} {from_name}", canary.name),
    };
    if let Step::Stage(i) = to.step
        && verb == "promote"
        && from_name != to_name
        && to.transit.is_none()
    {
        subject.push_str(&format!(" (stage {} of {})", i + 1, canary.stages.len()));
    }
    let mut body = Vec::new();
    if let Some(note) = note {
        body.push(note.to_string());
    }
    if let Some((_, long)) = purpose {
        body.push(long);
    }
    let after_files = rendered.files.iter().map(|(k, v)| (k.into(), v.clone())).collect();
    let after = review::facts(&after_files);
    let before = recorded.map(|_| review::facts(&from.files));
    body.extend(traffic_sentences(before.as_ref().map(|b| b.traffic.as_slice()), &after.traffic));
    match (before.as_ref().and_then(|b| b.mirror.as_ref()), &after.mirror) {
        (_, Some(mirror)) => body.push(format!("{mirror}.")),
        (Some(mirror), None) => body.push(format!("{mirror} stops.")),
        (None, None) => {}
    }
    let before_matches = before.as_ref().map_or(&[][..], |b| b.matches.as_slice());
    for m in after.matches.iter().filter(|m| !before_matches.contains(m)) {
        body.push(format!("{}.", match_sentence(m, "go to")));
    }
    for m in before_matches.iter().filter(|m| !after.matches.contains(m)) {
        body.push(format!("{}.", match_sentence(m, "no longer go to")));
    }
    body.extend(pod_sentences(before.as_ref().map(|b| b.pods.as_slice()), &after.pods));
    let more: String = trailers.iter().map(|(key, value)| format!("{key}: {value}\n")).collect();
    format!("{subject}\n\n{}\n\nKanari-Canary: {}\nKanari-Stage: {to_name}\n{more}", body.join("\n"), canary.id())
}

/// What a commit on the way between two states is for: a short form for the subject and a
/// sentence for the body. None for a plain move from one state to the next.
fn purpose(canary: &Canary, from: Option<&Recorded>, to: &State) -> Option<(String, String)> {
    let warmup = crate::spec::format_duration(canary.warmup);
    if !to.rerolled.is_empty() {
        let versions = to.rerolled.join(", ");
        return Some((
            format!("re-roll {versions} in place"),
            format!(
                "step: a new image under the same version: the pods of {versions} are replaced where they stand, with no traffic moved; the next promote moves traffic, after the warmup of {warmup}"
            ),
        ));
    }
    if let Some(t) = &to.transit {
        let r = &t.record;
        return Some(match (&r.toward, &r.departing, r.stage.as_str()) {
            (Some(_), _, _) => (
                format!("scale up {} to take all the traffic", canary.stable.version),
                format!(
                    "step: {} scales up to take all the traffic before it moves (the next promote moves it, after the warmup of {warmup})",
                    canary.stable.version
                ),
            ),
            (None, Some(leaving), _) => (
                format!("all traffic to {}, {leaving} departing", canary.stable.version),
                format!(
                    "step: all traffic moves to {}; {leaving} keeps its pods until it has drained (the next promote removes it, after the warmup of {warmup})",
                    canary.stable.version
                ),
            ),
            _ => (
                format!(
                    "traffic back to {}, draining {}",
                    canary.stable.version,
                    r.canary.as_deref().unwrap_or("the old canary")
                ),
                format!(
                    "step: {}; all traffic moves back to {}, and the old canary keeps its pods until it has drained (the next promote replaces it, after the warmup of {warmup})",
                    r.reason.as_deref().unwrap_or("the canary changed"),
                    canary.stable.version
                ),
            ),
        });
    }
    if let Some(t) = to.toward {
        return Some((
            match t {
                Step::Aborted => format!("scale up {} before the traffic moves back", canary.stable.version),
                _ => format!("scale up for {}", t.name(canary)),
            },
            format!(
                "step: pods for `{}` come up before any traffic moves onto them; the traffic moves with the next promote{}, after the warmup of {warmup}",
                t.name(canary),
                if t == Step::Aborted { " or abort" } else { "" }
            ),
        ));
    }
    if let Some(h) = to.holding {
        return Some((
            format!("traffic moved, draining {}", h.name(canary)),
            format!(
                "step: the traffic moves now; the pods the traffic of `{}` needed stay until it has drained (the next promote{} scales them down, after the warmup of {warmup})",
                h.name(canary),
                if to.step == Step::Aborted { " or abort" } else { "" }
            ),
        ));
    }
    if let Some(leaving) = from.and_then(|r| r.departing.as_deref()) {
        return Some((
            format!("remove {leaving} after the traffic moved"),
            format!("step: all traffic moved to {} in the commit before; {leaving} goes now", canary.stable.version),
        ));
    }
    let settled = from.is_some_and(|r| r.holding.is_some() && r.stage == to.step.name(canary));
    settled.then(|| {
        (
            "scale down after the traffic moved".to_string(),
            "step: the traffic moved in the commit before; the pods it no longer needs go now".to_string(),
        )
    })
}

/// `requests with end-user=jason go to v2`, from a match as [`review::Facts`] reads it
/// (`end-user=jason -> v2`).
fn match_sentence(m: &str, verb: &str) -> String {
    match m.rsplit_once(" -> ") {
        Some((when, to)) => format!("requests with {when} {verb} {to}"),
        None => format!("requests with {m} {verb} the canary"),
    }
}

/// One sentence per version: `v1 goes from 90% to 50% of the traffic.`, `v2 keeps 10% of the
/// traffic.`, `v3 takes 40% of the traffic.`, `v3 no longer takes traffic.`.
fn traffic_sentences(before: Option<&[(String, u64)]>, after: &[(String, u64)]) -> Vec<String> {
    let sides: Vec<&[(String, u64)]> = [Some(after), before].into_iter().flatten().collect();
    by_version(&sides)
        .into_iter()
        .map(|(v, values)| match (values[0], before.map(|_| values[1])) {
            (Some(new), None | Some(None)) => format!("{v} takes {new}% of the traffic."),
            (Some(new), Some(Some(old))) if old == new => format!("{v} keeps {new}% of the traffic."),
            (Some(new), Some(Some(old))) => format!("{v} goes from {old}% to {new}% of the traffic."),
            (None, _) => format!("{v} no longer takes traffic."),
        })
        .collect()
}

/// One sentence per version: `v2 scales from 1 to 5 pods.`, `v1 keeps 10 pods.`, `v2 starts
/// with 5 pods.`, `v2 is removed.` (a count is a number or `hpa 2-10`).
fn pod_sentences(before: Option<&[(String, String)]>, after: &[(String, String)]) -> Vec<String> {
    let sides: Vec<&[(String, String)]> = [Some(after), before].into_iter().flatten().collect();
    by_version(&sides)
        .into_iter()
        .map(|(v, values)| match (values[0], before.map(|_| values[1])) {
            (Some(new), None | Some(None)) => format!("{v} starts with {}.", pods(new)),
            (Some(new), Some(Some(old))) if old == new => format!("{v} keeps {}.", pods(new)),
            (Some(new), Some(Some(old))) => match (plan::PodCount::read(old), plan::PodCount::read(new)) {
                (Some(plan::PodCount::Replicas(_)), Some(plan::PodCount::Replicas(_))) => {
                    format!("{v} scales from {old} to {}.", pods(new))
                }
                _ => format!("{v} scales from {} to {}.", pods(old), pods(new)),
            },
            (None, _) => format!("{v} is removed."),
        })
        .collect()
}

/// A version's pods in words: `1 pod`, `5 pods`, `2 to 10 pods (autoscaled)`.
fn pods(text: &str) -> String {
    match plan::PodCount::read(text) {
        Some(plan::PodCount::Replicas(1)) => "1 pod".into(),
        Some(plan::PodCount::Hpa { min, max }) => format!("{min} to {max} pods (autoscaled)"),
        _ => format!("{text} pods"),
    }
}

#[cfg(test)]
mod tests {
    use super::{match_sentence, pod_sentences, traffic_sentences};

    #[test]
    fn changes_read_as_one_sentence_per_version() {
        let pair = |v: &str, x: u64| (v.to_string(), x);
        let before = [pair("v1", 90), pair("v2", 10)];
        let after = [pair("v1", 50), pair("v2", 10), pair("v3", 40)];
        assert_eq!(
            traffic_sentences(Some(&before), &after),
            ["v1 goes from 90% to 50% of the traffic.", "v2 keeps 10% of the traffic.", "v3 takes 40% of the traffic."]
        );
        assert_eq!(traffic_sentences(Some(&after), &before)[2], "v3 no longer takes traffic.");
        let pods = |v: &str, x: &str| (v.to_string(), x.to_string());
        let before = [pods("v1", "10"), pods("v2", "1")];
        let after = [pods("v1", "10"), pods("v2", "5"), pods("v3", "hpa 2-10")];
        assert_eq!(
            pod_sentences(Some(&before), &after),
            ["v1 keeps 10 pods.", "v2 scales from 1 to 5 pods.", "v3 starts with 2 to 10 pods (autoscaled)."]
        );
        assert_eq!(pod_sentences(Some(&after), &before)[2], "v3 is removed.");
        assert_eq!(pod_sentences(None, &before), ["v1 starts with 10 pods.", "v2 starts with 1 pod."]);
        assert_eq!(match_sentence("end-user=jason -> v2", "go to"), "requests with end-user=jason go to v2");
    }
}

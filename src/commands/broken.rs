//! Specs that do not load, for the commands that go on without them (`promote`, `approve`,
//! `abort`, `status`): one broken spec never holds another release back. Each release whose
//! spec loads is judged and moved as usual; the problems of the others are printed at the end
//! of the run, after its commits, as `lint` prints them, and the run exits with the graver of
//! its own code and 2 ([`crate::exit::Code::worst`]).
//!
//! An abort is the one move that needs no spec that loads now: the committed overlay was
//! rendered from the spec as it was then, so `abort` takes the release's last spec that loaded
//! ([`fall_back`]) and moves its overlay as any abort does.

use anyhow::Result;

use crate::commands::commits::Commits;
use crate::commands::moves::Note;
use crate::exit::Code;
use crate::repo::CommitId;
use crate::spec::{self, Broken, Canary, Loaded};

/// How many commits back from the branch tip `abort` looks for a spec of a release that loads.
pub(super) const REACH: usize = 500;

/// Ends a run that went on without the releases `broken` holds back: their problems on stderr,
/// after everything the run said, and the graver of the run's code and 2. A failed run ends as
/// it would have, the problems printed before its error: the codes of errors (2, 4, 5, 6) are
/// none less grave than 2.
pub(super) fn finish(broken: &[Broken], result: Result<Code>) -> Result<Code> {
    if broken.is_empty() {
        return result;
    }
    eprint!("{}", report(broken));
    result.map(|code| code.worst(Code::BadInput))
}

/// What a run says of the specs that do not load: for each, the releases it holds back (or the
/// file, when it names none), then its problems as `lint` prints them (each once: a problem that
/// holds back two releases is printed under the first), and a count at the end.
pub(super) fn report(broken: &[Broken]) -> String {
    let mut out = String::new();
    let mut printed: Vec<&crate::problem::Problem> = Vec::new();
    for b in broken {
        match (&b.ids[..], b.problems.0.first()) {
            ([], Some(first)) => out.push_str(&format!(
                "`{}`: skipped: the file does not load, so the releases it defines are not known\n",
                first.location.file.display()
            )),
            (ids, _) => out.push_str(&format!("{}: skipped for these problems:\n", ids.join(", "))),
        }
        for problem in &b.problems.0 {
            match printed.contains(&problem) {
                true => out.push_str(&format!("see above: {}\n", problem.headline())),
                false => {
                    out.push_str(&format!("error: {problem}\n"));
                    printed.push(problem);
                }
            }
        }
    }
    let count = printed.len();
    out.push_str(&format!("{count} problem{} found\n", if count == 1 { "" } else { "s" }));
    out
}

/// For `abort`: each release a selector names whose spec does not load at `tip`, with the last
/// spec of it that loaded within [`REACH`] commits ([`Commits::last_loaded`]). The problems that
/// held it back leave `loaded.broken`, and a note tells which spec the abort uses. A
/// release that no commit in reach loads stays broken; a selector is looked for only when a
/// problem could be the reason it names no release that loads (a problem that names it, or a
/// file that cannot be read as documents).
pub(super) fn fall_back(
    git: &Commits,
    tip: CommitId,
    selectors: &[String],
    loaded: &mut Loaded,
    notes: &mut Vec<Note>,
) -> Result<Vec<Canary>> {
    let mut found: Vec<Canary> = Vec::new();
    for selector in selectors {
        let involved = |b: &Broken| b.ids.is_empty() || b.ids.iter().any(|id| spec::selects_id(selector, id));
        if loaded.canaries.iter().any(|c| c.is_named(selector)) || !loaded.broken.iter().any(involved) {
            continue;
        }
        let Some((commit, canary)) = git.last_loaded(tip, selector, REACH)? else { continue };
        let id = canary.id();
        if found.iter().any(|c| c.id() == id) {
            continue;
        }
        let own = |b: &Broken| {
            b.ids.contains(&id) || (b.ids.is_empty() && b.problems.0.iter().any(|p| p.location.file == canary.file))
        };
        // Renamed as well as broken: a file no one can name may be where it went.
        let own: &dyn Fn(&Broken) -> bool = match loaded.broken.iter().any(own) {
            true => &own,
            false => &|b: &Broken| b.ids.is_empty(),
        };
        let (theirs, rest): (Vec<Broken>, Vec<Broken>) = std::mem::take(&mut loaded.broken).into_iter().partition(own);
        loaded.broken = rest;
        let errors: Vec<String> = theirs.iter().flat_map(|b| &b.problems.0).map(|p| p.headline()).collect();
        let at = match git.repo.head_commit()? {
            Some(head) if head == tip => "HEAD".to_string(),
            _ => tip.short(),
        };
        notes.push(Note::Warn(format!(
            "{id}: the spec does not load at {at} ({}); aborting with the spec of {}, the last commit where it loaded",
            errors.join("; "),
            commit.short()
        )));
        found.push(canary);
    }
    Ok(found)
}

/// The releases another tip's specs define, with those of `fallbacks` that it does not load.
pub(super) fn with_fallbacks(mut canaries: Vec<Canary>, fallbacks: &[Canary]) -> Vec<Canary> {
    let missing: Vec<Canary> =
        fallbacks.iter().filter(|f| !canaries.iter().any(|c| c.id() == f.id())).cloned().collect();
    canaries.extend(missing);
    canaries
}

//! `kanari analyze`, and the analysis `promote` and `status` share: which releases are judged
//! now ([`window`]), the Prometheus they ask ([`client`]), and the checks run against it
//! ([`judge_all`]: each release's queries in turn, releases side by side on a bounded number
//! of connections, so one slow release does not hold the others up).
//!
//! A release is judged while its committed state is a stage that sends the canary traffic (a
//! weight, a match or a mirror), once the stage's warmup has passed; the window is the stage's
//! age and the time is `now`.
//!
//! Where the token and the headers go: to `--prometheus`, else to the spec's URL when the spec
//! is trusted. `promote`, `status` and `analyze` read the specs of a commit of the branch they
//! run on, which is; `diff` reads the work tree, a pull request's head, and asks only the
//! Prometheus its base's specs name ([`answers_trusting`]).
//!
//! JSON (`--format json`): an array with one object per release judged: `name`, `stage`,
//! `window` (`1800s`) and `checks`: objects with `name`, `verdict` (`pass`, `fail`,
//! `inconclusive`), `value` (or null), `bound`, `detail`, `requests` and `window`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::analysis::{self, Outcome, Window};
use crate::cli::{AnalyzeArgs, AnalyzeFormat};
use crate::commands::Workspace;
use crate::commands::commits::{Commits, now};
use crate::exit::{Code, Exit, Kind};
use crate::plan::{self, Recorded, Step};
use crate::prometheus::{self, Client};
use crate::release::{self, Check, Evidence, Observed, Position};
use crate::secret;
use crate::spec::{Canary, MetricKind, OnFailure};
use crate::stats::Verdict;

/// Releases judged at once, at most.
const CONNECTIONS: usize = 8;

/// The window a release is judged over now, when it is: its committed state is a stage that
/// sends the canary traffic, and the stage's warmup has passed.
pub(crate) fn window<'a>(canary: &'a Canary, recorded: Option<&Recorded>, now: Timestamp) -> Option<Window<'a>> {
    canary.analysis.as_ref()?;
    let r = recorded?;
    let Ok(Position::At(Step::Stage(i))) = release::position(canary, Some(r)) else { return None };
    if r.toward.is_some() || plan::need(canary, Step::Stage(i)).canary == 0 {
        return None;
    }
    let since = r.since?;
    if now < since + SignedDuration::from_secs(canary.warmup.as_secs() as i64) {
        return None;
    }
    let version = canary.canary.as_ref()?.version.as_str();
    let stage = &canary.stages[i];
    let matched = !stage.matches.is_empty();
    Some(Window { canary, version, weight: stage.weight, matched, mirror: stage.mirror, since, now })
}

/// The Prometheus a release's analysis asks: `--prometheus` (or KANARI_PROMETHEUS_URL; `{cluster}`
/// in it is filled in for each instance of a fleet), else the spec's URL (a fleet's instance:
/// its cluster's, see `spec::Canary::instance`); a bearer token from KANARI_PROMETHEUS_TOKEN. The spec is trusted: the
/// callers read it from a commit of the branch they run on, or, when the specs are a pull
/// request's, ask only the releases [`untrusted`] lets through ([`answers_trusting`]).
pub(crate) fn client(ws: &Workspace, canary: &Canary) -> Result<Client> {
    let spec_url = canary.analysis.as_ref().and_then(|a| a.prometheus.clone());
    // `--prometheus` with `{cluster}` names each instance's of a fleet.
    let cluster = |url: String| match &canary.fleet {
        Some(member) => url.replace(crate::spec::CLUSTER, &member.cluster),
        None => url,
    };
    let Some(url) = ws.prometheus.clone().map(cluster).or(spec_url) else {
        return Err(Exit {
            kind: Kind::BadInput,
            message: format!(
                "release `{}` has an analysis but no Prometheus: set analysis.prometheus in `{}`, or pass --prometheus URL",
                canary.id(),
                canary.file.display()
            ),
        }
        .into());
    };
    let token = std::env::var("KANARI_PROMETHEUS_TOKEN").ok().filter(|t| !t.is_empty());
    let deadline = ws.prometheus_deadline;
    Ok(Client::new(&url, token, ws.prometheus_headers.clone()).until(deadline.at, deadline.timeout))
}

/// The analysis of the windows that share `client`, all at the same `now`: one query per
/// measure for them all ([`analysis::ask`]), then each check of a spec's own (releases side by
/// side on at most [`CONNECTIONS`] threads), then each verdict. A Prometheus that fails fails
/// every window here (its [`prometheus::Error`] in each window's error: exit 4); a query of the
/// spec's own that Prometheus refuses, or that does not return one number, is an error at the
/// check's line (exit 2).
fn judge_group(client: &Client, windows: &[&Window]) -> Vec<Result<Vec<Outcome>>> {
    let Some(now) = windows.first().map(|w| w.now) else { return Vec::new() };
    let owned: Vec<Window> = windows.iter().map(|w| (*w).clone()).collect();
    let spans = analysis::ask::Spans::of(&owned);
    let unreachable = |e: &prometheus::Error| -> Vec<Result<Vec<Outcome>>> {
        owned.iter().map(|w| Err(failed_for(w.canary, e.clone()))).collect()
    };
    // The measures' queries side by side: Prometheus runs each on one core.
    let requests = spans.requests();
    QUERIES.fetch_add(requests.len(), Ordering::Relaxed);
    let asked: Vec<Result<Vec<prometheus::Series>, prometheus::Error>> = std::thread::scope(|scope| {
        let asking: Vec<_> = requests.iter().map(|r| scope.spawn(|| client.instant(&r.promql, now))).collect();
        asking.into_iter().map(|h| h.join().expect("a query's thread does not panic")).collect()
    });
    // Of several failures, a refusal of the credentials says best what to do.
    let failed = |credentials: bool| {
        asked
            .iter()
            .find_map(|a| a.as_ref().err().filter(|e| matches!(e, prometheus::Error::Credentials(_)) == credentials))
    };
    if let Some(e) = failed(true).or_else(|| failed(false)) {
        return unreachable(e);
    }
    let answers: Vec<_> = requests.iter().map(|r| r.measure).zip(asked.into_iter().flatten()).collect();
    let readings = spans.read(&owned, &answers);
    let at = |metric: &crate::spec::Metric, message: String| -> anyhow::Error {
        Exit { kind: Kind::BadInput, message: metric.at.problem(message).to_string() }.into()
    };
    // The checks of the spec's own, each window's in turn, windows side by side.
    let next = AtomicUsize::new(0);
    let own: Mutex<Vec<Option<Result<OwnAnswers>>>> = Mutex::new(owned.iter().map(|_| None).collect());
    let ask_own = |w: &Window| -> Result<OwnAnswers> {
        let a = w.canary.analysis.as_ref().expect("a window implies an analysis");
        let mut out = Vec::new();
        for metric in &a.metrics {
            let MetricKind::Query(template) = &metric.kind else {
                out.push(None);
                continue;
            };
            let promql = analysis::render(template, w, metric).map_err(|e| at(metric, e.to_string()))?;
            QUERIES.fetch_add(1, Ordering::Relaxed);
            let answer = client.instant(&promql, w.now).map_err(|e| -> anyhow::Error {
                match e {
                    prometheus::Error::Query(why) => at(metric, format!("check `{}`: {why}", metric.name)),
                    e => failed_for(w.canary, e),
                }
            })?;
            out.push(Some(answer));
        }
        Ok(out)
    };
    let asks: Vec<usize> = (0..owned.len())
        .filter(|&i| {
            let a = owned[i].canary.analysis.as_ref().expect("a window implies an analysis");
            a.metrics.iter().any(|m| matches!(m.kind, MetricKind::Query(_)))
        })
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..CONNECTIONS.min(asks.len()) {
            scope.spawn(|| {
                while let Some(&i) = asks.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let result = ask_own(&owned[i]);
                    own.lock().expect("no worker panics holding the lock")[i] = Some(result);
                }
            });
        }
    });
    let own = own.into_inner().expect("the workers are done");
    owned
        .iter()
        .zip(readings)
        .zip(own)
        .map(|((w, reading), own)| {
            let own = own.unwrap_or_else(|| Ok(Vec::new()))?;
            let a = w.canary.analysis.as_ref().expect("a window implies an analysis");
            a.metrics
                .iter()
                .enumerate()
                .map(|(i, metric)| {
                    let answer = own.get(i).and_then(Option::as_deref);
                    analysis::judge(w, metric, &reading, answer).map_err(|e| at(metric, e.to_string()))
                })
                .collect()
        })
        .collect()
}

/// A Prometheus that failed `canary`'s analysis, as the release's error: the typed error kept in
/// the chain, so its kind (exit 4) and its words are read from it.
fn failed_for(canary: &Canary, e: prometheus::Error) -> anyhow::Error {
    anyhow::Error::new(e).context(format!("release `{}`", canary.id()))
}

/// The answers to a release's checks of the spec's own, one per check (None for a builtin).
type OwnAnswers = Vec<Option<Vec<prometheus::Series>>>;

/// What a release's readiness query said: the pods of each Deployment, or why Prometheus could
/// not say; `Err` for a release whose Prometheus is not configured.
type Availability = Result<Result<BTreeMap<String, f64>, String>>;

/// The queries this process has sent to Prometheus (for `analyze --explain`'s last line and
/// the benchmarks).
pub(crate) static QUERIES: AtomicUsize = AtomicUsize::new(0);

/// The releases by the Prometheus they ask (its base URL): one client each, with the
/// releases' positions; `failed` gets each release whose Prometheus is not configured.
fn by_prometheus<'a>(
    ws: &Workspace,
    canaries: impl Iterator<Item = &'a Canary>,
    mut failed: impl FnMut(usize, anyhow::Error),
) -> BTreeMap<String, (Client, Vec<usize>)> {
    let mut groups: BTreeMap<String, (Client, Vec<usize>)> = BTreeMap::new();
    for (i, canary) in canaries.enumerate() {
        match client(ws, canary) {
            Ok(made) => groups.entry(made.base().to_string()).or_insert((made, Vec::new())).1.push(i),
            Err(e) => failed(i, e),
        }
    }
    groups
}

/// [`judge`] for many releases at once, each result in the order of `windows`: the releases
/// that name the same Prometheus are asked together ([`judge_group`]), one query per measure
/// for them all.
pub(crate) fn judge_all(ws: &Workspace, windows: &[Window]) -> Vec<Result<Vec<Outcome>>> {
    let mut results: Vec<Option<Result<Vec<Outcome>>>> = windows.iter().map(|_| None).collect();
    let groups = by_prometheus(ws, windows.iter().map(|w| w.canary), |i, e| results[i] = Some(Err(e)));
    for (client, members) in groups.values() {
        let group: Vec<&Window> = members.iter().map(|&i| &windows[i]).collect();
        for (&i, result) in members.iter().zip(judge_group(client, &group)) {
            results[i] = Some(result);
        }
    }
    results.into_iter().map(|r| r.expect("every window is judged")).collect()
}

/// Each release's analysis run now, in the order of `canaries` (with what each overlay
/// records and shows): `None` for a release not judged now ([`window`]), else its window and what
/// judging it gave. The releases due are judged side by side ([`judge_all`]). A release the spec
/// finishes is judged as it was before the finish ([`release::judged_as`]).
pub(crate) fn judge_each(
    ws: &Workspace,
    canaries: &[Canary],
    recorded: &[Option<Recorded>],
    observed: &[Observed],
    now: Timestamp,
) -> Vec<Option<(String, Result<Vec<Outcome>>)>> {
    let views: Vec<Cow<Canary>> =
        canaries.iter().zip(recorded).zip(observed).map(|((c, r), o)| release::judged_as(c, r.as_ref(), o)).collect();
    let windows: Vec<Option<Window>> =
        views.iter().zip(recorded).map(|(c, r)| window(c.as_ref(), r.as_ref(), now)).collect();
    let due: Vec<Window> = windows.iter().flatten().cloned().collect();
    let mut results = judge_all(ws, &due).into_iter();
    windows.into_iter().map(|w| Some((w?.promql(), results.next().expect("one result per window")))).collect()
}

/// What Prometheus says about each release, asked before anything is decided, in the order of
/// `canaries` (with what each overlay records): the checks of the releases due now
/// ([`judge_each`]) and, for every release with an analysis and a committed state, the pods its
/// Deployments have available (one query each, [`analysis::readiness_query`]). Prometheus
/// failing (unreachable, an error status) is kept in the release's [`Evidence`]; any other
/// error (a query of the wrong shape: bad input) is the release's `Err`.
pub(crate) fn evidence(
    ws: &Workspace,
    canaries: &[Canary],
    recorded: &[Option<Recorded>],
    observed: &[Observed],
    now: Timestamp,
) -> Vec<Result<Evidence>> {
    answers(ws, canaries, recorded, observed, now).into_iter().map(|a| a.map(|a| a.evidence)).collect()
}

/// A release's [`Evidence`] with the outcomes it was read from, for the views that print them
/// (`diff --analysis`): the window (`1800s`) and each check's numbers.
pub(crate) struct Answers {
    pub evidence: Evidence,
    pub judged: Option<(String, Vec<Outcome>)>,
}

/// [`evidence`], with the outcomes behind it.
pub(crate) fn answers(
    ws: &Workspace,
    canaries: &[Canary],
    recorded: &[Option<Recorded>],
    observed: &[Observed],
    now: Timestamp,
) -> Vec<Result<Answers>> {
    let judged = judge_each(ws, canaries, recorded, observed, now);
    // A Prometheus the checks could not reach is not asked again for readiness.
    let unreachable: BTreeMap<String, String> = canaries
        .iter()
        .zip(&judged)
        .filter_map(|(canary, judged)| match judged {
            Some((_, Err(e))) => {
                let why = e.downcast_ref::<prometheus::Error>()?.to_string();
                Some((client(ws, canary).ok()?.base().to_string(), why))
            }
            _ => None,
        })
        .collect();
    let asks: Vec<bool> = canaries.iter().zip(recorded).map(|(c, r)| c.analysis.is_some() && r.is_some()).collect();
    let mut available = available_all(ws, canaries, &asks, unreachable, now).into_iter();
    canaries
        .iter()
        .zip(judged)
        .zip(asks)
        .map(|((canary, judged), asked)| {
            let mut shown = None;
            let checks = match judged {
                None => None,
                Some((window, Ok(outcomes))) => {
                    let checks = outcomes.iter().map(|o| check(canary, o)).collect();
                    shown = Some((window, outcomes));
                    Some(Ok(checks))
                }
                Some((_, Err(e))) => match e.downcast_ref::<prometheus::Error>() {
                    Some(_) => Some(Err(format!("{e:#}"))),
                    None => return Err(e),
                },
            };
            let available = match asked {
                true => Some(available.next().expect("one answer per release asked")?),
                false => None,
            };
            Ok(Answers { evidence: Evidence { checks, available, fleet: None }, judged: shown })
        })
        .collect()
}

/// A Prometheus URL as the trusted side and the pull request are compared by.
fn url_key(url: &str) -> &str {
    url.trim().trim_end_matches('/')
}

/// The Prometheus URLs the trusted side's `canaries` name (`analysis.prometheus`), the only
/// ones besides `--prometheus` that receive the token and the headers.
pub(crate) fn trusted_urls<'a>(canaries: impl IntoIterator<Item = &'a Canary>) -> BTreeSet<String> {
    canaries
        .into_iter()
        .filter_map(|c| c.analysis.as_ref()?.prometheus.as_deref())
        .map(|u| url_key(u).to_string())
        .collect()
}

/// Why `canary`'s Prometheus is not asked: its spec names a URL that `trusted` lacks (a URL the
/// pull request's head introduces) and no `--prometheus` overrides it. None when it is asked.
pub(crate) fn untrusted(ws: &Workspace, canary: &Canary, trusted: &BTreeSet<String>, base: &str) -> Option<String> {
    if ws.prometheus.is_some() {
        return None;
    }
    let url = canary.analysis.as_ref()?.prometheus.as_deref()?;
    (!trusted.contains(url_key(url))).then(|| {
        format!(
            "not asked: the pull request's spec names Prometheus `{}`, which the base `{base}` does not; only a Prometheus the base or `--prometheus` names is asked (and given the token and headers)",
            secret::without_userinfo(url)
        )
    })
}

/// [`answers`] for specs that are not trusted (a pull request's work tree): a release whose
/// Prometheus is [`untrusted`] is not asked at all (no query, no token, no header: a pull
/// request could point it at a server of its author's, or at a host only the CI runner can
/// reach), and its evidence says why, as an analysis that cannot run.
pub(crate) fn answers_trusting(
    ws: &Workspace,
    canaries: &[Canary],
    recorded: &[Option<Recorded>],
    observed: &[Observed],
    now: Timestamp,
    (trusted, base): (&BTreeSet<String>, &str),
) -> Vec<Result<Answers>> {
    let why: Vec<Option<String>> = canaries.iter().map(|c| untrusted(ws, c, trusted, base)).collect();
    let asked: Vec<usize> = (0..canaries.len()).filter(|&i| why[i].is_none()).collect();
    let pick = |i: &usize| (canaries[*i].clone(), (recorded[*i].clone(), observed[*i].clone()));
    let (c, (r, o)): (Vec<Canary>, (Vec<_>, Vec<_>)) = asked.iter().map(pick).unzip();
    let mut answered = answers(ws, &c, &r, &o, now).into_iter();
    why.into_iter()
        .zip(canaries.iter().zip(recorded))
        .map(|(why, (canary, recorded))| match why {
            None => answered.next().expect("one answer per release asked"),
            Some(why) => {
                // As a Prometheus that cannot be reached: every question it would answer holds.
                let asks = canary.analysis.is_some() && recorded.is_some();
                let (checks, available) = (asks.then(|| Err(why.clone())), asks.then_some(Err(why)));
                Ok(Answers { evidence: Evidence { checks, available, fleet: None }, judged: None })
            }
        })
        .collect()
}

/// An outcome as the release's decision reads it: whether its failure aborts (`onFailure:
/// abort`, except a `traffic-share` check, whose failure says the cluster is behind Commits).
pub(crate) fn check(canary: &Canary, outcome: &Outcome) -> Check {
    let a = canary.analysis.as_ref().expect("judged releases have an analysis");
    let kind = a.metrics.iter().find(|m| m.name == outcome.name).map(|m| &m.kind);
    Check {
        name: outcome.name.clone(),
        verdict: outcome.verdict(),
        line: outcome.line(),
        aborts: a.on_failure == OnFailure::Abort && !matches!(kind, Some(MetricKind::TrafficShare)),
    }
}

/// The pods each asked release's Deployments have available, by Deployment name: one query per
/// Prometheus for all its releases ([`analysis::readiness_query`]); a Prometheus that fails is
/// the release's `Ok(Err(why))` (and is not asked again: `unreachable`, by base URL), a release
/// whose Prometheus is not configured its `Err`. One entry per `true` in `asks`.
fn available_all(
    ws: &Workspace,
    canaries: &[Canary],
    asks: &[bool],
    unreachable: BTreeMap<String, String>,
    now: Timestamp,
) -> Vec<Availability> {
    let asked: Vec<&Canary> = canaries.iter().zip(asks).filter(|(_, asked)| **asked).map(|(c, _)| c).collect();
    let mut out: Vec<Option<Availability>> = asked.iter().map(|_| None).collect();
    let groups = by_prometheus(ws, asked.iter().copied(), |i, e| out[i] = Some(Err(e)));
    for (base, (client, members)) in &groups {
        let answer = match unreachable.get(base) {
            Some(why) => Err(why.clone()),
            None => {
                QUERIES.fetch_add(1, Ordering::Relaxed);
                let query = analysis::readiness_query(members.iter().map(|&i| asked[i]));
                client.instant(&query, now).map_err(|e| e.to_string())
            }
        };
        for &i in members {
            let canary = asked[i];
            out[i] = Some(Ok(match &answer {
                Ok(series) => Ok(series
                    .iter()
                    .filter(|s| s.label("namespace") == canary.namespace)
                    .filter_map(|s| Some((s.label("deployment").to_string(), s.samples.last()?.1)))
                    .collect()),
                Err(why) => Err(format!("release `{}`: {why}", canary.id())),
            }));
        }
    }
    out.into_iter().map(|r| r.expect("every release asked has an answer")).collect()
}

/// The verdict of a release: a failure first, then inconclusive, else a pass.
pub(crate) fn overall(outcomes: &[Outcome]) -> Verdict {
    let verdicts: Vec<Verdict> = outcomes.iter().map(Outcome::verdict).collect();
    if verdicts.contains(&Verdict::Fail) {
        Verdict::Fail
    } else if verdicts.contains(&Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

pub(super) fn run(ws: &Workspace, args: &AnalyzeArgs) -> Result<Code> {
    let git = Commits::open(ws)?;
    let (head, canaries) = git.releases_at_head(&args.selection.releases)?;
    let committed = git.map_committed(head, &canaries, |_, c| Ok(c.into_observed()))?;
    let (observed, recorded): (Vec<Observed>, Vec<Option<Recorded>>) = committed.into_iter().unzip();
    if let Some(range) = &args.replay {
        return super::replay::run(ws, args, range, &canaries, &recorded);
    }
    let now = now()?;
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut code = Code::Ok;
    // A release whose checks cannot run is said, and the others are still judged; the run ends
    // with the gravest of those errors' codes.
    let mut failed: Option<Code> = None;
    let judged = judge_each(ws, &canaries, &recorded, &observed, now);
    for ((canary, r), judged) in canaries.iter().zip(&recorded).zip(judged) {
        let Some((w, result)) = judged else {
            skipped.push(canary.id());
            continue;
        };
        let outcomes = match result {
            Ok(outcomes) => outcomes,
            Err(e) => {
                eprintln!("error: {}: {e:#}", canary.id());
                let code = super::failure::kind_of(&e).code();
                failed = Some(failed.map_or(code, |f: Code| f.worst(code)));
                continue;
            }
        };
        if overall(&outcomes) != Verdict::Pass {
            code = Code::Gate;
        }
        let stage = r.as_ref().map(|r| r.stage.clone()).unwrap_or_default();
        let outcomes = match args.explain {
            true => outcomes,
            false => outcomes.into_iter().map(|o| Outcome { explain: None, ..o }).collect(),
        };
        rows.push((canary.id(), stage, w, outcomes));
    }
    match args.format {
        AnalyzeFormat::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|(name, stage, window, checks)| json!({"name": name, "stage": stage, "window": window, "checks": checks}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        AnalyzeFormat::Text => {
            for (name, stage, window, checks) in &rows {
                println!("{name}  {stage}  window {window}");
                for c in checks {
                    println!("  {}", c.line());
                    if let Some(explain) = &c.explain {
                        println!("    to pass: {explain}");
                    }
                }
            }
            if !ws.quiet && !skipped.is_empty() {
                println!("not judged now (no analysis, no canary traffic, or its warmup): {}", skipped.join(", "));
            }
            if args.explain {
                println!("{} queries sent to Prometheus", QUERIES.load(Ordering::Relaxed));
            }
        }
        AnalyzeFormat::Markdown => print!("{}", markdown(&rows)),
    }
    Ok(failed.unwrap_or(code))
}

/// The checks as a Markdown table per release, for a pull request's comment.
pub(crate) fn markdown(rows: &[(String, String, String, Vec<Outcome>)]) -> String {
    let escape = |s: &str| s.replace('|', "\\|");
    let mut out = String::from("## kanari analyze\n\n");
    for (name, stage, window, checks) in rows {
        out.push_str(&format!("### `{name}` at `{stage}`, window {window}\n\n"));
        out.push_str("| check | value | bound | verdict | detail |\n|---|---|---|---|---|\n");
        for c in checks {
            let value = c.value.map_or("-".to_string(), |v| format!("{}", (v * 1000.0).round() / 1000.0));
            out.push_str(&format!(
                "| `{}` | {value} | {} | **{}** | {} |\n",
                escape(&c.name),
                escape(&c.bound),
                c.verdict,
                escape(&c.detail)
            ));
        }
        out.push('\n');
    }
    out
}

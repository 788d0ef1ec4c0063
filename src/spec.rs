//! The first step of the pipeline: `Canary` specs read from YAML files, strictly, with the place
//! of every value kept, then validated into a [`Canary`] that the planner can trust.
//!
//! Reading is strict on purpose: unknown fields, duplicate keys, `yes`/`no` booleans, anchors and
//! aliases beyond a small budget, nesting deeper than 64, files over 1 MiB and more than
//! [`MAX_RELEASES`] releases are errors. Validation collects every problem of every file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::podschema::Node;
use crate::problem::{Place, Problem, Problems};

/// The only `apiVersion` this version of kanari reads.
pub const API_VERSION: &str = "kanari.dev/v1alpha1";
/// A spec file larger than this is refused before it is parsed.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// At most this many releases in one repository.
pub const MAX_RELEASES: usize = 10_000;
/// At most this many stages in one release.
pub const MAX_STAGES: usize = 64;
/// Regexes in matches are at most this many characters long, as Istio's admission requires.
pub const MAX_REGEX_LEN: usize = crate::re2::MAX_LEN;
/// Replica counts above this are taken for typos.
pub const MAX_REPLICAS: i64 = 10_000;
/// State names kanari uses itself; no stage may take one.
pub const RESERVED_STAGE_NAMES: [&str; 3] = ["steady", "prepare", "aborted"];

/// A release target: one validated `Canary` document.
#[derive(Clone, Debug, PartialEq)]
pub struct Canary {
    pub name: String,
    pub namespace: String,
    /// The spec file, relative to the repository root.
    pub file: PathBuf,
    /// The overlay directory, relative to the repository root.
    pub output: PathBuf,
    pub service: Service,
    pub hosts: Vec<String>,
    pub gateways: Vec<String>,
    pub stable: Version,
    pub canary: Option<Version>,
    /// Pods a version runs at 100% of traffic (without autoscaling).
    pub replicas: u32,
    pub autoscaling: Option<Autoscaling>,
    /// The pod template every version shares, as written (a mapping, possibly empty).
    pub template: Value,
    pub stages: Vec<Stage>,
    /// Where parts of the spec are written, for warnings that point at them.
    pub places: Places,
}

/// Places in a spec that later checks (warnings) point at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Places {
    /// The `autoscaling` mapping, when the spec has one.
    pub autoscaling: Option<Place>,
    /// Each container of `template.spec.containers`, in order.
    pub containers: Vec<Place>,
}

impl Canary {
    /// `namespace/name`, the name people and CI use for a release.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// True when `selector` (`name` or `namespace/name`) names this release.
    pub fn is_named(&self, selector: &str) -> bool {
        match selector.split_once('/') {
            Some((namespace, name)) => namespace == self.namespace && name == self.name,
            None => selector == self.name,
        }
    }

    pub fn stage(&self, name: &str) -> Option<(usize, &Stage)> {
        self.stages.iter().enumerate().find(|(_, s)| s.name == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub port: u16,
    /// Render the Kubernetes Service too.
    pub create: bool,
}

/// One version of the workload: the `version` label, subset name and Deployment suffix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub version: String,
    pub image: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Autoscaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub target_cpu_utilization_percentage: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    pub name: String,
    /// Percent of the traffic that no match took which goes to the canary.
    pub weight: u32,
    /// Requests matching any of these go to the canary.
    pub matches: Vec<Match>,
    pub replicas: ReplicaOverride,
    pub pause: Pause,
    /// Where the stage's name is written.
    pub at: Place,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaOverride {
    pub stable: Option<u32>,
    pub canary: Option<u32>,
}

/// What guards the way out of a stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pause {
    pub approval: bool,
    pub duration: Option<Duration>,
}

/// One match entry: every field must hold (AND); entries of a stage are ORed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Match {
    pub headers: BTreeMap<String, StringMatch>,
    pub cookie: Option<Cookie>,
    pub uri: Option<StringMatch>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StringMatch {
    Exact(String),
    Prefix(String),
    Regex(String),
}

impl StringMatch {
    /// Istio's field name for this kind of match.
    pub fn kind(&self) -> &'static str {
        match self {
            StringMatch::Exact(_) => "exact",
            StringMatch::Prefix(_) => "prefix",
            StringMatch::Regex(_) => "regex",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            StringMatch::Exact(v) | StringMatch::Prefix(v) | StringMatch::Regex(v) => v,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
}

impl Cookie {
    /// The usual regex on the `cookie` header that finds `name=value` among the cookies.
    pub fn header_regex(&self) -> String {
        format!("^(.*?;\\s*)?({}={})(;.*)?$", regex::escape(&self.name), regex::escape(&self.value))
    }
}

// ---------------------------------------------------------------------------------------------
// The YAML model, with places. Numbers are read as i64 so a wrong one gets a message about its
// range rather than serde's "invalid u32".

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawDoc {
    api_version: S<String>,
    kind: S<String>,
    metadata: RawMetadata,
    spec: RawSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetadata {
    name: S<String>,
    namespace: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSpec {
    output: Option<S<String>>,
    service: RawService,
    hosts: Option<Vec<S<String>>>,
    gateways: Option<Vec<S<String>>>,
    stable: RawVersion,
    canary: Option<RawVersion>,
    replicas: Option<S<i64>>,
    autoscaling: Option<S<RawAutoscaling>>,
    template: Option<Node>,
    #[serde(default)]
    stages: Vec<S<RawStage>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    port: S<i64>,
    create: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersion {
    version: S<String>,
    image: S<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAutoscaling {
    min_replicas: S<i64>,
    max_replicas: S<i64>,
    #[serde(rename = "targetCPUUtilizationPercentage")]
    target_cpu_utilization_percentage: S<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: S<String>,
    weight: Option<S<i64>>,
    #[serde(rename = "match", default)]
    matches: Vec<S<RawMatch>>,
    replicas: Option<RawReplicaOverride>,
    pause: Option<RawPause>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplicaOverride {
    stable: Option<S<i64>>,
    canary: Option<S<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPause {
    approval: Option<bool>,
    duration: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    // Keys with their places, so that a bad header name is shown where it is written.
    headers: Option<std::collections::HashMap<S<String>, S<RawStringMatch>>>,
    cookie: Option<RawCookie>,
    uri: Option<S<RawStringMatch>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStringMatch {
    exact: Option<S<String>>,
    prefix: Option<S<String>>,
    regex: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCookie {
    name: S<String>,
    value: S<String>,
}

// ---------------------------------------------------------------------------------------------
// Loading.

/// Which spec files a load parses.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// Every file: `lint`, and any command run without release names.
    All,
    /// The files that can define the releases these selectors (`name` or `namespace/name`)
    /// name: those whose text holds the name as a word (validation refuses a name written with
    /// YAML escapes, so every file that defines a release is among them), and the files whose
    /// releases could write into a folder that nests with theirs: a file whose `output` lines,
    /// read as text, name a folder that nests with a named release's (a file whose `output`
    /// occurrences are not all plain `output: FOLDER` lines is parsed whatever they say). A
    /// command run for one release in a repository of thousands parses a few files, not
    /// thousands, and a broken spec of another team does not hold it up (`lint` in CI is what
    /// finds that). Every file is parsed when some selector's name is in no file (so that the
    /// error lists every release) or when a named release sets an output of its own under
    /// `overlays/` (it could hold another release's default folder, which only that release's
    /// file tells).
    Named(&'a [String]),
}

/// Every release found under `specs` (relative to `root`) in the work tree, validated, in the
/// order of their files; with [`Scope::Named`], those of the files that can define them.
///
/// Problems of every file parsed are collected; any problem makes the whole load fail, so
/// nothing downstream ever sees half a repository. A specs folder that is missing, is no
/// folder, or holds no Canary document is the error [`no_specs`].
pub fn load(root: &Path, specs: &Path, scope: Scope) -> Result<std::result::Result<Vec<Canary>, Problems>> {
    let dir = root.join(specs);
    match std::fs::symlink_metadata(&dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(no_specs(specs)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_specs(specs)),
        Err(e) => return Err(e).with_context(|| format!("failed to read the specs folder `{}`", dir.display())),
    }
    let mut sources = Vec::new();
    let walk = walkdir::WalkDir::new(&dir).sort_by_file_name().follow_links(false);
    for entry in walk {
        let entry = entry.with_context(|| format!("failed to walk `{}`", dir.display()))?;
        let path = entry.path();
        if !is_spec_file(path) || entry.file_type().is_dir() {
            continue;
        }
        let shown = path.strip_prefix(root).unwrap_or(path).to_path_buf();
        let source = if entry.path_is_symlink() {
            Err(Problem::at(
                &shown,
                "",
                1,
                1,
                "a spec file may not be a symlink: specs are read from the repository alone",
            ))
        } else if !entry.file_type().is_file() {
            // A FIFO or a device would block or never end.
            Err(Problem::at(&shown, "", 1, 1, "a spec file must be a regular file"))
        } else {
            read_limited(path, &shown)
        };
        sources.push((shown, source));
    }
    parse_sources(sources, scope, &relative_specs(root, specs))
}

/// The error for a repository whose specs folder is missing, is no folder, or holds no Canary
/// document: the same sentence for the work tree and for a commit.
pub fn no_specs(specs: &Path) -> anyhow::Error {
    let shown = specs.to_string_lossy();
    anyhow::anyhow!(
        "no Canary specs in `{}/` (the specs folder; set another with --specs DIR)",
        shown.trim_end_matches('/')
    )
}

/// The specs folder relative to the repository root, normalized (`./a/` is `a`): how a commit's
/// tree and the check that no output nests with it name it.
pub fn relative_specs(root: &Path, specs: &Path) -> PathBuf {
    let rel = specs.strip_prefix(root).unwrap_or(specs);
    if rel.is_absolute() {
        // Outside the repository: no output can nest with it.
        return rel.to_path_buf();
    }
    rel.components().filter(|c| matches!(c, Component::Normal(_))).collect()
}

/// Whether a file is read as specs: `*.yaml` or `*.yml`.
pub fn is_spec_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Every release in `files` (path shown in problems → contents), as read from the specs folder
/// `specs` of a commit; [`no_specs`] when none of them holds a Canary.
pub fn load_files(
    files: BTreeMap<PathBuf, Vec<u8>>,
    specs: &Path,
    scope: Scope,
) -> Result<std::result::Result<Vec<Canary>, Problems>> {
    let sources = files
        .into_iter()
        .filter(|(path, _)| is_spec_file(path))
        .map(|(path, bytes)| {
            let source = check_size(&path, bytes);
            (path, source)
        })
        .collect();
    parse_sources(sources, scope, &relative_specs(Path::new(""), specs))
}

type Source = (PathBuf, std::result::Result<String, Problem>);

/// Whether `word` occurs in `text` with no name character (alphanumeric, `-`, `_`, `.`) on
/// either side.
fn holds_word(text: &str, word: &str) -> bool {
    let is_name = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    !word.is_empty()
        && text
            .match_indices(word)
            .any(|(at, _)| !is_name(text[..at].chars().next_back()) && !is_name(text[at + word.len()..].chars().next()))
}

/// The releases of `sources`, read as `scope` asks; [`no_specs`] when every file was read and
/// none holds a Canary.
fn parse_sources(
    sources: Vec<Source>,
    scope: Scope,
    specs: &Path,
) -> Result<std::result::Result<Vec<Canary>, Problems>> {
    if let Scope::Named(selectors) = scope
        && !selectors.is_empty()
        && let Some(found) = parse_named(&sources, selectors, specs)
    {
        return Ok(found);
    }
    match parse_every(sources, specs) {
        Ok(canaries) if canaries.is_empty() => Err(no_specs(specs)),
        found => Ok(found),
    }
}

/// The releases of the files that can define the releases `selectors` name, with the files
/// whose releases could share a folder with them (see [`Scope::Named`]); `None` when every file
/// must be read. Files that could not be read are always parsed: their problem is reported.
fn parse_named(
    sources: &[Source],
    selectors: &[String],
    specs: &Path,
) -> Option<std::result::Result<Vec<Canary>, Problems>> {
    let names: Vec<&str> = selectors.iter().map(|s| s.rsplit_once('/').map_or(s.as_str(), |(_, name)| name)).collect();
    let holds = |source: &Source, name: &str| source.1.as_ref().map_or(true, |text| holds_word(text, name));
    if !names.iter().all(|name| sources.iter().any(|source| holds(source, name))) {
        return None;
    }
    let defines: Vec<bool> = sources.iter().map(|source| names.iter().any(|name| holds(source, name))).collect();
    let pick = |keep: &dyn Fn(usize) -> bool| -> Vec<Source> {
        sources.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, source)| source.clone()).collect()
    };
    let found = parse_every(pick(&|i| defines[i]), specs);
    let Ok(canaries) = &found else { return Some(found) };
    let named: Vec<&Canary> = canaries.iter().filter(|c| selectors.iter().any(|s| c.is_named(s))).collect();
    let own_under_defaults =
        |c: &Canary| folded(&c.output).starts_with("overlays") && c.output != default_output(&c.namespace, &c.name);
    if named.iter().any(|c| own_under_defaults(c)) {
        return None;
    }
    let outputs: Vec<PathBuf> = named.iter().map(|c| folded(&c.output)).collect();
    let neighbour = |i: usize| match &sources[i].1 {
        Ok(text) if !defines[i] => match outputs_in(text) {
            Some(theirs) => theirs.iter().any(|t| outputs.iter().any(|o| t.starts_with(o) || o.starts_with(t))),
            None => true,
        },
        _ => false,
    };
    if !(0..sources.len()).any(neighbour) {
        return Some(found);
    }
    Some(parse_every(pick(&|i| defines[i] || neighbour(i)), specs))
}

/// The folders a spec file's `output` keys name (folded as [`folded`] folds them), read from its
/// lines without parsing YAML; `None` unless every occurrence of the word `output` is a line
/// `output: FOLDER` (indented by spaces, the folder plain or quoted without escapes, a comment
/// after it allowed) whose folder is a valid output. Words in other places (a comment, a value,
/// a block scalar) make it `None` or add a folder too many: either way the file is parsed
/// rather than skipped when it matters, never skipped when it could nest.
fn outputs_in(text: &str) -> Option<Vec<PathBuf>> {
    const WORD: &str = "output";
    let is_name = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let mut found = Vec::new();
    for (at, _) in text.match_indices(WORD) {
        let (before, after) = (&text[..at], &text[at + WORD.len()..]);
        if is_name(before.chars().next_back()) || is_name(after.chars().next()) {
            continue;
        }
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        if !before[line_start..].bytes().all(|b| b == b' ') {
            return None;
        }
        let line = &after[..after.find('\n').unwrap_or(after.len())];
        let value = line.strip_prefix(':')?.trim_end_matches('\r');
        if !value.is_empty() && !value.starts_with(' ') {
            return None;
        }
        let value = match value.find(" #") {
            Some(comment) => &value[..comment],
            None => value,
        }
        .trim_matches(' ');
        let unquoted = match value.as_bytes() {
            [q @ (b'\'' | b'"'), .., last] if last == q && value.len() >= 2 => &value[1..value.len() - 1],
            _ => value,
        };
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-');
        if unquoted.is_empty() || !unquoted.chars().all(plain) {
            return None;
        }
        found.push(folded(&check_output_path(unquoted).ok()?));
    }
    Some(found)
}

/// The folder a release writes to when its spec names none.
fn default_output(namespace: &str, name: &str) -> PathBuf {
    PathBuf::from("overlays").join(namespace).join(name)
}

/// Every release of `sources`, validated, with the checks across releases.
fn parse_every(sources: Vec<Source>, specs: &Path) -> std::result::Result<Vec<Canary>, Problems> {
    use rayon::prelude::*;
    let mut problems = Problems::default();
    if sources.len() > MAX_RELEASES {
        let shown = &sources[MAX_RELEASES].0;
        problems.push(Problem::at(
            shown,
            "",
            1,
            1,
            format!("more than {MAX_RELEASES} spec files; split the repository"),
        ));
        return Err(problems);
    }
    // Files parse independently, on every core; the results are put back in file order.
    let parsed: Vec<(Vec<Placed>, Problems)> = sources
        .into_par_iter()
        .map(|(shown, source)| match source {
            Ok(source) => parse_placed(&shown, &source, Some(specs)),
            Err(problem) => (Vec::new(), Problems(vec![problem])),
        })
        .collect();
    let mut placed = Vec::new();
    for (found, file_problems) in parsed {
        placed.extend(found);
        problems.0.extend(file_problems.0);
    }
    if placed.len() > MAX_RELEASES {
        let shown = placed[MAX_RELEASES].canary.file.clone();
        problems.push(Problem::at(
            &shown,
            "",
            1,
            1,
            format!("more than {MAX_RELEASES} releases; split the repository"),
        ));
    }
    cross_check(&placed, &mut problems);
    if problems.is_empty() {
        Ok(placed.into_iter().map(|p| p.canary).collect())
    } else {
        problems.sort();
        Err(problems)
    }
}

fn read_limited(path: &Path, shown: &Path) -> std::result::Result<String, Problem> {
    use std::io::Read;
    let fail = |message: String| Problem::at(shown, "", 1, 1, message);
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so that a FIFO swapped in after the walk cannot hang the run.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| fail(format!("cannot read the file: {e}")))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(fail("a spec file must be a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| fail(format!("cannot read the file: {e}")))?;
    check_size(shown, bytes)
}

/// The text of a spec file, if it is within the size limit and UTF-8.
fn check_size(shown: &Path, bytes: Vec<u8>) -> std::result::Result<String, Problem> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let message = format!("the file is larger than {} KiB, the limit for a spec file", MAX_FILE_BYTES / 1024);
        return Err(Problem::at(shown, "", 1, 1, message));
    }
    String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        Problem::at(shown, "", line, 1, "the file is not UTF-8 text")
    })
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_aliases: 64,
            max_anchors: 64,
            max_depth: 64,
            max_documents: 256,
            max_nodes: 200_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 10_000,
            max_replay_stack_depth: 8,
            max_alias_expansions_per_anchor: 64,
        },
    }
}

/// Parses and validates one file's documents. `file` is the path shown in problems.
pub fn parse_file(file: &Path, source: &str) -> (Vec<Canary>, Problems) {
    let (placed, problems) = parse_placed(file, source, None);
    (placed.into_iter().map(|p| p.canary).collect(), problems)
}

/// A validated release and the places the checks across releases point at.
struct Placed {
    canary: Canary,
    /// `metadata.name`.
    name: Place,
    /// `spec.output`, or `metadata.name` when the output is the default one.
    output: Place,
}

/// [`parse_file`], keeping places; `specs` is the specs folder (relative to the repository
/// root), which no output may nest with.
fn parse_placed(file: &Path, source: &str, specs: Option<&Path>) -> (Vec<Placed>, Problems) {
    let mut problems = Problems::default();
    // YAML ends a line at a lone CR too, where editors, `git diff` and our own `file:line`
    // count only LF: one rule for both, by refusing the lone CR (CRLF is fine).
    if let Some(at) = source.match_indices('\r').map(|(i, _)| i).find(|&i| !source[i + 1..].starts_with('\n')) {
        let before = &source[..at];
        let line = before.matches('\n').count() as u64 + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
        let message =
            "a carriage return that does not end a line with a line feed: save the file with LF (or CRLF) line ends";
        problems.push(Problem::at(file, source, line, column, message));
        return (Vec::new(), problems);
    }
    let docs: Vec<RawDoc> = match serde_saphyr::from_multiple_with_options(source, yaml_options()) {
        Ok(docs) => docs,
        Err(e) => {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
            let strangers = not_canaries(file, source);
            // The error is explained by a document that is no Canary, when it is in one.
            let in_stranger = strangers.iter().any(|(from, to, _)| (*from..*to).contains(&line));
            problems.0.extend(strangers.into_iter().map(|(_, _, problem)| problem));
            if !in_stranger {
                let tab = yaml_message(&e).contains("tab");
                problems.push(match tab_in_indentation(source, line).filter(|_| tab) {
                    Some((line, column)) => {
                        Problem::at(file, source, line, column, "a tab in indentation: YAML indents with spaces only")
                    }
                    None => Problem::at(file, source, line, column, yaml_message(&e)),
                });
            }
            return (Vec::new(), problems);
        }
    };
    let mut canaries = Vec::new();
    for doc in docs {
        let mut v = Validator { file, source, specs, problems: &mut problems };
        if let Some(canary) = v.canary(doc) {
            canaries.push(canary);
        }
    }
    (canaries, problems)
}

/// The first line at or after `from` whose indentation holds a tab, and the tab's column.
/// The YAML parser reports such a tab at the start of the scalar it was reading, often on the
/// line above; this finds the tab itself.
fn tab_in_indentation(source: &str, from: u64) -> Option<(u64, u64)> {
    source.lines().enumerate().skip(from.saturating_sub(1) as usize).find_map(|(i, line)| {
        let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        let content = !line.trim().is_empty();
        let tab = indent.find('\t')?;
        content.then_some((i as u64 + 1, indent[..tab].chars().count() as u64 + 1))
    })
}

/// The header of any YAML document: what it is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHead {
    api_version: Option<S<String>>,
    kind: Option<S<String>>,
}

/// What a document that is not a kanari `Canary` is, as a problem at its `kind`, or `None`.
fn not_a_canary(kind: &S<String>, api_version: Option<&S<String>>) -> Option<String> {
    let version = api_version.map_or("", |v| v.value.as_str());
    if kind.value == "Canary" && version == API_VERSION {
        return None;
    }
    let article = if kind.value.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" };
    let version = if version.is_empty() { "no apiVersion".to_string() } else { version.to_string() };
    Some(format!(
        "{article} {} ({version}), not a {API_VERSION} Canary: the specs folder holds Canary documents only",
        kind.value
    ))
}

/// The documents of `source` that are not Canaries, when it reads as YAML at all: for each,
/// the lines it spans (from its first known line to the next document's) and its problem.
fn not_canaries(file: &Path, source: &str) -> Vec<(u64, u64, Problem)> {
    let Ok(heads) = serde_saphyr::from_multiple_with_options::<RawHead>(source, yaml_options()) else {
        return Vec::new();
    };
    let first_line = |h: &RawHead| {
        [h.api_version.as_ref(), h.kind.as_ref()].into_iter().flatten().map(|v| v.referenced.line()).min()
    };
    let starts: Vec<u64> = heads.iter().map(|h| first_line(h).unwrap_or(u64::MAX)).collect();
    let mut found = Vec::new();
    for (i, head) in heads.iter().enumerate() {
        let Some(kind) = &head.kind else { continue };
        if let Some(message) = not_a_canary(kind, head.api_version.as_ref()) {
            let from = if i == 0 { 1 } else { starts[i] };
            let to = starts[i + 1..].iter().copied().find(|&l| l != u64::MAX).unwrap_or(u64::MAX);
            let at = &kind.referenced;
            found.push((from, to, Problem::at(file, source, at.line(), at.column(), message)));
        }
    }
    found
}

/// serde-saphyr's message without its own `at line L, column C`, which we print in front, and
/// with the names Rust gives numbers turned into words.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let text = text.lines().next().unwrap_or("").to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let text = text.trim_start_matches("error: ").to_string();
    if let Some(rest) = text.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return format!("duplicate key `{key}`: a key may appear once in a mapping");
    }
    if text.starts_with("invalid i64") {
        return "expected a whole number".to_string();
    }
    if text.contains("budget breached") || text.contains("alias") {
        return format!("{text}: specs may use at most 64 anchors and aliases and nest at most 64 levels deep");
    }
    if text.contains("recursion limit") {
        return format!("{text}: specs may nest at most 64 levels deep");
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Validation.

struct Validator<'a> {
    file: &'a Path,
    source: &'a str,
    /// The specs folder, relative to the repository root, when known.
    specs: Option<&'a Path>,
    problems: &'a mut Problems,
}

impl Validator<'_> {
    fn place<T>(&self, at: &S<T>) -> Place {
        let loc = &at.referenced;
        let p = Problem::at(self.file, self.source, loc.line(), loc.column(), "");
        Place { file: p.location.file, line: p.location.line, column: p.location.column, source_line: p.source_line }
    }

    fn problem<T>(&mut self, at: &S<T>, message: impl Into<String>) {
        let loc = &at.referenced;
        self.problems.push(Problem::at(self.file, self.source, loc.line(), loc.column(), message));
    }

    /// The place of byte `offset` of a string scalar, when the source shows it as written (plain,
    /// or quoted without escapes on one line); else the place of the scalar.
    fn inside(&self, at: &S<String>, offset: usize) -> (u64, u64) {
        let (line, column) = (at.referenced.line(), at.referenced.column());
        let text = &at.value;
        let written = self.source.lines().nth(line.saturating_sub(1) as usize).unwrap_or("");
        let rest: String = written.chars().skip(column.saturating_sub(1) as usize).collect();
        let quote = match rest.chars().next() {
            Some('\'') if !text.contains('\'') => 1,
            Some('"') if !text.contains(['"', '\\']) => 1,
            _ => 0,
        };
        let shown = rest.get(quote..).is_some_and(|r| r.starts_with(text.as_str()));
        match shown && text.is_char_boundary(offset) {
            true => (line, column + quote as u64 + text[..offset].chars().count() as u64),
            false => (line, column),
        }
    }

    /// Checks `value` against a predicate; on failure records `message` at its place.
    fn check<T>(&mut self, at: &S<T>, ok: bool, message: impl FnOnce() -> String) -> bool {
        if !ok {
            self.problem(at, message());
        }
        ok
    }

    fn number(&mut self, at: &S<i64>, what: &str, min: i64, max: i64) -> Option<u32> {
        let v = at.value;
        if self.check(at, (min..=max).contains(&v), || format!("{what} must be from {min} to {max}, got {v}")) {
            Some(v as u32)
        } else {
            None
        }
    }

    fn canary(&mut self, doc: RawDoc) -> Option<Placed> {
        let before = self.problems.len();
        if let Some(message) = not_a_canary(&doc.kind, Some(&doc.api_version)) {
            let at = if doc.kind.value == "Canary" { &doc.api_version } else { &doc.kind };
            self.problem(at, message);
        }

        let name = doc.metadata.name;
        if self.check(&name, is_dns1035_label(&name.value), || {
            format!("metadata.name `{}` must be a DNS-1035 label: at most 63 characters of a-z, 0-9 and `-`, starting with a letter and ending with a letter or digit", name.value)
        }) {
            // What makes `Scope::Named` exact: a file that defines a release holds its name.
            self.check(&name, holds_word(self.source, &name.value), || {
                format!("write metadata.name `{}` as plain text, without YAML escapes: kanari finds a release's file by its name", name.value)
            });
        }
        let namespace = match &doc.metadata.namespace {
            Some(ns) => {
                self.check(ns, is_dns1123_label(&ns.value), || {
                    format!("metadata.namespace `{}` must be a DNS-1123 label: at most 63 characters of a-z, 0-9 and `-`, starting and ending with a letter or digit", ns.value)
                });
                ns.value.clone()
            }
            None => "default".to_string(),
        };

        let spec = doc.spec;
        let output = match &spec.output {
            Some(out) => {
                // Named runs find the files that set an output by the word (see `Scope::Named`).
                self.check(out, holds_word(self.source, "output"), || {
                    "write the key `output` as plain text, without YAML escapes".to_string()
                });
                self.output(out)
            }
            None => Some(default_output(&namespace, &name.value)),
        };
        let output_at = match &spec.output {
            Some(out) => self.place(out),
            None => self.place(&name),
        };
        if let (Some(out), Some(specs)) = (&output, self.specs) {
            let (o, f) = (folded(out), folded(specs));
            let what = match &spec.output {
                Some(_) => format!("spec.output `{}`", out.display()),
                None => format!("the default output `{}` (no spec.output)", out.display()),
            };
            let why = if o.starts_with(&f) {
                Some(format!(
                    "is inside the specs folder `{}`: kanari would read the files it writes as specs; choose a folder outside it",
                    specs.display()
                ))
            } else if f.starts_with(&o) {
                Some(format!(
                    "holds the specs folder `{}`: kanari owns its output folder; choose one that does not hold the specs",
                    specs.display()
                ))
            } else {
                None
            };
            if let Some(why) = why {
                self.problems.push(output_at.problem(format!("{what} {why}")));
            }
        }
        let port = self.number(&spec.service.port, "service.port", 1, 65535).unwrap_or(1) as u16;
        let hosts = match &spec.hosts {
            Some(hosts) => {
                if hosts.is_empty() {
                    self.problem(&name, "spec.hosts is empty: leave it out to use the release name");
                }
                for h in hosts {
                    self.check(h, is_host(&h.value), || {
                        format!("host `{}` must be a lowercase DNS name, optionally starting with `*.`", h.value)
                    });
                }
                hosts.iter().map(|h| h.value.clone()).collect()
            }
            None => vec![name.value.clone()],
        };
        let gateways = spec.gateways.as_deref().unwrap_or_default();
        for g in gateways {
            self.check(g, is_gateway(&g.value), || {
                format!("gateway `{}` must be `mesh`, `NAME` or `NAMESPACE/NAME` with DNS-1123 names", g.value)
            });
        }
        let mut seen = BTreeSet::new();
        for g in gateways {
            self.check(g, seen.insert(&g.value), || format!("gateway `{}` is listed twice", g.value));
        }
        if let Some(list) = &spec.hosts {
            // Istio's admission rules: a host once per VirtualService, none covered by a
            // wildcard beside it, and `*` only for routes bound to gateways other than the mesh.
            let mesh = gateways.is_empty() || gateways.iter().any(|g| g.value == "mesh");
            for (i, h) in list.iter().enumerate() {
                if h.value == "*" && mesh {
                    self.problem(h, "host `*` is not allowed on the mesh: Istio rejects a wildcard host for sidecar routes; name the hosts, or bind the route to gateways");
                }
                if let Some(other) = list[..i].iter().find(|o| hosts_overlap(&o.value, &h.value)) {
                    let why = match other.value == h.value {
                        true => "is listed twice".to_string(),
                        false => format!("overlaps `{}`", other.value),
                    };
                    self.problem(
                        h,
                        format!("host `{}` {why}: Istio rejects overlapping hosts in one VirtualService", h.value),
                    );
                }
            }
        }

        let stable = self.version(&spec.stable, &name.value);
        let canary = spec.canary.as_ref().and_then(|c| self.version(c, &name.value));
        if let (Some(s), Some(c), Some(raw)) = (&stable, &canary, &spec.canary)
            && s.version == c.version
        {
            let message =
                format!("canary version `{}` is the stable version: a canary needs a version of its own", c.version);
            self.problem(&raw.version, message);
        }

        let autoscaling = spec.autoscaling.as_ref().and_then(|a| self.autoscaling(a));
        let replicas = match (&spec.replicas, &spec.autoscaling) {
            (Some(r), Some(_)) => {
                self.problem(
                    r,
                    "`replicas` and `autoscaling` exclude each other: with autoscaling the HPAs own the pod count",
                );
                1
            }
            (Some(r), None) => self.number(r, "replicas", 1, MAX_REPLICAS).unwrap_or(1),
            (None, _) => 1,
        };

        let (template, containers) = match &spec.template {
            Some(t) => self.template(t, &name.value),
            None => (Value::Object(Default::default()), Vec::new()),
        };
        let places = Places { autoscaling: spec.autoscaling.as_ref().map(|a| self.place(a)), containers };

        if spec.stages.len() > MAX_STAGES {
            self.problem(&spec.stages[MAX_STAGES], format!("a release has at most {MAX_STAGES} stages"));
        }
        let mut names = BTreeSet::new();
        let mut stages = Vec::new();
        for stage in &spec.stages {
            // Compared without case: each state is a folder under `render --all-stages --out`, and
            // `Half` and `half` would be one folder on a case-insensitive filesystem.
            if !names.insert(stage.value.name.value.to_ascii_lowercase()) {
                self.problem(
                    &stage.value.name,
                    format!("stage name `{}` is used twice (names are compared without case)", stage.value.name.value),
                );
            }
            if let Some(s) = self.stage(stage, replicas, autoscaling.as_ref()) {
                stages.push(s);
            }
        }
        if let (Some(raw), true) = (&spec.canary, spec.stages.is_empty()) {
            self.problem(&raw.version, "a canary needs at least one stage under spec.stages");
        }

        if self.problems.len() > before {
            return None;
        }
        let name_at = self.place(&name);
        let canary = Canary {
            name: name.value,
            namespace,
            file: self.file.to_path_buf(),
            output: output?,
            service: Service { port, create: spec.service.create.unwrap_or(true) },
            hosts,
            gateways: gateways.iter().map(|g| g.value.clone()).collect(),
            stable: stable?,
            canary,
            replicas,
            autoscaling,
            template,
            stages,
            places,
        };
        Some(Placed { canary, name: name_at, output: output_at })
    }

    fn output(&mut self, out: &S<String>) -> Option<PathBuf> {
        match check_output_path(&out.value) {
            Ok(path) => Some(path),
            Err(why) => {
                self.problem(out, format!("spec.output `{}` {why}", out.value));
                None
            }
        }
    }

    fn version(&mut self, raw: &RawVersion, release: &str) -> Option<Version> {
        let v = &raw.version;
        let mut ok = self.check(v, is_dns1123_label(&v.value), || {
            format!("version `{}` must be a DNS-1123 label: at most 63 characters of a-z, 0-9 and `-`, starting and ending with a letter or digit", v.value)
        });
        let deployment = format!("{release}-{}", v.value);
        ok &= self.check(v, deployment.len() <= 63, || {
            format!("the Deployment name `{deployment}` would be longer than 63 characters; shorten the release name or the version")
        });
        let image = &raw.image;
        ok &= self.check(image, is_image(&image.value), || {
            format!("image `{}` must be a non-empty image reference without spaces", image.value)
        });
        ok.then(|| Version { version: v.value.clone(), image: image.value.clone() })
    }

    fn autoscaling(&mut self, raw: &S<RawAutoscaling>) -> Option<Autoscaling> {
        let a = &raw.value;
        let min = self.number(&a.min_replicas, "autoscaling.minReplicas", 1, MAX_REPLICAS);
        let max = self.number(&a.max_replicas, "autoscaling.maxReplicas", 1, MAX_REPLICAS);
        let target =
            self.number(&a.target_cpu_utilization_percentage, "autoscaling.targetCPUUtilizationPercentage", 1, 100);
        let (min, max, target) = (min?, max?, target?);
        if min > max {
            self.problem(&a.max_replicas, format!("autoscaling.maxReplicas ({max}) is below minReplicas ({min})"));
            return None;
        }
        Some(Autoscaling { min_replicas: min, max_replicas: max, target_cpu_utilization_percentage: target })
    }

    fn stage(&mut self, raw: &S<RawStage>, replicas: u32, autoscaling: Option<&Autoscaling>) -> Option<Stage> {
        let before = self.problems.len();
        let s = &raw.value;
        let name = &s.name;
        self.check(name, is_stage_name(&name.value), || {
            format!("stage name `{}` must be 1 to 63 characters of letters, digits, `.`, `_` and `-`, starting with a letter or digit", name.value)
        });
        self.check(name, !RESERVED_STAGE_NAMES.iter().any(|r| r.eq_ignore_ascii_case(&name.value)), || {
            format!("stage name `{}` is reserved for kanari's own states (steady, prepare, aborted)", name.value)
        });
        let weight = match &s.weight {
            Some(w) => self.number(w, "weight", 0, 100).unwrap_or(0),
            None => 0,
        };
        let matches: Vec<Match> = s.matches.iter().filter_map(|m| self.match_entry(m)).collect();
        let mut over = ReplicaOverride::default();
        if let Some(r) = &s.replicas {
            let cap = autoscaling.map_or(MAX_REPLICAS, |a| a.max_replicas as i64);
            let what = if autoscaling.is_some() { "(at most autoscaling.maxReplicas)" } else { "" };
            over.stable = r.stable.as_ref().and_then(|n| self.number(n, &format!("replicas.stable {what}"), 0, cap));
            over.canary = r.canary.as_ref().and_then(|n| self.number(n, &format!("replicas.canary {what}"), 0, cap));
            if let (Some(0), Some(at)) = (over.stable, &r.stable) {
                // At weight 100 every request goes to the canary, matched or not: stable takes none.
                self.check(at, weight == 100, || {
                    format!("replicas.stable is 0 but the stable version still takes {}% of the traffic", 100 - weight)
                });
            }
            if let (Some(0), Some(at)) = (over.canary, &r.canary) {
                self.check(at, weight == 0 && matches.is_empty(), || {
                    "replicas.canary is 0 but the canary takes traffic in this stage".to_string()
                });
            }
        }
        let _ = replicas;
        let mut pause = Pause::default();
        if let Some(p) = &s.pause {
            pause.approval = p.approval.unwrap_or(false);
            if let Some(d) = &p.duration {
                match parse_duration(&d.value) {
                    Ok(duration) => pause.duration = Some(duration),
                    Err(why) => self.problem(d, format!("pause.duration `{}` {why}", d.value)),
                }
            }
        }
        let at = self.place(name);
        (self.problems.len() == before).then(|| Stage {
            name: name.value.clone(),
            weight,
            matches,
            replicas: over,
            pause,
            at,
        })
    }

    fn match_entry(&mut self, raw: &S<RawMatch>) -> Option<Match> {
        let before = self.problems.len();
        let m = &raw.value;
        if m.headers.as_ref().is_none_or(|h| h.is_empty()) && m.cookie.is_none() && m.uri.is_none() {
            self.problem(
                raw,
                "an empty match would take every request; give `headers`, `cookie` or `uri`, or use `weight: 100`",
            );
            return None;
        }
        let mut out = Match::default();
        let mut headers: Vec<_> = m.headers.iter().flatten().collect();
        headers.sort_by(|a, b| a.0.value.cmp(&b.0.value));
        for (key, value) in headers {
            let header = &key.value;
            self.check(key, is_header_name(header), || header_name_problem(header));
            if m.cookie.is_some() && header == "cookie" {
                self.problem(key, "a match cannot have both `cookie` and a `cookie` header");
            }
            if let Some(sm) = self.string_match(value, &format!("header `{header}`")) {
                out.headers.insert(header.clone(), sm);
            }
        }
        if let Some(c) = &m.cookie {
            self.check(&c.name, is_http_token(&c.name.value), || {
                format!("cookie name `{}` must be a non-empty HTTP token", c.name.value)
            });
            self.check(&c.value, is_cookie_value(&c.value.value), || {
                format!(
                    "cookie value `{}` must be non-empty and hold no spaces, quotes, commas, semicolons or backslashes",
                    c.value.value
                )
            });
            out.cookie = Some(Cookie { name: c.name.value.clone(), value: c.value.value.clone() });
        }
        if let Some(u) = &m.uri {
            out.uri = self.string_match(u, "uri");
        }
        (self.problems.len() == before).then_some(out)
    }

    fn string_match(&mut self, raw: &S<RawStringMatch>, what: &str) -> Option<StringMatch> {
        let m = &raw.value;
        let given: Vec<(&str, &S<String>)> = [("exact", &m.exact), ("prefix", &m.prefix), ("regex", &m.regex)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
        let [(kind, value)] = given[..] else {
            self.problem(raw, format!("{what} needs exactly one of `exact`, `prefix` or `regex`, got {}", given.len()));
            return None;
        };
        let text = &value.value;
        match kind {
            "exact" => Some(StringMatch::Exact(text.clone())),
            "prefix" => self
                .check(value, !text.is_empty(), || format!("{what}: an empty prefix matches everything"))
                .then(|| StringMatch::Prefix(text.clone())),
            _ => match crate::re2::check(text) {
                Ok(()) => Some(StringMatch::Regex(text.clone())),
                Err(why) => {
                    // A parse error's own place is sometimes past the mistake: those point at
                    // the regex; what RE2 reads otherwise, at the construct itself.
                    let (line, column) = match why {
                        crate::re2::Refusal::NotRe2(..) => self.inside(value, why.offset()),
                        _ => (value.referenced.line(), value.referenced.column()),
                    };
                    self.problems.push(Problem::at(self.file, self.source, line, column, format!("{what}: {why}")));
                    None
                }
            },
        }
    }

    fn node_problem(&mut self, node: &Node, message: impl Into<String>) {
        self.problems.push(Problem::at(self.file, self.source, node.line, node.column, message));
    }

    fn node_place(&self, node: &Node) -> Place {
        let p = Problem::at(self.file, self.source, node.line, node.column, "");
        Place { file: p.location.file, line: p.location.line, column: p.location.column, source_line: p.source_line }
    }

    /// The pod template: first checked against Kubernetes' own PodTemplateSpec schema
    /// ([`crate::podschema`]), then against kanari's rules: the `app`/`version` labels and the
    /// main container's image are kanari's to set, label keys and values follow Kubernetes'
    /// rules, and the containers (kanari adds one when there are none) are a non-empty list with
    /// one main container. Every problem points at its own key or value. Returns the template as
    /// JSON and the place of each container.
    fn template(&mut self, raw: &Node, release: &str) -> (Value, Vec<Place>) {
        if !raw.is_map() {
            self.node_problem(
                raw,
                "template must be a mapping with `metadata` and `spec`, as in a Deployment's pod template",
            );
            return (Value::Object(Default::default()), Vec::new());
        }
        for found in crate::podschema::check(raw, "template", &["template.spec.containers"]) {
            self.problems.push(Problem::at(self.file, self.source, found.line, found.column, found.message));
        }
        if let Some(labels) = raw.get("metadata").and_then(|m| m.get("labels")) {
            for (key, value) in labels.entries() {
                let Some(k) = key.as_str() else { continue };
                if k == "app" || k == "version" {
                    self.node_problem(key, format!("template.metadata.labels.{k} is set by kanari; leave it out"));
                }
                if !is_label_key(k) {
                    self.node_problem(key, format!("template label key `{k}` is not valid: a DNS-1123 prefix and `/`, then at most 63 characters of alphanumerics, `-`, `_` and `.`"));
                }
                if let Some(v) = value.as_str()
                    && !is_label_value(v)
                {
                    self.node_problem(value, format!("template label `{k}` has the value `{v}`, which is not a valid label value: at most 63 characters of alphanumerics, `-`, `_` and `.`, starting and ending with an alphanumeric"));
                }
            }
        }
        let template = raw.to_json();
        let mut places = Vec::new();
        if let Some(list) = raw.get("spec").and_then(|s| s.get("containers"))
            && let Some(containers) = template.pointer("/spec/containers").and_then(Value::as_array)
        {
            let items = list.items();
            places = items.iter().map(|c| self.node_place(c)).collect();
            let named = containers.iter().all(|c| c.get("name").and_then(Value::as_str).is_some());
            // A missing or mistyped name is the schema's finding already.
            if containers.is_empty() {
                self.node_problem(list, "template.spec.containers must be a non-empty list");
            } else if named {
                match main_container(containers, release) {
                    None => self.node_problem(list, format!("template.spec.containers has several containers and none is named `{release}`: name the one whose image the versions set")),
                    Some(main) => {
                        if let Some((key, _)) = items.get(main).and_then(|c| c.entries().find(|(k, _)| k.as_str() == Some("image"))) {
                            self.node_problem(key, format!("the image of container `{release}` comes from spec.stable and spec.canary; leave it out of the template"));
                        }
                    }
                }
            }
        }
        (template, places)
    }
}

/// The index of the container whose image the versions set: the one named after the release,
/// or the only one.
pub fn main_container(containers: &[Value], release: &str) -> Option<usize> {
    containers
        .iter()
        .position(|c| c.get("name").and_then(Value::as_str) == Some(release))
        .or_else(|| (containers.len() == 1).then_some(0))
}

/// A path compared without case: on a case-insensitive filesystem `Overlays/a` holds
/// `overlays/a/b`.
fn folded(path: &Path) -> PathBuf {
    PathBuf::from(path.to_string_lossy().to_lowercase())
}

/// Checks across releases: unique ids, outputs that neither coincide nor nest. Each problem
/// points at both places.
fn cross_check(placed: &[Placed], problems: &mut Problems) {
    let mut ids: BTreeMap<String, &Placed> = BTreeMap::new();
    for p in placed {
        let id = p.canary.id();
        if let Some(first) = ids.get(&id) {
            let message = format!("release `{id}` is defined twice: a release is one Canary document");
            problems.push(p.name.problem(message).with_note(&first.name, format!("`{id}` is first defined here")));
        } else {
            ids.insert(id, p);
        }
    }
    let mut outputs: Vec<(PathBuf, &Placed)> = placed.iter().map(|p| (folded(&p.canary.output), p)).collect();
    outputs.sort_by(|a, b| a.0.cmp(&b.0));
    for pair in outputs.windows(2) {
        let ((fa, a), (fb, b)) = (&pair[0], &pair[1]);
        let (ac, bc) = (&a.canary, &b.canary);
        // A release defined twice is reported as that, not again as two writers of one folder.
        if !fb.starts_with(fa) || ac.id() == bc.id() {
            continue;
        }
        let message = if fa == fb {
            format!(
                "release `{}` writes to `{}`, as release `{}` does: each release needs a folder of its own",
                bc.id(),
                bc.output.display(),
                ac.id()
            )
        } else {
            format!(
                "release `{}` writes to `{}`, inside the output `{}` of release `{}`: each release needs a folder of its own",
                bc.id(),
                bc.output.display(),
                ac.output.display(),
                ac.id()
            )
        };
        let note = format!("release `{}` writes to `{}`", ac.id(), ac.output.display());
        problems.push(b.output.problem(message).with_note(&a.output, note));
    }
}

// ---------------------------------------------------------------------------------------------
// Rules on names and values.

/// A DNS-1035 label: lowercase alphanumerics and `-`, starting with a letter, at most 63.
pub fn is_dns1035_label(s: &str) -> bool {
    s.len() <= 63 && s.starts_with(|c: char| c.is_ascii_lowercase()) && is_label_body(s)
}

/// A DNS-1123 label: lowercase alphanumerics and `-`, starting with one of them, at most 63.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) && is_label_body(s)
}

fn is_label_body(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') && !s.ends_with('-')
}

/// A label name, or the name part of a label key: at most 63 alphanumerics, `-`, `_` and `.`,
/// starting and ending with an alphanumeric.
pub fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A Kubernetes label key: an optional DNS-1123 subdomain prefix and `/`, then a label name.
pub fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    }
}

/// A Kubernetes label value: empty, or a label name.
pub fn is_label_value(v: &str) -> bool {
    v.is_empty() || is_label_name(v)
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn is_host(s: &str) -> bool {
    let rest = s.strip_prefix("*.").unwrap_or(s);
    s == "*" || is_dns1123_subdomain(rest)
}

/// Whether two VirtualService hosts match a common name: equal, or one a wildcard over the other.
pub fn hosts_overlap(a: &str, b: &str) -> bool {
    let covers = |wild: &str, host: &str| match wild.strip_prefix('*') {
        Some("") => true,
        Some(suffix) => host.ends_with(suffix) || host == &suffix[1..],
        None => false,
    };
    a == b || covers(a, b) || covers(b, a)
}

fn is_gateway(s: &str) -> bool {
    match s.split_once('/') {
        Some((ns, name)) => is_dns1123_label(ns) && is_dns1123_subdomain(name),
        None => is_dns1123_subdomain(s),
    }
}

fn is_image(s: &str) -> bool {
    !s.is_empty() && s.len() <= 1024 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_stage_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_http_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header name Istio matches on: a lowercase HTTP token.
pub fn is_header_name(s: &str) -> bool {
    is_http_token(s) && !s.bytes().any(|b| b.is_ascii_uppercase())
}

/// What is wrong with a header name [`is_header_name`] refuses.
pub fn header_name_problem(name: &str) -> String {
    let base = format!("header name `{name}` must be a lowercase HTTP token (a-z, 0-9 and !#$%&'*+-.^_`|~)");
    match name.starts_with(':') {
        true => format!("{base}; `{name}` is an HTTP/2 pseudo-header, which a header match does not take"),
        false => base,
    }
}

fn is_cookie_value(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && !matches!(b, b'"' | b',' | b';' | b'\\'))
}

/// Checks a repository-relative output path and returns it normalized.
pub fn check_output_path(text: &str) -> std::result::Result<PathBuf, &'static str> {
    if text.is_empty() {
        return Err("is empty");
    }
    if text.contains('\\') || text.contains('\0') {
        return Err("must use `/` between folders and hold no backslash or NUL");
    }
    let path = Path::new(text);
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => {
                if part.eq_ignore_ascii_case(".git") {
                    return Err("may not be inside `.git`");
                }
                normal.push(part);
            }
            Component::CurDir => {}
            Component::ParentDir => return Err("may not contain `..`: the output stays inside the repository"),
            Component::RootDir | Component::Prefix(_) => return Err("must be relative to the repository root"),
        }
    }
    if normal.as_os_str().is_empty() {
        return Err("names the repository root itself; give a folder inside it");
    }
    Ok(normal)
}

/// Parses a duration such as `30m`, `1h30m`, `45s` or `2d`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, &'static str> {
    const WHY: &str = "must be a duration such as `30m`, `1h30m`, `45s` or `2d`";
    if text.is_empty() {
        return Err(WHY);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(WHY),
        };
        let n: u64 = digits.parse().map_err(|_| WHY)?;
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or("is too long")?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(WHY);
    }
    if total > 366 * 86_400 {
        return Err("is longer than a year");
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way specs write it: `1h30m`, `45s`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_found_as_a_word() {
        assert!(holds_word("  name: web\n", "web"));
        assert!(holds_word("{name: \"web\", namespace: shop}", "web"));
        assert!(holds_word("image: web:1", "web"));
        assert!(!holds_word("name: webshop", "web"));
        assert!(!holds_word("name: my-web", "web"));
        assert!(!holds_word("host: web.shop.svc", "web"));
        assert!(!holds_word("anything", ""));
        assert!(holds_word("name: web-2\nname: web", "web"));
    }

    fn problems_of(yaml: &str) -> Vec<String> {
        let (_, problems) = parse_file(Path::new("c.yaml"), yaml);
        problems.0.iter().map(|p| format!("{}:{} {}", p.location.line, p.location.column, p.message)).collect()
    }

    const BASE: &str = "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  service: {port: 8080}
  stable: {version: v1, image: web:1}
  canary: {version: v2, image: web:2}
  stages:
    - name: one
      weight: 10
";

    /// A lone CR once ended a line for the YAML parser but not for `file:line`, so a problem
    /// could point past the end of the file (found by `props::loading_never_panics`).
    #[test]
    fn a_lone_carriage_return_is_refused_at_its_place_and_crlf_is_fine() {
        assert_eq!(
            problems_of("\r\r\0"),
            [
                "1:1 a carriage return that does not end a line with a line feed: save the file with LF (or CRLF) line ends"
            ]
        );
        assert_eq!(problems_of("a: b\nkey: x\ry\n").len(), 1);
        assert!(problems_of("a: b\nkey: x\ry\n")[0].starts_with("2:7 "));
        assert_eq!(problems_of(&BASE.replace('\n', "\r\n")), Vec::<String>::new());
    }

    #[test]
    fn base_spec_is_valid() {
        let (found, problems) = parse_file(Path::new("c.yaml"), BASE);
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].output, PathBuf::from("overlays/shop/web"));
        assert_eq!(found[0].hosts, vec!["web"]);
        assert_eq!(found[0].stages[0].weight, 10);
    }

    #[test]
    fn rules_each_report_their_place() {
        // (replace this text of BASE, with this, expect a problem containing, at line:column)
        let table: &[(&str, &str, &str, &str)] = &[
            ("weight: 10", "weight: 101", "weight must be from 0 to 100", "10:15"),
            ("weight: 10", "weight: -1", "weight must be from 0 to 100", "10:15"),
            ("name: web,", "name: Web,", "DNS-1035", "3:18"),
            ("name: web,", "name: 9web,", "DNS-1035", "3:18"),
            ("namespace: shop", "namespace: Shop", "DNS-1123", "3:34"),
            ("version: v2", "version: v1", "is the stable version", "7:21"),
            ("version: v2", "version: V2", "DNS-1123", "7:21"),
            ("name: one", "name: prepare", "reserved", "9:13"),
            ("name: one", "name: Aborted", "reserved", "9:13"),
            ("name: one", "name: ../x", "stage name", "9:13"),
            ("port: 8080", "port: 0", "service.port must be from 1 to 65535", "5:19"),
            ("image: web:2", "image: ''", "image", "7:32"),
            ("      weight: 10\n", "      weight: 10\n    - name: one\n", "used twice", "11:13"),
            ("      weight: 10\n", "      weight: 10\n    - name: ONE\n", "used twice", "11:13"),
            ("weight: 10", "weight: 10\n      match: [{}]", "empty match", "11:15"),
            (
                "weight: 10",
                "weight: 10\n      match: [{headers: {End-User: {exact: j}}}]",
                "lowercase HTTP token",
                "11:26",
            ),
            (
                "weight: 10",
                "weight: 10\n      match: [{headers: {a: {exact: j, prefix: k}}}]",
                "exactly one of",
                "11:29",
            ),
            ("weight: 10", "weight: 10\n      match: [{uri: {prefix: ''}}]", "empty prefix", "11:30"),
            ("weight: 10", "weight: 10\n      match: [{uri: {regex: '(('}}]", "does not compile", "11:29"),
            ("weight: 10", "weight: 10\n      pause: {duration: 5x}", "duration", "11:25"),
            ("weight: 10", "weight: 10\n      pause: {approval: yes}", "strict", "11:25"),
            ("weight: 10", "weight: 10\n      replicas: {stable: 0}", "replicas.stable is 0", "11:26"),
            ("weight: 10", "weight: 10\n      wieght: 3", "unknown field `wieght`", "11:7"),
            ("  service: {port: 8080}", "  service: {port: 8080}\n  output: ../up", "may not contain `..`", "6:11"),
            ("  service: {port: 8080}", "  service: {port: 8080}\n  output: .GIT/x", "`.git`", "6:11"),
            ("  service: {port: 8080}", "  service: {port: 8080}\n  output: /etc", "relative", "6:11"),
            (
                "  service: {port: 8080}",
                "  service: {port: 8080}\n  replicas: 2\n  autoscaling: {minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 50}",
                "exclude each other",
                "6:13",
            ),
            (
                "  service: {port: 8080}",
                "  service: {port: 8080}\n  autoscaling: {minReplicas: 4, maxReplicas: 3, targetCPUUtilizationPercentage: 50}",
                "below minReplicas",
                "6:46",
            ),
            (
                "kind: Canary",
                "kind: Rollout",
                "a Rollout (kanari.dev/v1alpha1), not a kanari.dev/v1alpha1 Canary",
                "2:7",
            ),
            ("apiVersion: kanari.dev/v1alpha1", "apiVersion: v1", "a Canary (v1), not a kanari.dev/v1alpha1", "1:13"),
            ("      weight: 10\n", "    \t  weight: 10\n", "a tab in indentation", "10:5"),
            ("  service: {port: 8080}", "  service:\n\tport: 8080", "a tab in indentation", "6:1"),
            ("  service: {port: 8080}", "  service: {port: 8080}\n  hosts: [\"*\"]", "not allowed on the mesh", "6:11"),
            ("  service: {port: 8080}", "  service: {port: 8080}\n  hosts: [web, web]", "is listed twice", "6:16"),
            ("  service: {port: 8080}", "  service: {port: 8080}\n  hosts: [\"*.a.com\", b.a.com]", "overlaps", "6:22"),
            (
                "  service: {port: 8080}",
                "  service: {port: 8080}\n  service: {port: 1}",
                "duplicate key `service`",
                "6:3",
            ),
        ];
        let mut wrong = Vec::new();
        for (from, to, expect, at) in table {
            assert!(BASE.contains(from), "{from}");
            let yaml = BASE.replacen(from, to, 1);
            let found = problems_of(&yaml);
            if !found.iter().any(|p| p.contains(expect) && p.starts_with(&format!("{at} "))) {
                wrong.push(format!("{to:?}: expected `{expect}` at {at}, got {found:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn durations_round_trip() {
        for (text, secs) in [("30m", 1800), ("1h30m", 5400), ("45s", 45), ("2d", 172_800), ("0s", 0)] {
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(secs)), "{text}");
            assert_eq!(format_duration(Duration::from_secs(secs)), text);
        }
        for bad in ["", "30", "m", "1.5h", "-1m", "1y", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(is_dns1035_label("reviews"));
        assert!(!is_dns1035_label("1reviews"));
        assert!(!is_dns1035_label("reviews-"));
        assert!(is_dns1123_label("1a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_host("*.example.com"));
        assert!(!is_host("Example.com"));
        assert!(is_gateway("istio-system/ingress"));
        assert!(!is_gateway("a/b/c"));
    }

    #[test]
    fn cookie_regex_escapes_and_matches() {
        let c = Cookie { name: "user".into(), value: "a.b".into() };
        let re = regex::Regex::new(&c.header_regex()).unwrap();
        assert!(re.is_match("user=a.b"));
        assert!(re.is_match("x=1; user=a.b; y=2"));
        assert!(!re.is_match("user=axb"));
        assert!(!re.is_match("xuser=a.b"));
    }

    #[test]
    fn output_lines_are_read_as_text_or_not_at_all() {
        let read = |text: &str| outputs_in(text).map(|o| o.iter().map(|p| p.display().to_string()).collect::<Vec<_>>());
        assert_eq!(read("spec:\n  output: deploy/web\n"), Some(vec!["deploy/web".to_string()]));
        assert_eq!(read("  output: 'Deploy/Web' # moved\r\n"), Some(vec!["deploy/web".to_string()]));
        assert_eq!(read("  output: \"./deploy/web/\"\n"), Some(vec!["deploy/web".to_string()]));
        assert_eq!(read("name: web\nimage: outputs:1\n"), Some(vec![]));
        // Anything else where the word stands: the file is parsed.
        for unsure in [
            "spec: {output: deploy/web}",
            "# output: deploy/web",
            "  output: \"deploy\\x2fweb\"",
            "  output: *folder",
            "  output:\n    deploy/web",
            "  output: >-\n    deploy/web",
            "\toutput: deploy/web",
            "  - output: deploy/web",
            "  output: ../web",
            "  \"output\": deploy/web",
            "  output: deploy/web\n  args: [output, x]",
        ] {
            assert_eq!(read(unsure), None, "{unsure:?}");
        }
    }

    mod named_scope {
        use super::*;
        use proptest::prelude::*;

        /// How a file writes a release's `output`.
        #[derive(Clone, Debug)]
        enum Form {
            Plain,
            Quoted,
            Commented,
            /// With an anchor: valid YAML that the line reading does not take.
            Anchored,
        }

        #[derive(Clone, Debug)]
        struct Doc {
            name: usize,
            namespace: &'static str,
            output: Option<&'static str>,
            form: Form,
        }

        const OUTPUTS: &[&str] = &[
            "deploy/r0",
            "deploy/r1",
            "deploy/r1/sub",
            "deploy",
            "overlays/shop",
            "overlays/shop/r2",
            "overlays/other/r0",
            "elsewhere/r3",
            "Deploy/R1",
        ];

        fn doc() -> impl Strategy<Value = Doc> {
            (
                0..4usize,
                prop::sample::select(vec!["shop", "other"]),
                prop::option::of(prop::sample::select(OUTPUTS.to_vec())),
                prop::sample::select(vec![Form::Plain, Form::Quoted, Form::Commented, Form::Anchored]),
            )
                .prop_map(|(name, namespace, output, form)| Doc { name, namespace, output, form })
        }

        fn text(docs: &[Doc], decoy: bool) -> String {
            let mut out = String::new();
            if decoy {
                out.push_str("# output: deploy/r0 (a comment)\n");
            }
            for d in docs {
                let name = format!("r{}", d.name);
                let output = match (d.output, &d.form) {
                    (None, _) => String::new(),
                    (Some(o), Form::Plain) => format!("  output: {o}\n"),
                    (Some(o), Form::Quoted) => format!("  output: \"{o}\"\n"),
                    (Some(o), Form::Commented) => format!("  output: {o}   # where it goes\n"),
                    (Some(o), Form::Anchored) => format!("  output: &folder {o}\n"),
                };
                out.push_str(&format!(
                    "---\napiVersion: kanari.dev/v1alpha1\nkind: Canary\nmetadata: {{name: {name}, namespace: {}}}\nspec:\n{output}  service: {{port: 8080}}\n  stable: {{version: v1, image: app:1}}\n",
                    d.namespace
                ));
            }
            out
        }

        fn ids(found: &[Canary]) -> Vec<(String, PathBuf)> {
            found.iter().map(|c| (c.id(), c.output.clone())).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

            /// A run for one release sees what a run over every file sees of it: the same
            /// release, or a problem whenever every file shows one that involves it.
            #[test]
            fn a_named_load_agrees_with_reading_every_file(
                files in prop::collection::vec((prop::collection::vec(doc(), 1..3), any::<bool>()), 1..6),
                wanted in 0..4usize,
            ) {
                let sources: Vec<Source> = files
                    .iter()
                    .enumerate()
                    .map(|(i, (docs, decoy))| (PathBuf::from(format!("canaries/f{i}.yaml")), Ok(text(docs, *decoy))))
                    .collect();
                let specs = Path::new("canaries");
                let selector = vec![format!("r{wanted}")];
                let all = parse_sources(sources.clone(), Scope::All, specs).unwrap();
                let named = parse_sources(sources, Scope::Named(&selector), specs);
                let pick = |found: &[Canary]| -> Vec<(String, PathBuf)> {
                    ids(found).into_iter().filter(|(id, _)| id.ends_with(&format!("/r{wanted}"))).collect()
                };
                match (&all, named) {
                    (Ok(every), Ok(Ok(some))) => prop_assert_eq!(pick(every), pick(&some)),
                    (Ok(_), named) => prop_assert!(false, "every file reads, the named run does not: {:?}", named.map(|r| r.map(|c| ids(&c)))),
                    (Err(problems), named) => {
                        let involved = problems.0.iter().any(|p| {
                            let text = format!("{} {:?}", p.message, p.note.as_ref().map(|n| n.message.clone()));
                            ["shop", "other"].iter().any(|ns| text.contains(&format!("release `{ns}/r{wanted}`")))
                        });
                        if involved {
                            prop_assert!(!matches!(named, Ok(Ok(_))), "every file shows a problem with r{}: {}; the named run saw none", wanted, problems);
                        }
                    }
                }
            }
        }
    }
}

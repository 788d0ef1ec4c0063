//! Spec files read as YAML into raw documents: the serde model with the place of every value,
//! read strictly, and the YAML reader's errors turned into problems at their places. Nothing
//! here judges values; [`super::validate`] does. Like all of `spec`, it imports no later step
//! of the pipeline.
//!
//! Numbers are read as i64 so a wrong one gets a message about its range rather than serde's
//! "invalid u32".

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::API_VERSION;
use crate::podschema::Node;
use crate::problem::{Problem, Problems};

pub(super) type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawDoc {
    pub(super) api_version: S<String>,
    pub(super) kind: S<String>,
    pub(super) metadata: RawMetadata,
    pub(super) spec: RawSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetadata {
    pub(super) name: S<String>,
    pub(super) namespace: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawSpec {
    pub(super) output: Option<S<String>>,
    pub(super) service: RawService,
    pub(super) hosts: Option<Vec<S<String>>>,
    pub(super) gateways: Option<Vec<S<String>>>,
    pub(super) router: Option<S<String>>,
    pub(super) stable: RawVersion,
    pub(super) canary: Option<RawVersion>,
    pub(super) replicas: Option<S<i64>>,
    pub(super) autoscaling: Option<S<RawAutoscaling>>,
    pub(super) template: Option<Node>,
    pub(super) warmup: Option<S<String>>,
    pub(super) analysis: Option<S<RawAnalysis>>,
    #[serde(default)]
    pub(super) stages: Vec<S<RawStage>>,
    pub(super) virtual_service: Option<S<RawVirtualServiceFrom>>,
    pub(super) destination_rule: Option<S<RawFrom>>,
    pub(super) deployment: Option<S<RawFrom>>,
}

/// `spec.destinationRule` and `spec.deployment`: the user's own manifest, by file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFrom {
    pub(super) from: S<String>,
}

/// `spec.virtualService`: the user's own VirtualService and the HTTP route kanari rewrites.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVirtualServiceFrom {
    pub(super) from: S<String>,
    pub(super) route: S<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) port: S<i64>,
    pub(super) create: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVersion {
    pub(super) version: S<String>,
    pub(super) image: S<String>,
    pub(super) subset: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawAutoscaling {
    pub(super) min_replicas: S<i64>,
    pub(super) max_replicas: S<i64>,
    #[serde(rename = "targetCPUUtilizationPercentage")]
    pub(super) target_cpu_utilization_percentage: S<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStage {
    pub(super) name: S<String>,
    pub(super) weight: Option<S<i64>>,
    pub(super) mirror: Option<S<i64>>,
    #[serde(rename = "match", default)]
    pub(super) matches: Vec<S<RawMatch>>,
    pub(super) replicas: Option<RawReplicaOverride>,
    pub(super) pause: Option<RawPause>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReplicaOverride {
    pub(super) stable: Option<S<i64>>,
    pub(super) canary: Option<S<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPause {
    pub(super) approval: Option<bool>,
    pub(super) duration: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatch {
    // Keys with their places, so that a bad header name is shown where it is written.
    pub(super) headers: Option<HashMap<S<String>, S<RawStringMatch>>>,
    pub(super) cookie: Option<RawCookie>,
    pub(super) uri: Option<S<RawStringMatch>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStringMatch {
    pub(super) exact: Option<S<String>>,
    pub(super) prefix: Option<S<String>>,
    pub(super) regex: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCookie {
    pub(super) name: S<String>,
    pub(super) value: S<String>,
}

/// The documents of one spec file; the problems that make it unreadable (a lone carriage
/// return, YAML that does not parse or does not fit the model) otherwise. `file` is the path
/// shown in problems.
pub(super) fn read_docs(file: &Path, source: &str) -> Result<Vec<RawDoc>, Problems> {
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
        return Err(problems);
    }
    match serde_saphyr::from_multiple_with_options(source, yaml_options()) {
        Ok(docs) => Ok(docs),
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
            Err(problems)
        }
    }
}

pub(super) fn yaml_options() -> serde_saphyr::Options {
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
pub(super) fn not_a_canary(kind: &S<String>, api_version: Option<&S<String>>) -> Option<String> {
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
pub(super) fn yaml_message(e: &serde_saphyr::Error) -> String {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawAnalysis {
    pub(super) prometheus: Option<S<String>>,
    pub(super) min_requests: Option<S<i64>>,
    pub(super) on_failure: Option<S<String>>,
    #[serde(default)]
    pub(super) metrics: Vec<S<RawMetric>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetric {
    pub(super) name: S<String>,
    pub(super) builtin: Option<S<String>>,
    pub(super) query: Option<S<String>>,
    pub(super) min: Option<S<f64>>,
    pub(super) max: Option<S<f64>>,
    /// A number (points, or ms) or a percent of stable's value (`10%`).
    pub(super) margin: Option<S<RawMargin>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawMargin {
    Number(f64),
    Text(String),
}

//! What people read: plans, statuses and diffs of the bookinfo release at several states, as text,
//! JSON, Markdown and Mermaid (insta snapshots), the Markdown parsed by a real CommonMark parser,
//! and the README's example comment kept true.

use std::path::Path;

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag};

use crate::{fixture_repo, git, kanari_env, project};

/// kanari run in `repo` a minute after its last commit: each commit a minute after the one
/// before, past the warmup (1m) of the state before, so no promote waits for new pods.
pub(crate) fn kanari_at(repo: &Path, args: &[&str]) -> crate::Run {
    kanari_later(repo, args, 1)
}

/// kanari run in `repo` `later` minutes after its last commit, on a clock where the `n`-th commit
/// on `HEAD` is made at 12:(n-1) of a fixed day.
fn kanari_later(repo: &Path, args: &[&str], later: u32) -> crate::Run {
    kanari_later_env(repo, args, later, &[])
}

/// [`kanari_later`] with more of the environment set.
pub(crate) fn kanari_later_env(repo: &Path, args: &[&str], later: u32, env: &[(&str, &str)]) -> crate::Run {
    let commits: u32 = git(repo, &["rev-list", "--count", "HEAD"]).trim().parse().unwrap();
    let now = format!("2026-05-01T12:{:02}:00Z", commits - 1 + later);
    let mut all = vec!["-C", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut env = env.to_vec();
    env.push(("KANARI_NOW", &now));
    kanari_env(repo, &all, &env)
}

pub(crate) fn promote(repo: &Path, times: usize) {
    for _ in 0..times {
        let run = kanari_at(repo, &["promote", "--author", "CI <ci@example.com>"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
}

/// A bookinfo repository promoted to `90-10`.
pub(crate) fn at_90_10() -> tempfile::TempDir {
    let repo = fixture_repo("bookinfo");
    promote(repo.path(), 4);
    repo
}

/// Counts of what a CommonMark parser finds: tables, fenced blocks by language, HTML blocks.
#[derive(Debug, Default)]
pub(crate) struct Shape {
    pub tables: usize,
    table_rows: usize,
    fences: Vec<String>,
    details_open: usize,
    details_close: usize,
    headings: usize,
}

pub(crate) fn shape(markdown: &str) -> Shape {
    let mut s = Shape::default();
    let mut in_html = false;
    for event in Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Table(_)) => s.tables += 1,
            Event::Start(Tag::TableRow) => s.table_rows += 1,
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) => s.fences.push(lang.to_string()),
            Event::Start(Tag::Heading { .. }) => s.headings += 1,
            Event::Start(Tag::HtmlBlock) => in_html = true,
            Event::End(pulldown_cmark::TagEnd::HtmlBlock) => in_html = false,
            Event::Html(html) if in_html => {
                s.details_open += html.matches("<details>").count();
                s.details_close += html.matches("</details>").count();
            }
            _ => {}
        }
    }
    s
}

#[test]
fn plan_in_every_format() {
    let repo = at_90_10();
    for format in ["text", "json", "markdown", "mermaid"] {
        let run = kanari_at(repo.path(), &["plan", "--format", format]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        insta::assert_snapshot!(format!("plan-{format}"), run.stdout);
    }
    let markdown = kanari_at(repo.path(), &["plan", "--format", "markdown"]).stdout;
    let s = shape(&markdown);
    // Seven states and the three commits between two of them (0-100's drain, and the abort's
    // scale-up and drain).
    assert_eq!((s.tables, s.table_rows), (1, 10), "{s:?}");
    assert_eq!(s.fences, ["mermaid"]);
}

#[test]
fn status_in_text_and_json_at_several_states() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    // At 0-100 v1 drains first; the next promote scales it down, and then the stage bakes.
    for (promotes, name) in [(0, "new"), (2, "prepare"), (3, "50-50"), (0, "0-100"), (1, "0-100-settled")] {
        promote(r, promotes);
        if name == "0-100" {
            // The 50-50 gate needs an approval before the last promote.
            assert_eq!(kanari_at(r, &["approve", "--author", "CI <ci@example.com>"]).code, 0);
            promote(r, 1);
            // Read at once, the scale-down waits for the traffic to drain.
            for format in ["text", "json"] {
                let run = kanari_later(r, &["status", "--format", format], 0);
                assert_eq!(run.code, 0, "{}", run.stderr);
                insta::assert_snapshot!(format!("status-0-100-warmup-{format}"), run.stdout);
            }
        }
        for format in ["text", "json"] {
            let run = kanari_at(r, &["status", "--format", format]);
            assert_eq!(run.code, 0, "{}", run.stderr);
            insta::assert_snapshot!(format!("status-{name}-{format}"), run.stdout);
        }
    }
}

#[test]
fn diff_of_the_next_stage_in_every_format() {
    let repo = at_90_10();
    for format in ["text", "json", "markdown"] {
        let run = kanari_at(repo.path(), &["diff", "--next", "--format", format]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        insta::assert_snapshot!(format!("diff-next-{format}"), run.stdout);
    }
    let same = kanari_at(repo.path(), &["diff", "--format", "markdown"]);
    assert_eq!(same.code, 0);
    insta::assert_snapshot!("diff-same-markdown", same.stdout);
    // Right after the promote to 90-10, v2's new pods warm up: promote would commit nothing yet.
    let early = kanari_later(repo.path(), &["diff", "--next", "--format", "markdown"], 0);
    assert_eq!(early.code, 0, "{}", early.stdout);
    insta::assert_snapshot!("diff-next-warmup-markdown", early.stdout);
}

#[test]
fn diff_of_a_canary_image_changed_mid_release() {
    let repo = at_90_10();
    let r = repo.path();
    git(r, &["checkout", "-q", "-b", "reviews-v2-1.17"]);
    let spec = r.join("canaries/reviews.yaml");
    std::fs::write(&spec, std::fs::read_to_string(&spec).unwrap().replace("reviews-v2:1.16.2", "reviews-v2:1.17.0"))
        .unwrap();
    git(r, &["commit", "-q", "-am", "reviews: v2 1.17.0"]);
    for format in ["text", "json", "markdown"] {
        let run = kanari_at(r, &["diff", "--base", "main", "--format", format]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        insta::assert_snapshot!(format!("diff-image-{format}"), run.stdout);
    }
    // The next commit re-rolls v2 in place at 90-10 (its Deployment and the state's time), and
    // moves no traffic: a new image never takes more traffic in the commit that brings it.
    let markdown = kanari_at(r, &["diff", "--base", "main", "--next", "--format", "markdown"]).stdout;
    let s = shape(&markdown);
    assert_eq!(s.tables, 1, "{s:?}");
    assert_eq!(s.fences.iter().filter(|f| *f == "diff").count(), 2, "{s:?}");
    assert_eq!((s.details_open, s.details_close), (2, 2), "{s:?}");
    assert!(markdown.contains("deployment-reviews-v2.yaml") && !markdown.contains("virtualservice"), "{markdown}");
}

#[test]
fn a_huge_diff_is_folded_to_fit_a_comment() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    // 2,000 environment variables whose values all change: a diff far over the limit.
    let spec = r.join("canaries/reviews.yaml");
    let env: String =
        (0..2000).map(|i| format!("            - name: VAR_{i}\n              value: \"old-{i}\"\n")).collect();
    let text = std::fs::read_to_string(&spec).unwrap().replace("          env:\n", &format!("          env:\n{env}"));
    std::fs::write(&spec, &text).unwrap();
    git(r, &["commit", "-q", "-am", "many variables"]);
    promote(r, 2);
    std::fs::write(&spec, text.replace("value: \"old-", "value: \"new-")).unwrap();
    let run = kanari_at(r, &["diff", "--format", "markdown"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.len() <= 60_000, "{} characters", run.stdout.len());
    assert!(run.stdout.contains("folded to keep this comment short"), "{}", &run.stdout[..2000]);
    let s = shape(&run.stdout);
    assert_eq!(s.tables, 1);
    assert_eq!(s.details_open, s.details_close);
    // Folding never cuts a line: every fence opened is closed.
    assert!(run.stdout.matches("```").count().is_multiple_of(2));
}

/// `docs/pull-request-comment.md` shows a real comment: a pull request that lengthens the last
/// stage's bake, opened while the release is at `90-10`.
#[test]
fn the_docs_show_a_real_comment() {
    let repo = at_90_10();
    let spec = repo.path().join("canaries/reviews.yaml");
    std::fs::write(&spec, std::fs::read_to_string(&spec).unwrap().replace("duration: 30m", "duration: 1h")).unwrap();
    let env = [("KANARI_PULL_REQUEST", "42"), ("KANARI_HEAD_COMMIT", "9f20f37b6c0de5ab3c1d2e4f5a6b7c8d9e0f1a2b")];
    let comment =
        kanari_later_env(repo.path(), &["diff", "--base", "main", "--next", "--format", "markdown"], 1, &env).stdout;
    let docs = std::fs::read_to_string(project().join("docs/pull-request-comment.md")).unwrap();
    let start = docs.find("<!-- diff-example:start -->\n").expect("the example's markers") + 28;
    let end = docs.find("<!-- diff-example:end -->").unwrap();
    assert_eq!(
        &docs[start..end],
        comment,
        "the example comment in docs/pull-request-comment.md is stale; paste the output of this test's command"
    );
}

#[test]
fn help_lists_exit_codes_and_every_command_has_examples() {
    let help = kanari_env(&project(), &["--help"], &[]).stdout;
    insta::assert_snapshot!("help", help);
    // Each command's help, whole: its options, its examples and its exit codes.
    for command in
        ["lint", "plan", "render", "diff", "status", "promote", "approve", "init", "abort", "schema", "completions"]
    {
        let run = kanari_env(&project(), &[command, "--help"], &[]);
        assert_eq!(run.code, 0);
        assert!(run.stdout.contains("\nExamples:\n"), "{command} --help has no examples");
        insta::assert_snapshot!(format!("help-{command}"), run.stdout);
    }
    // The script asks kanari itself at each Tab (tests/it/completions.rs drives it).
    let bash = kanari_env(&project(), &["completions", "bash"], &[]);
    assert!(bash.stdout.contains("-F _clap_complete_kanari kanari"), "{}", bash.stdout);
}

/// With `router: gateway-api` the diff's tables read the HTTPRoute: traffic and matches per
/// version, the backend Services named by their versions.
#[test]
fn the_diff_reads_an_http_route() {
    let repo = fixture_repo("gateway-api");
    promote(repo.path(), 3);
    let diff = kanari_at(repo.path(), &["diff", "--next", "--format", "markdown"]);
    insta::assert_snapshot!("diff-next-http-route-markdown", diff.stdout);
}

/// What GitHub makes of a comment: `tests/comment/gfm.py` renders it with cmark-gfm (PyPI's
/// `cmarkgfm`) and reports its tables, `<details>` and code blocks; every Mermaid block is then
/// parsed by the real `mermaid` package (`tests/comment/mermaid.mjs`). Returns gfm.py's report.
pub(crate) fn as_github_shows(markdown: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("comment.md");
    std::fs::write(&file, markdown).unwrap();
    let tools = project().join("tests/comment");
    let out = std::process::Command::new(crate::tools::python3_with(&["cmarkgfm"]))
        .arg(tools.join("gfm.py"))
        .args([&file, dir.path()])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "gfm.py: {}", String::from_utf8_lossy(&out.stderr));
    let shape: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let charts: Vec<&str> = shape["mermaid"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    if !charts.is_empty() {
        let (ok, report) = parse_mermaid(&charts);
        assert!(ok, "a Mermaid block does not parse:\n{report}");
    }
    shape
}

/// `node tests/comment/mermaid.mjs FILE...`: whether every chart parses, and its report.
fn parse_mermaid(files: &[impl AsRef<std::ffi::OsStr>]) -> (bool, String) {
    let tools = project().join("tests/comment");
    let node = crate::tools::node_with("tests/comment", &["mermaid", "jsdom"]);
    let out = std::process::Command::new(node).arg(tools.join("mermaid.mjs")).args(files).output().expect("node runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn the_comment_renders_on_github_and_its_charts_parse() {
    let repo = at_90_10();
    let comment = kanari_at(repo.path(), &["diff", "--next", "--format", "markdown"]).stdout;
    let shape = as_github_shows(&comment);
    assert_eq!(shape["details"], serde_json::json!([3, 3]), "{comment}");
    assert_eq!(shape["tables"].as_array().unwrap().len(), 1, "{comment}");
    // The routes first, then the Deployments, the Kustomization last.
    let summaries: Vec<&str> = shape["summaries"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(summaries[0].contains("virtualservice") && summaries[2].contains("kustomization.yaml"), "{summaries:?}");
    // The comment is the same on every run: no clock in it.
    let later = kanari_later(repo.path(), &["diff", "--next", "--format", "markdown"], 7).stdout;
    assert_eq!(comment, later);
    assert!(comment.contains("kanari.dev/since: <time of the commit>"), "{comment}");
    let plan = kanari_at(repo.path(), &["plan", "--format", "markdown"]).stdout;
    let shape = as_github_shows(&plan);
    assert_eq!(shape["mermaid"].as_array().unwrap().len(), 1, "{plan}");
    // `--format mermaid` is the chart alone, as a `.mmd` file holds it.
    let chart = kanari_at(repo.path(), &["plan", "--format", "mermaid"]).stdout;
    assert!(!chart.contains("```"), "{chart}");
    let file = repo.path().join("chart.mmd");
    std::fs::write(&file, &chart).unwrap();
    let (ok, report) = parse_mermaid(&[&file]);
    assert!(ok && report.contains("ok (xychart)"), "{report}");
}

/// The checks can fail: a broken chart fails mermaid's parse, an unclosed `<details>` fails the
/// GFM check.
#[test]
fn a_broken_chart_or_comment_fails_the_checks() {
    let repo = at_90_10();
    let chart = kanari_at(repo.path(), &["plan", "--format", "mermaid"]).stdout;
    let file = repo.path().join("broken.mmd");
    std::fs::write(&file, chart.replacen("x-axis [", "x-axis ", 1)).unwrap();
    let (ok, report) = parse_mermaid(&[&file]);
    assert!(!ok && report.contains("Parse error"), "{report}");
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("broken.md");
    std::fs::write(&md, "<details>\n<summary>x</summary>\n\n```diff\n+a\n```\n").unwrap();
    let out = std::process::Command::new(crate::tools::python3_with(&["cmarkgfm"]))
        .arg(project().join("tests/comment/gfm.py"))
        .args([&md, dir.path()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// A new image on pods that serve traffic shows in the table, and a pod template change is said
/// to restart the version's pods.
#[test]
fn an_image_change_shows_and_says_it_restarts_pods() {
    let repo = at_90_10();
    let r = repo.path();
    let spec = r.join("canaries/reviews.yaml");
    std::fs::write(&spec, std::fs::read_to_string(&spec).unwrap().replace("reviews-v2:1.16.2", "reviews-v2:1.17.0"))
        .unwrap();
    let comment = kanari_at(r, &["diff", "--format", "markdown"]).stdout;
    assert!(comment.contains("**⚠ restarts the pods of `v2`**"), "{comment}");
    assert!(
        comment.contains(
            "| image `v2` | `docker.io/istio/examples-bookinfo-reviews-v2:1.16.2` | **`docker.io/istio/examples-bookinfo-reviews-v2:1.17.0`** |"
        ),
        "{comment}"
    );
    // Moving traffic alone restarts nothing.
    std::fs::write(&spec, std::fs::read_to_string(&spec).unwrap().replace("reviews-v2:1.17.0", "reviews-v2:1.16.2"))
        .unwrap();
    let next = kanari_at(r, &["diff", "--next", "--format", "markdown"]).stdout;
    assert!(!next.contains("restarts") && next.contains("Stage 3 of"), "{next}");
}

/// A version one side of the table does not run reads `—`, the plan table's mark for it.
#[test]
fn a_version_on_one_side_only_reads_as_not_running() {
    // Committed at `prepare` (v2 runs 1 pod); `steady` has no v2.
    let repo = fixture_repo("bookinfo");
    promote(repo.path(), 2);
    let comment = kanari_at(repo.path(), &["diff", "--stage", "steady", "--format", "markdown"]).stdout;
    for row in
        ["| pods `v2` | 1 | **—** |", "| image `v2` | `docker.io/istio/examples-bookinfo-reviews-v2:1.16.2` | **—** |"]
    {
        assert!(comment.contains(row), "no `{row}` in:\n{comment}");
    }
}

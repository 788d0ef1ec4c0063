//! The pull-request comment (`kanari diff --base main --next --format markdown`) as a reviewer
//! reads it: first what the pull request changes in the spec (computed from the two specs, so a
//! bake edited at `90-10` reads as that edit, not as the move the next promote makes anyway),
//! then what the next promote does after the merge; the heading names the pull request and its
//! head commit; the hidden marker a workflow finds its comment by; and the chart drawn by
//! chromium on GitHub's light and dark pages at 650 px, its texts' contrast and its labels'
//! boxes measured (`tests/comment/browser.mjs`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::review::{as_github_shows, at_90_10, kanari_at};
use crate::{git, project};

/// The spec of the bookinfo fixture's release with `from` replaced by `to`.
fn edit(repo: &Path, from: &str, to: &str) {
    let spec = repo.join("canaries/reviews.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(text.contains(from), "no `{from}` in the spec");
    std::fs::write(&spec, text.replacen(from, to, 1)).unwrap();
}

/// The comment's part under "This pull request changes", up to the next heading.
fn pull_request_part(comment: &str) -> &str {
    let start = comment.find("#### This pull request changes\n").unwrap_or_else(|| panic!("no part:\n{comment}"));
    let rest = &comment[start..];
    &rest[..rest.find("#### After merge").unwrap_or(rest.len())]
}

fn comment(repo: &Path) -> String {
    let run = kanari_at(repo, &["diff", "--base", "main", "--next", "--format", "markdown"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.stdout
}

#[test]
fn a_pull_request_that_changes_a_bake_reads_as_that_change() {
    let repo = at_90_10();
    let r = repo.path();
    edit(r, "duration: 30m", "duration: 1h");
    let comment = comment(r);
    assert_eq!(pull_request_part(&comment), "#### This pull request changes\n\n- stage `0-100` bake: `30m` → `1h`\n\n");
    // The move the next promote makes anyway is the promote's, said after the merge.
    insta::assert_snapshot!("bake-change-markdown", comment);
    // JSON has the same facts as fields, text as lines.
    let json = kanari_at(r, &["diff", "--base", "main", "--next", "--format", "json"]).stdout;
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        list[0]["spec"],
        serde_json::json!({
            "changes": [{"subject": "stage `0-100`", "field": "bake", "before": "30m", "after": "1h"}],
            "restarts": [],
            "warnings": [],
        })
    );
    let text = kanari_at(r, &["diff", "--base", "main", "--next"]).stdout;
    insta::assert_snapshot!("bake-change-text", text);
    // Nothing changed in the spec reads so.
    edit(r, "duration: 1h", "duration: 30m");
    assert_eq!(
        pull_request_part(&self::comment(r)),
        "#### This pull request changes\n\nNothing in this release's spec.\n\n"
    );
}

#[test]
fn an_image_change_reads_as_its_tags_and_the_restart_it_causes() {
    let repo = at_90_10();
    let r = repo.path();
    edit(r, "reviews-v1:1.16.2", "reviews-v1:1.17.0");
    let part = pull_request_part(&comment(r)).to_string();
    assert_eq!(
        part,
        "#### This pull request changes\n\n\
         - image of `v1` (`docker.io/istio/examples-bookinfo-reviews-v1`): `1.16.2` → `1.17.0`\n\
         - **⚠ restarts the pods of `v1`**: its image changes (`1.16.2` → `1.17.0`)\n\n"
    );
}

#[test]
fn a_new_image_under_the_same_version_warns_of_the_re_roll() {
    let repo = at_90_10();
    let r = repo.path();
    edit(r, "reviews-v2:1.16.2", "reviews-v2:1.17.0");
    let part = pull_request_part(&comment(r)).to_string();
    insta::assert_snapshot!("new-image-same-version-part", part);
    // A warning `lint` gives the head and not the base is said too: a weight that goes down.
    edit(r, "weight: 50\n", "weight: 5\n");
    let part = pull_request_part(&comment(r)).to_string();
    insta::assert_snapshot!("new-image-and-lower-weight-part", part);
}

#[test]
fn the_heading_names_the_pull_request_and_its_head_commit() {
    let repo = at_90_10();
    let r = repo.path();
    edit(r, "duration: 30m", "duration: 1h");
    let base = git(r, &["rev-parse", "--short=7", "main"]).trim().to_string();
    let env = [
        ("KANARI_PULL_REQUEST", "42"),
        ("KANARI_HEAD_COMMIT", "9F20F37B6C0DE5AB00000000000000000000ABCD"),
        ("KANARI_NOW", "2026-05-01T12:10:00Z"),
    ];
    let mut args = vec!["-C", r.to_str().unwrap(), "diff", "--base", "main", "--next", "--format", "markdown"];
    let run = crate::kanari_env(r, &args, &env);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mut lines = run.stdout.lines();
    // The marker first, hidden on GitHub, for a workflow to find its own comment by.
    assert_eq!(lines.next(), Some("<!-- kanari -->"));
    assert!(
        run.stdout.contains(&format!("Base `main` (`{base}`) → pull request #42 at `9f20f37`.\n")),
        "{}",
        run.stdout
    );
    // The flags win over the environment.
    args.extend(["--pull-request", "7", "--head-commit", "abcdef0123"]);
    let run = crate::kanari_env(r, &args, &env);
    assert!(run.stdout.contains("→ pull request #7 at `abcdef0`.\n"), "{}", run.stdout);
    // Without them, the work tree is named, as before.
    let run = kanari_at(r, &["diff", "--base", "main", "--next", "--format", "markdown"]);
    assert!(run.stdout.contains(&format!("→ head: the work tree at `{base}`.\n")), "{}", run.stdout);
    // A head commit that is no commit id is bad input: exit 2, nothing printed.
    for bad in ["xyz", "9f20", "9f20f37 ; rm"] {
        let run = kanari_at(r, &["diff", "--next", "--format", "markdown", "--head-commit", bad]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(run.stdout.is_empty() && run.stderr.contains("is not a commit id"), "{}", run.stderr);
    }
    let run = kanari_at(r, &["diff", "--next", "--pull-request", "x"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

/// `node tests/comment/browser.mjs` on a comment, with chromium stopped whatever happens: the
/// report, and whether every check passed.
fn drawn(markdown: &str) -> (bool, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("comment.md");
    std::fs::write(&file, markdown).unwrap();
    let tools = project().join("tests/comment");
    let python = crate::tools::python3_with(&["cmarkgfm"]);
    let out = Command::new(python).arg(tools.join("gfm.py")).arg(&file).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "gfm.py: {}", String::from_utf8_lossy(&out.stderr));
    let chromium = crate::tool("chromium");
    let node = crate::tools::node_with("tests/comment", &["puppeteer-core"]);
    let report = dir.path().join("report.json");
    let mut cmd = Command::new(node);
    cmd.arg(tools.join("browser.mjs")).arg(dir.path().join("page.html")).arg(dir.path());
    cmd.env("KANARI_CHROMIUM", chromium);
    cmd.stdout(std::fs::File::create(&report).unwrap()).stderr(Stdio::piped());
    let mut browser = Browser { child: None, pids: dir.path().join("chromium.pid") };
    use std::os::unix::process::CommandExt;
    let child = browser.child.insert(cmd.process_group(0).spawn().expect("node runs"));
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "browser.mjs ran over 2 minutes");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.code() == Some(0) || status.code() == Some(1), "browser.mjs failed ({status}): {stderr}");
    let text = std::fs::read_to_string(&report).unwrap();
    (status.success(), serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")))
}

/// The node process and the chromium it starts (in a process group of its own, named by
/// `chromium.pid`): both groups killed on drop, so no browser outlives a failed test.
struct Browser {
    child: Option<std::process::Child>,
    pids: std::path::PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        use rustix::process::{Pid, Signal, kill_process_group};
        if let Some(child) = self.child.as_mut() {
            if let Some(pid) = Pid::from_raw(child.id() as i32) {
                let _ = kill_process_group(pid, Signal::KILL);
            }
            let _ = child.wait();
        }
        let chromium = std::fs::read_to_string(&self.pids).ok().and_then(|p| p.trim().parse::<i32>().ok());
        if let Some(pid) = chromium.and_then(Pid::from_raw) {
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

fn failures(report: &serde_json::Value) -> Vec<String> {
    let themes = report["themes"].as_array().unwrap();
    themes
        .iter()
        .flat_map(|t| t["failures"].as_array().unwrap().iter().map(move |f| format!("{}: {}", t["name"], f)))
        .collect()
}

#[test]
fn the_comment_reads_on_githubs_light_and_dark_pages() {
    let repo = at_90_10();
    let r = repo.path();
    edit(r, "duration: 30m", "duration: 1h");
    let comment = comment(r);
    // As GitHub shows it: cmark-gfm's HTML, every chart parsed by mermaid.
    let shape = as_github_shows(&comment);
    assert_eq!(shape["mermaid"].as_array().unwrap().len(), 1, "{comment}");
    let (ok, report) = drawn(&comment);
    assert!(ok, "{:#?}", failures(&report));
    for theme in report["themes"].as_array().unwrap() {
        assert_eq!(theme["charts"], 1, "{report}");
        let texts: Vec<&str> = theme["texts"].as_array().unwrap().iter().map(|t| t["text"].as_str().unwrap()).collect();
        // Every stage has its label, its share in it, the stage the release is in and the
        // next one marked.
        for label in ["jason · 0% + match", "90-10 · 10% ◀ now", "50-50 · 50% ◀ next", "0-100 · 100%"] {
            assert!(texts.contains(&label), "no `{label}` in {texts:?}");
        }
    }
    // `plan --format markdown` draws the same chart, the current stage marked.
    let plan = kanari_at(r, &["plan", "--format", "markdown"]).stdout;
    let (ok, report) = drawn(&plan);
    assert!(ok, "{:#?}", failures(&report));
    assert!(report.to_string().contains("90-10 · 10% ◀ now"), "{report}");
}

/// The checks can fail: the chart as it was (near-black text on a transparent background, long
/// labels under vertical bars) fails the contrast on the dark page and the overlap of its labels.
#[test]
fn a_chart_that_vanishes_on_the_dark_page_fails_the_checks() {
    let chart = r##"%%{init: {"theme": "base", "themeVariables": {"xyChart": {"plotColorPalette": "#1f6feb", "backgroundColor": "transparent"}}, "xyChart": {"showDataLabel": true}}}%%
xychart-beta
    title "bookinfo/reviews: v2 share of traffic per stage"
    x-axis ["prepare", "jason (match only)", "90-10", "50-50 (approval)", "0-100, draining 50-50 (30m)", "0-100 (30m)"]
    y-axis "percent" 0 --> 100
    bar [0, 0, 10, 50, 100, 100]
"##;
    let (ok, report) = drawn(&format!("```mermaid\n{chart}```\n"));
    assert!(!ok, "{report}");
    let failures = failures(&report);
    let dark_contrast = failures.iter().any(|f| f.starts_with("\"dark\"") && f.contains("under 4.5:1"));
    let overlap = failures.iter().any(|f| f.contains("labels") && f.contains("overlap"));
    assert!(dark_contrast && overlap, "{failures:#?}");
}

/// The Action names the pull request for kanari: `action/pull-request.sh` writes the event's
/// number and head commit to `$GITHUB_ENV` as `KANARI_PULL_REQUEST` and `KANARI_HEAD_COMMIT`,
/// keeps values the workflow set, and refuses what is not a number or a commit id.
#[test]
fn the_action_names_the_pull_request_and_its_head_commit() {
    let action = std::fs::read_to_string(project().join("action.yml")).unwrap();
    for line in [
        "PULL_REQUEST: ${{ github.event.pull_request.number }}",
        "HEAD_COMMIT: ${{ github.event.pull_request.head.sha }}",
        "run: bash \"$GITHUB_ACTION_PATH/action/pull-request.sh\"",
    ] {
        assert!(action.contains(line), "action.yml has no `{line}`");
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        let file = dir.path().join("github-env");
        let _ = std::fs::remove_file(&file);
        let mut cmd = Command::new("bash");
        cmd.arg(project().join("action/pull-request.sh")).env("GITHUB_ENV", &file);
        cmd.env_remove("KANARI_PULL_REQUEST").env_remove("KANARI_HEAD_COMMIT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read_to_string(&file).unwrap_or_default()
    };
    let sha = "9f20f37b6c0de5ab3c1d2e4f5a6b7c8d9e0f1a2b";
    assert_eq!(
        run(&[("PULL_REQUEST", "42"), ("HEAD_COMMIT", sha)]),
        format!("KANARI_PULL_REQUEST=42\nKANARI_HEAD_COMMIT={sha}\n")
    );
    assert_eq!(
        run(&[("PULL_REQUEST", "42"), ("HEAD_COMMIT", sha), ("KANARI_PULL_REQUEST", "7")]),
        format!("KANARI_HEAD_COMMIT={sha}\n")
    );
    assert_eq!(run(&[("PULL_REQUEST", "42\nEVIL=1"), ("HEAD_COMMIT", "main")]), "");
}

/// A pull request that brings the first spec into a repository: the base has no specs folder,
/// and the release reads as added, not as a base that cannot be read.
#[test]
fn a_release_the_base_lacks_reads_as_added() {
    let repo = crate::fixture("bookinfo");
    let r = repo.path();
    let specs = std::fs::read_to_string(r.join("canaries/reviews.yaml")).unwrap();
    std::fs::remove_dir_all(r.join("canaries")).unwrap();
    git(r, &["init", "-q", "-b", "main"]);
    git(r, &["add", "-A"]);
    git(r, &["commit", "-q", "-m", "before kanari"]);
    std::fs::create_dir(r.join("canaries")).unwrap();
    std::fs::write(r.join("canaries/reviews.yaml"), specs).unwrap();
    let run = kanari_at(r, &["diff", "--base", "main", "--next", "--format", "markdown"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    insta::assert_snapshot!("release-added-markdown", run.stdout);
}

/// A pull request that deletes a release's spec says so, where the release's overlay stays; and
/// a pull request that changes specs alone (no overlay differs yet) is a change too, exit 1, so
/// the workflow posts its comment.
#[test]
fn a_removed_spec_and_a_spec_alone_read_as_changes() {
    let repo = at_90_10();
    let r = repo.path();
    let spec = std::fs::read_to_string(r.join("canaries/reviews.yaml")).unwrap();
    let details = spec
        .replacen("  name: reviews\n", "  name: details\n", 1)
        .replace("output: overlays/reviews", "output: overlays/details");
    std::fs::write(r.join("canaries/details.yaml"), details).unwrap();
    git(r, &["add", "-A"]);
    git(r, &["commit", "-q", "-m", "details"]);
    std::fs::remove_file(r.join("canaries/details.yaml")).unwrap();
    let run = kanari_at(r, &["diff", "--base", "main", "--format", "markdown"]);
    assert_eq!(run.code, 1, "a removed spec is a change: {}", run.stderr);
    insta::assert_snapshot!("spec-removed-markdown", run.stdout);
    let text = kanari_at(r, &["diff", "--base", "main"]);
    insta::assert_snapshot!("spec-removed-text", text.stdout);
    // A bake lengthened while the release stays at 90-10: no overlay differs, the spec does.
    git(r, &["checkout", "-q", "--", "canaries/details.yaml"]);
    edit(r, "duration: 30m", "duration: 1h");
    let run = kanari_at(r, &["diff", "--base", "main", "--format", "markdown"]);
    assert_eq!(run.code, 1, "a spec change is a change: {}", run.stdout);
    insta::assert_snapshot!("spec-alone-markdown", run.stdout);
}

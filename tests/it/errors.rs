//! Errors that point where the mistake is: a missing specs folder named the same way by every
//! command, a tab at its own line, a header name's caret on the key, problems across files with
//! both places, documents that are no Canary, outputs inside the specs folder, and regexes
//! checked against RE2 itself (PyPI's google-re2, which `.ci/run` installs).

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::{Run, Spec, Stage, git, kanari, kanari_ok, repo_with, tree};

const AUTHOR: &str = "CI <ci@example.com>";

/// `kanari -C repo ARGS...`.
fn run(repo: &Path, args: &[&str]) -> Run {
    let mut all = vec!["-C", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    kanari(repo, &all)
}

/// `files` as a Git repository with one commit.
fn committed(files: &[(&str, &str)]) -> tempfile::TempDir {
    let repo = repo_with(files);
    git(repo.path(), &["init", "-q", "-b", "main"]);
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "start"]);
    repo
}

/// The stage `half` of [`Spec::new`], to add to.
fn half() -> Stage {
    Stage::new("half").weight(50)
}

/// The six commands that read specs, as `(name, arguments)`.
const COMMANDS: [&[&str]; 6] =
    [&["lint"], &["plan"], &["render", "--stdout"], &["diff"], &["status"], &["promote", "--author", AUTHOR]];

#[test]
fn no_specs_is_one_sentence_and_exit_2_for_every_command() {
    let web = Spec::new("web").yaml();
    let moved = committed(&[("specs/web.yaml", &web), ("README.md", "docs\n")]);
    let none = committed(&[("README.md", "docs\n")]);
    let empty =
        committed(&[("canaries/README.md", "the specs will be here\n"), ("canaries/notes.yaml", "# none yet\n")]);
    let expected = "error: no Canary specs in `canaries/` (the specs folder; set another with --specs DIR)\n";
    let mut wrong = Vec::new();
    for (what, repo) in [("spec moved to specs/", &moved), ("no specs folder", &none), ("no Canary in it", &empty)] {
        let head = git(repo.path(), &["rev-parse", "HEAD"]);
        for args in COMMANDS {
            let r = run(repo.path(), args);
            if r.code != 2 || r.stderr != expected || !r.stdout.is_empty() {
                wrong.push(format!("{what}: kanari {args:?} exited {}:\n{}{}", r.code, r.stdout, r.stderr));
            }
        }
        assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]), head, "{what}: something was committed");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Named the other folder, every command works.
    let c = moved.path().to_str().unwrap();
    for args in [&["lint"][..], &["plan"], &["render", "--stdout"], &["status"]] {
        let mut all = vec!["-C", c, "--specs", "specs"];
        all.extend_from_slice(args);
        kanari_ok(moved.path(), &all);
    }
    let diff = kanari(moved.path(), &["-C", c, "--specs", "specs", "diff"]);
    assert_eq!(diff.code, 1, "the first overlay is a difference: {}", diff.stderr);
    kanari_ok(moved.path(), &["-C", c, "--specs", "./specs/", "promote", "--author", AUTHOR]);
    assert_eq!(git(moved.path(), &["log", "--format=%s", "-1"]).trim(), "web: promote (new) -> steady");

    // Specs in the work tree that are not committed yet: the commands that read the commit say so.
    let fresh = committed(&[("README.md", "docs\n")]);
    std::fs::create_dir_all(fresh.path().join("canaries")).unwrap();
    std::fs::write(fresh.path().join("canaries/web.yaml"), &web).unwrap();
    for args in [&["status"][..], &["promote", "--author", AUTHOR]] {
        let r = run(fresh.path(), args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.starts_with("error: no Canary specs in `canaries/` (the specs folder; set another with --specs DIR); the work tree has that folder but commit "),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn a_tab_in_indentation_is_reported_at_the_tab() {
    // The YAML parser reports this tab at `half`, the scalar on the line above.
    let text = Spec::new("web").yaml().replace("      weight: 50", "\t  weight: 50");
    let repo = repo_with(&[("canaries/x.yaml", &text)]);
    let r = run(repo.path(), &["lint"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("tab-in-flow-indentation", r.stderr);
    // In block indentation too, at the tab's own column (the parser says the column after it).
    let text = Spec::new("web").yaml().replace("  service: {port: 8080}", "  service:\n  \tport: 8080");
    let repo = repo_with(&[("canaries/x.yaml", &text)]);
    let r = run(repo.path(), &["lint"]);
    insta::assert_snapshot!("tab-in-block-indentation", r.stderr);
}

#[test]
fn a_bad_header_name_is_shown_at_its_key() {
    for (key, column) in [("End-User", 13), ("\":authority\"", 13)] {
        let matches = format!("match:\n        - headers:\n            {key}:\n              exact: jason");
        let text = Spec::new("web").stages([half().line(&matches)]).yaml();
        let repo = repo_with(&[("canaries/x.yaml", &text)]);
        let r = run(repo.path(), &["lint"]);
        assert_eq!(r.code, 2);
        let at = format!("canaries/x.yaml:15:{column}: header name `{}`", key.trim_matches('"'));
        assert!(r.stderr.starts_with(&format!("error: {at}")), "no `{at}` in:\n{}", r.stderr);
        insta::assert_snapshot!(format!("bad-header-name-{}", key.trim_matches(['"', ':'])), r.stderr);
    }
}

#[test]
fn yaml_errors_in_several_files_are_all_reported_by_every_command() {
    let repo = committed(&[
        ("canaries/a.yaml", &Spec::new("web").yaml().replace("weight: 50", "weight: [50")),
        ("canaries/b.yaml", &Spec::new("api").yaml().replace("  stable:", "  stable: {version: v1\n")),
        ("canaries/c.yaml", &Spec::new("cart").yaml()),
    ]);
    for args in COMMANDS {
        let r = run(repo.path(), args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        for at in ["canaries/a.yaml:12:15:", "canaries/b.yaml:", "2 problems found"] {
            assert!(r.stderr.contains(at), "{args:?}: no `{at}` in:\n{}", r.stderr);
        }
    }
}

#[test]
fn problems_across_files_show_both_places() {
    let (web, api) = (Spec::new("web"), Spec::new("api"));
    let cases = [
        (
            "a release defined twice",
            vec![("canaries/a.yaml", web.yaml()), ("canaries/b.yaml", web.yaml())],
            "error: canaries/b.yaml:4:9: release `shop/web` is defined twice: a release is one Canary document\n 4 |   name: web\n   |         ^\n note: canaries/a.yaml:4:9: `shop/web` is first defined here\n 4 |   name: web\n   |         ^\n",
        ),
        (
            "two releases writing one output",
            vec![
                ("canaries/a.yaml", web.clone().output("overlays/one").yaml()),
                ("canaries/b.yaml", api.clone().output("overlays/one").yaml()),
            ],
            "error: canaries/b.yaml:7:11: release `shop/api` writes to `overlays/one`, as release `shop/web` does: each release needs a folder of its own\n 7 |   output: overlays/one\n   |           ^\n note: canaries/a.yaml:7:11: release `shop/web` writes to `overlays/one`\n 7 |   output: overlays/one\n   |           ^\n",
        ),
        (
            "an output inside another's default one",
            vec![
                ("canaries/a.yaml", web.yaml()),
                ("canaries/b.yaml", api.clone().output("overlays/shop/web/api").yaml()),
            ],
            "error: canaries/b.yaml:7:11: release `shop/api` writes to `overlays/shop/web/api`, inside the output `overlays/shop/web` of release `shop/web`: each release needs a folder of its own\n 7 |   output: overlays/shop/web/api\n   |           ^\n note: canaries/a.yaml:4:9: release `shop/web` writes to `overlays/shop/web`\n 4 |   name: web\n   |         ^\n",
        ),
    ];
    for (what, files, expected) in cases {
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let repo = repo_with(&files);
        let r = run(repo.path(), &["lint"]);
        assert_eq!(r.code, 2, "{what}");
        assert_eq!(r.stderr, format!("{expected}1 problem found\n"), "{what}");
    }
}

#[test]
fn a_document_that_is_no_canary_says_what_it_is() {
    let configmap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-settings}\ndata: {a: b}\n";
    let text = format!("{}---\n{configmap}", Spec::new("web").yaml());
    let repo = repo_with(&[("canaries/x.yaml", &text)]);
    let r = run(repo.path(), &["lint"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("a-configmap-among-the-specs", r.stderr);
    // Shaped like a Canary, of another kind or version.
    let rollout = Spec::new("web").yaml().replace("kind: Canary", "kind: Rollout");
    let repo = repo_with(&[("canaries/x.yaml", &rollout)]);
    let r = run(repo.path(), &["lint"]);
    insta::assert_snapshot!("a-rollout-among-the-specs", r.stderr);
}

#[test]
fn an_output_inside_the_specs_folder_is_refused_at_its_line() {
    let inside = Spec::new("web").output("canaries/web").yaml();
    let repo = committed(&[("canaries/x.yaml", &inside)]);
    let head = git(repo.path(), &["rev-parse", "HEAD"]);
    let before = tree(repo.path());
    for args in [&["lint"][..], &["render"], &["promote", "--author", AUTHOR]] {
        let r = run(repo.path(), args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("canaries/x.yaml:7:11: spec.output `canaries/web` is inside the specs folder `canaries`"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]), head);
    assert_eq!(tree(repo.path()), before);

    // The default output, with --specs pointing at the overlays: at metadata.name.
    let repo = repo_with(&[("overlays/x.yaml", &Spec::new("web").yaml())]);
    let r = run(repo.path(), &["--specs", "overlays", "lint"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("default-output-inside-the-specs-folder", r.stderr);
    // Nor may an output hold the specs folder.
    let holding = Spec::new("web").output("config").yaml();
    let repo = repo_with(&[("config/canaries/x.yaml", &holding)]);
    let r = run(repo.path(), &["--specs", "config/canaries", "lint"]);
    insta::assert_snapshot!("output-holding-the-specs-folder", r.stderr);
}

// ---------------------------------------------------------------------------------------------
// Regexes against RE2.

/// What a regex is, for kanari and for RE2.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    /// Both accept it, and read it alike: the samples match the same under both.
    Same,
    /// RE2 refuses it; kanari must too.
    Re2Refuses,
    /// RE2 accepts it but reads it as something else than Rust's `regex` does (a sample shows
    /// it); kanari refuses it.
    ReadOtherwise,
    /// RE2 accepts it; kanari refuses it anyway, on purpose (see `src/re2.rs`).
    Stricter,
}
use Verdict::*;

/// (regex, verdict, sample strings)
const REGEXES: &[(&str, Verdict, &[&str])] = &[
    (r"^/api/v\d+/", Same, &["/api/v2/x", "/api/v/x", "/api/v٣/x"]),
    (r"^\w+@\w+$", Same, &["a@b", "é@b", "a_1@b"]),
    (r"\bfoo\b", Same, &["a foo b", "éfooé", "xfoo"]),
    (r"a\sb", Same, &["a b", "a\u{b}b", "a\u{a0}b", "a\tb"]),
    (r"[\d\s]+x", Same, &["1 x", "٣x", "x"]),
    (r"(?i)straße", Same, &["STRASSE", "STRAßE", "strasse"]),
    (r"(?i)k", Same, &["\u{212A}", "K", "x"]),
    (r"[[:alpha:]]+", Same, &["abc", "é", "1"]),
    (r"\pL\p{Lu}", Same, &["aÉ", "éa", "1A"]),
    (r"\p{Nd}\PL", Same, &["٣1", "1a"]),
    (r"\p{Any}", Same, &["x", ""]),
    (r"^a{1000}$", Same, &["a", ""]),
    (r"(a{10}){100}", Same, &["a"]),
    (r"(?P<n>x)(?<m>y)", Same, &["xy", "x"]),
    (r"(?s)a.b", Same, &["a\nb", "ab"]),
    (r"(?m)^b$", Same, &["a\nb\nc", "abc"]),
    (r"(?U)a+b", Same, &["aab", "b"]),
    (r"^(.*?;\s*)?(user=a\.b)(;.*)?$", Same, &["x=1; user=a.b", "user=axb"]),
    (r"\x{1F600}|\x41", Same, &["😀", "A", "a"]),
    (r"[^a-z\-]", Same, &["-", "a", "Z"]),
    (r"\Aab\z", Same, &["ab", "ab\n"]),
    (r"a$", Same, &["a\n", "a"]),
    (r"(?i:A)b|c", Same, &["ab", "aB", "c"]),
    (r"[\]a]", Same, &["]", "a", "b"]),
    (r"a{1001}", Re2Refuses, &[]),
    (r"(a{100}){11}", Re2Refuses, &[]),
    (r"((a{10}){10}){11}", Re2Refuses, &[]),
    (r"a**", Re2Refuses, &[]),
    (r"a++", Re2Refuses, &[]),
    (r"(?x)a b", Re2Refuses, &[]),
    (r"(?-u:a)", Re2Refuses, &[]),
    (r"(?R)^a$", Re2Refuses, &[]),
    (r"\u0041", Re2Refuses, &[]),
    (r"\p{sc=Greek}", Re2Refuses, &[]),
    (r"(?<a.b>x)", Re2Refuses, &[]),
    (r"a(b", Re2Refuses, &[]),
    (r"[a-z&&[^aeiou]]", ReadOtherwise, &["b", "a", "b]"]),
    (r"[a-z--[aeiou]]", ReadOtherwise, &["b", "b]"]),
    (r"[a~~b]", ReadOtherwise, &["~", "a"]),
    (r"[[a]]", ReadOtherwise, &["a", "a]"]),
    (r"\b{start}foo", ReadOtherwise, &["foo", "{start}foo"]),
    (r"foo\b{end}", ReadOtherwise, &["foo"]),
    (r"\<foo\>", ReadOtherwise, &["foo", "<foo>"]),
    (r"\p{Greek}", Stricter, &[]),
    (r"a{,3}", Stricter, &[]),
    (r"\Q.\E", Stricter, &[]),
    (r"\C", Stricter, &[]),
];

/// For each regex: whether RE2 compiles it, and whether it finds a match in each sample.
fn re2_answers(cases: &[(&str, &[&str])]) -> Vec<(bool, Vec<bool>)> {
    const SCRIPT: &str = r#"
import json, sys
import re2
out = []
for case in json.load(sys.stdin):
    try:
        r = re2.compile(case["re"])
    except Exception:
        out.append({"ok": False, "found": []})
        continue
    out.append({"ok": True, "found": [r.search(s) is not None for s in case["samples"]]})
json.dump(out, sys.stdout)
"#;
    let input: Vec<Value> = cases.iter().map(|(re, samples)| json!({"re": re, "samples": samples})).collect();
    let mut child = Command::new(crate::tools::python3_with(&["re2"]))
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    serde_json::to_writer(child.stdin.take().unwrap(), &input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 with google-re2 failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    answers
        .iter()
        .map(|a| {
            let found = a["found"].as_array().unwrap().iter().map(|f| f.as_bool().unwrap()).collect();
            (a["ok"].as_bool().unwrap(), found)
        })
        .collect()
}

/// A regex as kanari reads it, written for Rust's `regex`: RE2's `\d`, `\s`, `\w` and `\b` are
/// ASCII-only, Rust's are Unicode-aware.
fn as_kanari_reads(re: &str) -> String {
    let mut out = String::new();
    let mut chars = re.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(next) = chars.next() else { break };
        match next {
            'd' => out.push_str("[0-9]"),
            'D' => out.push_str("[^0-9]"),
            'w' => out.push_str("[0-9A-Za-z_]"),
            'W' => out.push_str("[^0-9A-Za-z_]"),
            's' => out.push_str(r"[\t\n\f\r ]"),
            'S' => out.push_str(r"[^\t\n\f\r ]"),
            'b' => out.push_str(r"(?-u:\b)"),
            'B' => out.push_str(r"(?-u:\B)"),
            _ => {
                out.push('\\');
                out.push(next);
            }
        }
    }
    out
}

#[test]
fn regexes_mean_what_re2_will_do() {
    // Every regex on a line of its own, as a uri match of one stage; one lint run says which
    // lines kanari refuses.
    let quote = |re: &str| format!("'{}'", re.replace('\'', "''"));
    let first_line = Spec::new("web").yaml().lines().count() as u64 + 4;
    let entries: Vec<String> =
        REGEXES.iter().map(|(re, _, _)| format!("        - uri: {{regex: {}}}", quote(re))).collect();
    let matched = Stage::new("matched").weight(60).line(&format!("match:\n{}", entries.join("\n")));
    let text = Spec::new("web").stage(matched).yaml();
    let repo = repo_with(&[("canaries/x.yaml", &text)]);
    let r = run(repo.path(), &["lint"]);
    let refused = |i: usize| r.stderr.contains(&format!("canaries/x.yaml:{}:", first_line + i as u64));

    let cases: Vec<(&str, &[&str])> = REGEXES.iter().map(|(re, _, samples)| (*re, *samples)).collect();
    let re2 = re2_answers(&cases);
    let mut wrong = Vec::new();
    for (i, ((re, verdict, samples), (re2_ok, re2_found))) in REGEXES.iter().zip(&re2).enumerate() {
        let kanari_ok = !refused(i);
        if kanari_ok != (*verdict == Same) {
            wrong.push(format!(
                "{re}: kanari {} it, expected {verdict:?}",
                if kanari_ok { "accepts" } else { "refuses" }
            ));
        }
        if *re2_ok != (*verdict != Re2Refuses) {
            wrong.push(format!("{re}: RE2 {} it, expected {verdict:?}", if *re2_ok { "accepts" } else { "refuses" }));
        }
        match verdict {
            Same => {
                let rust = regex::Regex::new(&as_kanari_reads(re)).unwrap();
                for (sample, found) in samples.iter().zip(re2_found) {
                    if rust.is_match(sample) != *found {
                        wrong.push(format!("{re} on {sample:?}: RE2 says {found}, kanari's reading does not"));
                    }
                }
            }
            ReadOtherwise => {
                let rust = regex::Regex::new(re).unwrap();
                if samples.iter().zip(re2_found).all(|(s, found)| rust.is_match(s) == *found) {
                    wrong.push(format!("{re}: no sample shows that RE2 reads it otherwise than Rust"));
                }
            }
            Re2Refuses | Stricter => {}
        }
    }
    assert!(wrong.is_empty(), "{}\n\nkanari said:\n{}", wrong.join("\n"), r.stderr);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("`a{1001}` repeats more than 1000 times, RE2's limit"), "{}", r.stderr);
    assert!(r.stderr.contains("RE2 reads as plain characters"), "{}", r.stderr);
}

#[test]
fn a_regex_problem_is_shown_at_what_re2_reads_otherwise() {
    let text = Spec::new("web").stages([half().matches("[{uri: {regex: '^/x[a-z&&[^aeiou]]'}}]")]).yaml();
    let repo = repo_with(&[("canaries/x.yaml", &text)]);
    let r = run(repo.path(), &["lint"]);
    assert!(
        r.stderr.contains("canaries/x.yaml:13:37: uri: the regex is not one Envoy reads the same way"),
        "{}",
        r.stderr
    );
}

#[test]
fn regex_lengths_are_in_characters() {
    let with = |re: &str| Spec::new("web").stages([half().matches(&format!("[{{uri: {{regex: '{re}'}}}}]"))]).yaml();
    // 601 characters, 1,201 bytes: within Istio's 1,024.
    let re = format!("a{}", "é".repeat(600));
    let repo = repo_with(&[("canaries/x.yaml", &with(&re))]);
    kanari_ok(repo.path(), &["-C", repo.path().to_str().unwrap(), "lint"]);
    let re = "é".repeat(1025);
    let repo = repo_with(&[("canaries/x.yaml", &with(&re))]);
    let r = run(repo.path(), &["lint"]);
    assert!(r.stderr.contains("uri: the regex is 1025 characters long; Istio allows at most 1024"), "{}", r.stderr);
}

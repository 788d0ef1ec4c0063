//! Hostile input: a table of repositories built to make kanari write where it must not, blow up
//! its memory or time, or commit something Istio would break on. Each case must end with exit
//! code 2, a message that names the problem and where it is (`file:line:column` for spec
//! problems, the path for filesystem ones), and nothing changed inside the repository or in a
//! folder outside it that symlinks point to. Every run is bounded in time, so a hang fails the
//! case instead of the suite.
//!
//! Then `render` killed with SIGKILL at many moments: every file of the overlay is whole, the old
//! one or the new one, and the next render repairs everything.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Spec, Stage, kanari_command, kanari_ok, kustomize, project, tree};

/// The spec every case starts from: the smallest one, writing to `overlays/web`.
fn good() -> Spec {
    Spec::new("web").output("overlays/web")
}

/// A run's outcome; `None` as the code when it had to be killed.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs kanari in `repo`, killing it after `limit`.
fn run_bounded(repo: &Path, args: &[&str], limit: Duration) -> Outcome {
    let logs = tempfile::tempdir().unwrap();
    let (out, err) = (logs.path().join("out"), logs.path().join("err"));
    let mut all = vec!["-C", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut child = kanari_command(repo, &all, &[])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("failed to start kanari");
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status.code().unwrap_or(-1));
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    Outcome { code, stdout: read(&out), stderr: read(&err) }
}

/// A hostile case: how to build it, what to run, and what the message must hold. In `expect`,
/// `{repo}` and `{outside}` stand for the two folders.
struct Case {
    name: &'static str,
    setup: fn(&Path, &Path),
    runs: &'static [&'static [&'static str]],
    expect: &'static [&'static str],
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn spec(repo: &Path, text: &str) {
    write(&repo.join("canaries/x.yaml"), text);
}

/// The good spec, rendered once so that `overlays/web` is an overlay kanari wrote.
fn rendered(repo: &Path) {
    spec(repo, &good().yaml());
    kanari_ok(repo, &["-C", repo.to_str().unwrap(), "render", "--stage", "half"]);
}

fn symlink(target: &Path, link: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// Runs every case and reports every one that failed, not just the first.
fn run_cases(cases: &[Case]) {
    run_cases_within(cases, Duration::from_secs(120));
}

/// [`run_cases`], each run killed (and the case failed) after `limit`.
fn run_cases_within(cases: &[Case], limit: Duration) {
    let mut wrong = Vec::new();
    for case in cases {
        let repo = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        write(&outside.path().join("victim.txt"), "precious\n");
        write(&outside.path().join("dir/keep.yaml"), "kind: Keep\n");
        (case.setup)(repo.path(), outside.path());
        let before = (tree(repo.path()), tree(outside.path()));
        for args in case.runs {
            let run = run_bounded(repo.path(), args, limit);
            let what = format!("{}: kanari {}", case.name, args.join(" "));
            match run.code {
                None => wrong.push(format!("{what}: still running after {limit:?} (killed)")),
                Some(2) => {}
                Some(code) => wrong.push(format!("{what}: exit {code}, not 2:\n{}{}", run.stdout, run.stderr)),
            }
            for expected in case.expect {
                let expected = expected
                    .replace("{repo}", &repo.path().display().to_string())
                    .replace("{outside}", &outside.path().display().to_string());
                if !run.stderr.contains(&expected) {
                    wrong.push(format!("{what}: no `{expected}` in:\n{}", run.stderr));
                }
            }
            if !run.stdout.is_empty() {
                wrong.push(format!("{what}: printed on stdout:\n{}", run.stdout));
            }
            if tree(repo.path()) != before.0 {
                wrong.push(format!("{what}: changed the repository"));
            }
            if tree(outside.path()) != before.1 {
                wrong.push(format!("{what}: changed a folder outside the repository"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} problem(s):\n\n{}", wrong.len(), wrong.join("\n\n"));
}

const RENDERS: &[&[&str]] = &[&["render"], &["render", "--stage", "half"], &["render", "--stage", "steady"]];
const SPEC_RUNS: &[&[&str]] = &[&["lint"], &["render"], &["render", "--stage", "half"], &["plan"]];

#[test]
fn hostile_filesystems_are_refused_and_left_alone() {
    let cases = [
        Case {
            name: "a symlinked parent of the output, pointing outside",
            setup: |repo, outside| {
                spec(repo, &good().yaml());
                symlink(outside, &repo.join("overlays"));
            },
            runs: RENDERS,
            expect: &["`{repo}/overlays` is a symlink"],
        },
        Case {
            name: "the output folder itself a symlink",
            setup: |repo, outside| {
                spec(repo, &good().yaml());
                symlink(&outside.join("dir"), &repo.join("overlays/web"));
            },
            runs: RENDERS,
            expect: &["`{repo}/overlays/web` is a symlink"],
        },
        Case {
            name: "a symlinked parent inside the repository",
            setup: |repo, _| {
                spec(repo, &good().yaml());
                std::fs::create_dir_all(repo.join("real")).unwrap();
                symlink(Path::new("real"), &repo.join("overlays"));
            },
            runs: RENDERS,
            expect: &["`{repo}/overlays` is a symlink"],
        },
        Case {
            name: "a symlinked output file",
            setup: |repo, outside| {
                rendered(repo);
                let file = repo.join("overlays/web/deployment-web-v2.yaml");
                std::fs::remove_file(&file).unwrap();
                symlink(&outside.join("victim.txt"), &file);
            },
            runs: RENDERS,
            expect: &["`{repo}/overlays/web/deployment-web-v2.yaml`", "symlink"],
        },
        Case {
            name: "a symlinked kustomization.yaml",
            setup: |repo, outside| {
                rendered(repo);
                let file = repo.join("overlays/web/kustomization.yaml");
                std::fs::rename(&file, outside.join("kustomization.yaml")).unwrap();
                symlink(&outside.join("kustomization.yaml"), &file);
            },
            runs: RENDERS,
            expect: &["`{repo}/overlays/web/kustomization.yaml`", "symlink"],
        },
        Case {
            name: "a dangling symlink named like kanari's temporary file",
            setup: |repo, outside| {
                rendered(repo);
                symlink(&outside.join("new.txt"), &repo.join("overlays/web/.kanari-1-service-web.yaml.tmp"));
            },
            runs: RENDERS,
            expect: &["{repo}/overlays/web/.kanari-1-service-web.yaml.tmp"],
        },
        Case {
            name: "a foreign file in the overlay",
            setup: |repo, _| {
                rendered(repo);
                write(&repo.join("overlays/web/notes.txt"), "mine\n");
            },
            runs: RENDERS,
            expect: &["`{repo}/overlays/web/notes.txt`", "kanari did not write"],
        },
        Case {
            name: "a foreign folder in the overlay",
            setup: |repo, _| {
                rendered(repo);
                write(&repo.join("overlays/web/extra/x.yaml"), "kind: X\n");
            },
            runs: RENDERS,
            expect: &["`{repo}/overlays/web/extra`", "kanari did not write"],
        },
        Case {
            name: "an output folder kanari did not create",
            setup: |repo, _| {
                spec(repo, &good().yaml());
                write(&repo.join("overlays/web/deployment.yaml"), "kind: Deployment\n");
            },
            runs: RENDERS,
            expect: &["`{repo}/overlays/web/deployment.yaml`", "kanari did not write"],
        },
        Case {
            name: "a kustomization.yaml that lists a file outside the overlay",
            setup: |repo, _| {
                rendered(repo);
                let k = repo.join("overlays/web/kustomization.yaml");
                let text =
                    std::fs::read_to_string(&k).unwrap().replace("resources:\n", "resources:\n  - ../../x.yaml\n");
                std::fs::write(k, text).unwrap();
            },
            runs: RENDERS,
            expect: &["{repo}/overlays/web/kustomization.yaml", "../../x.yaml"],
        },
        Case {
            name: "--out a symlink",
            setup: |repo, outside| {
                spec(repo, &good().yaml());
                symlink(&outside.join("dir"), &repo.join("out"));
            },
            runs: &[&["render", "--out", "out"], &["render", "--all-stages", "--out", "out"]],
            expect: &["out` is a symlink"],
        },
    ];
    run_cases(&cases);
}

/// A YAML alias bomb: ten levels of ten aliases each, a billion leaves if expanded.
fn billion_laughs() -> String {
    let mut s = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        s.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    let indented: String = s.lines().map(|l| format!("  {l}\n")).collect();
    good().template(&format!("metadata:\n{indented}")).yaml()
}

#[test]
fn hostile_specs_are_refused_with_their_place() {
    let cases = [
        Case {
            name: "`../` in the output",
            setup: |repo, _| spec(repo, &good().output("overlays/../../escape").yaml()),
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:7:11:", "may not contain `..`"],
        },
        Case {
            name: "`..` alone as the output",
            setup: |repo, _| spec(repo, &good().output("..").yaml()),
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:7:11:", "may not contain `..`"],
        },
        Case {
            name: "an absolute output",
            setup: |repo, _| spec(repo, &good().output("/tmp/escape").yaml()),
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:7:11:", "relative"],
        },
        Case {
            name: "output into .git",
            setup: |repo, _| spec(repo, &good().output(".git/hooks").yaml()),
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:7:11:", "`.git`"],
        },
        Case {
            name: "output into .GIT deeper down, any case",
            setup: |repo, _| spec(repo, &good().output("overlays/.GiT/x").yaml()),
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:7:11:", "`.git`"],
        },
        Case {
            name: "a billion-laughs spec",
            setup: |repo, _| spec(repo, &billion_laughs()),
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:", "alias"],
        },
        Case {
            name: "100,000-deep nesting of sequences",
            setup: |repo, _| {
                let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
                spec(repo, &good().template_inline(&deep).yaml());
            },
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:11:", "nest"],
        },
        Case {
            name: "100,000-deep nesting of mappings",
            setup: |repo, _| {
                let deep = format!("{}x{}", "{a: ".repeat(100_000), "}".repeat(100_000));
                spec(repo, &good().template_inline(&deep).yaml());
            },
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:11:", "nest"],
        },
        Case {
            name: "a 64 MiB spec",
            setup: |repo, _| {
                use std::io::Write;
                let mut f = std::fs::File::create({
                    std::fs::create_dir_all(repo.join("canaries")).unwrap();
                    repo.join("canaries/x.yaml")
                })
                .unwrap();
                f.write_all(good().yaml().as_bytes()).unwrap();
                let line = format!("# {}\n", "x".repeat(1022));
                for _ in 0..64 * 1024 {
                    f.write_all(line.as_bytes()).unwrap();
                }
            },
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:1:1:", "larger than 1024 KiB"],
        },
        Case {
            name: "a 64 MiB spec on one line",
            setup: |repo, _| spec(repo, &good().canary("v2", &"w".repeat(64 << 20)).yaml()),
            runs: &[&["lint"], &["render"]],
            expect: &["canaries/x.yaml:1:1:", "larger than 1024 KiB"],
        },
        Case {
            name: "duplicate keys",
            setup: |repo, _| spec(repo, &good().line("output: elsewhere").yaml()),
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:8:3:", "duplicate key `"],
        },
        Case {
            name: "duplicate keys in a header match",
            setup: |repo, _| {
                let half = Stage::new("half").weight(50).matches("[{headers: {a: {exact: x}, a: {exact: y}}}]");
                spec(repo, &good().stages([half]).yaml())
            },
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:14:41:", "duplicate key `"],
        },
        Case {
            name: "duplicate keys in the pod template",
            setup: |repo, _| {
                let template = "spec:\n  containers: [{name: web}]\n  containers: [{name: evil}]";
                spec(repo, &good().template(template).yaml())
            },
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:14:7:", "duplicate key `"],
        },
    ];
    run_cases(&cases);
}

/// The built-in VirtualService template with every weighted route sent to subset `v9`, which
/// no DestinationRule defines.
fn missing_subset_template(repo: &Path, _: &Path) {
    spec(repo, &good().yaml());
    let builtin = std::fs::read_to_string(project().join("templates/virtualservice.yaml.j2")).unwrap();
    let from = "subset: {{ dest.subset | yaml }}";
    assert!(builtin.contains(from), "the built-in template changed: {builtin}");
    write(&repo.join(".kanari/templates/virtualservice.yaml.j2"), &builtin.replace(from, "subset: v9"));
}

#[test]
fn a_route_to_a_missing_subset_is_refused() {
    run_cases(&[Case {
        name: "a template override that routes to subset v9",
        setup: missing_subset_template,
        runs: &[&["lint"], &["render"], &["render", "--stage", "half"], &["render", "--stage", "half", "--stdout"]],
        expect: &["overlays/web/virtualservice-web.yaml:", "subset `v9`"],
    }]);
}

/// Istio's admission webhook rejects a VirtualService bound to the mesh with the host `*`, and
/// one whose hosts repeat or overlap; kanari must refuse such specs at their place.
#[test]
fn hosts_istio_would_reject_are_refused() {
    let cases = [
        Case {
            name: "the wildcard host `*` on the mesh",
            setup: |repo, _| spec(repo, &good().hosts(&["\"*\""]).yaml()),
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:8:", "*"],
        },
        Case {
            name: "a host listed twice",
            setup: |repo, _| spec(repo, &good().hosts(&["web", "web"]).yaml()),
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:8:", "web"],
        },
        Case {
            name: "a host that a wildcard host already covers",
            setup: |repo, _| spec(repo, &good().hosts(&["\"*.example.com\"", "a.example.com"]).yaml()),
            runs: SPEC_RUNS,
            expect: &["canaries/x.yaml:8:", "a.example.com"],
        },
    ];
    run_cases(&cases);
}

/// The issue asks that no output path component be a submodule: an overlay written inside one
/// would be committed to the wrong repository (or not at all).
#[test]
fn output_into_a_submodule_is_refused() {
    run_cases(&[Case {
        name: "output inside a nested repository (a submodule's work tree)",
        setup: |repo, _| {
            spec(repo, &good().output("vendor/sub/overlay").yaml());
            write(&repo.join("vendor/sub/.git"), "gitdir: ../../.git/modules/sub\n");
        },
        runs: RENDERS,
        expect: &["vendor/sub", "submodule"],
    }]);
}

/// A FIFO where a spec or template should be must be an error, not a read that never ends.
#[test]
fn special_files_in_place_of_inputs_do_not_hang() {
    fn fifo(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
        assert!(status.success());
    }
    run_cases_within(
        &[
            Case {
                name: "a FIFO as a spec file",
                setup: |repo, _| {
                    spec(repo, &good().yaml());
                    fifo(&repo.join("canaries/y.yaml"));
                },
                runs: &[&["lint"]],
                expect: &["canaries/y.yaml"],
            },
            Case {
                name: "a FIFO as a template override",
                setup: |repo, _| {
                    spec(repo, &good().yaml());
                    fifo(&repo.join(".kanari/templates/service.yaml.j2"));
                },
                runs: &[&["lint"]],
                expect: &["service.yaml.j2"],
            },
        ],
        Duration::from_secs(5),
    );
}

/// A hard link in the overlay to a file outside is replaced, never written through: kanari
/// writes a temporary file and renames it over the old one.
#[test]
fn a_hard_link_in_the_overlay_is_replaced_not_written_through() {
    let repo = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    rendered(repo.path());
    let file = repo.path().join("overlays/web/virtualservice-web.yaml");
    let victim = outside.path().join("victim.yaml");
    std::fs::rename(&file, &victim).unwrap();
    std::fs::hard_link(&victim, &file).unwrap();
    let before = std::fs::read(&victim).unwrap();
    kanari_ok(repo.path(), &["-C", repo.path().to_str().unwrap(), "render", "--stage", "steady"]);
    assert_eq!(std::fs::read(&victim).unwrap(), before, "kanari wrote through a hard link");
    assert_ne!(std::fs::read(&file).unwrap(), before, "the overlay's file was not updated");
}

// ---------------------------------------------------------------------------------------------
// SIGKILL at random moments.

fn is_temporary(name: &str) -> bool {
    name.starts_with(".kanari-") && name.ends_with(".tmp")
}

/// The overlay's files by name (temporary files left out).
fn overlay_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| !is_temporary(name))
        .map(|(name, path)| (name, std::fs::read(path).unwrap()))
        .collect()
}

/// Renders `stages` in turn into the bookinfo overlay, killing each run after a delay of 0 to
/// 20 ms, and checks after each kill that every file is whole: byte for byte the rendering of one
/// of the two stages. Returns the problems found.
fn kill_renders(stages: [&str; 2], iterations: u32) -> Vec<String> {
    let repo = crate::fixture("bookinfo");
    let root = repo.path().to_str().unwrap().to_string();
    let overlay = repo.path().join("overlays/reviews");
    let render = |stage: &str| kanari_ok(repo.path(), &["-C", &root, "render", "--stage", stage]);

    // What each stage's overlay is, written by uninterrupted runs.
    let expected: Vec<_> = stages
        .iter()
        .map(|stage| {
            render(stage);
            overlay_files(&overlay)
        })
        .collect();
    assert_ne!(expected[0], expected[1]);

    let mut wrong = Vec::new();
    let mut killed = 0;
    for i in 0..iterations {
        let stage = stages[(i % 2) as usize];
        // A delay from the iteration number alone: the same moments on every run.
        let delay = Duration::from_micros(u64::from(i.wrapping_mul(2_654_435_761) % 20_001));
        let mut child = kanari_command(repo.path(), &["-C", &root, "render", "--stage", stage], &[])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap();
        if finished.is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        let output = child.wait_with_output().unwrap();
        if let Some(status) = finished
            && !status.success()
        {
            wrong.push(format!(
                "iteration {i}: `render --stage {stage}` failed ({status}) after an earlier kill:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }

        let files = overlay_files(&overlay);
        for (name, bytes) in &files {
            if !expected.iter().any(|e| e.get(name) == Some(bytes)) {
                let lens: Vec<Option<usize>> = expected.iter().map(|e| e.get(name).map(Vec::len)).collect();
                wrong.push(format!(
                    "iteration {i} (killed after {delay:?}): `{name}` is neither stage's file ({} bytes; expected {lens:?})",
                    bytes.len()
                ));
            }
        }
        let k = String::from_utf8_lossy(&files["kustomization.yaml"]).into_owned();
        let listed: Vec<&str> = k.lines().filter_map(|l| l.strip_prefix("  - ")).collect();
        for name in &listed {
            if is_temporary(name) {
                wrong.push(format!("iteration {i}: kustomization.yaml lists the temporary file `{name}`"));
            } else if !files.contains_key(*name) {
                wrong.push(format!("iteration {i}: kustomization.yaml lists `{name}`, which is missing"));
            }
        }
        if wrong.len() > 20 {
            break;
        }
    }
    assert!(killed > 0, "no run was killed: the delays are too long for this machine");

    // One uninterrupted render repairs everything: exactly the expected overlay, no leftovers.
    let last = stages[0];
    let run = crate::kanari(repo.path(), &["-C", &root, "render", "--stage", last]);
    if run.code != 0 {
        wrong.push(format!("the final `render --stage {last}` failed:\n{}", run.stderr));
    }
    let on_disk: Vec<String> =
        std::fs::read_dir(&overlay).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    if let Some(t) = on_disk.iter().find(|n| is_temporary(n)) {
        wrong.push(format!("the final render left the temporary file `{t}`"));
    }
    if overlay_files(&overlay) != expected[0] {
        wrong.push(format!("after the final render the overlay is not the one of `{last}`"));
    } else {
        kustomize(&overlay);
    }
    wrong
}

/// The two moments of a render that a kill can land in and that the random kills below hit only
/// now and then, reproduced exactly: (1) a temporary file left while the overlay already holds
/// the target state, (2) a new file renamed into place before `kustomization.yaml` lists it.
/// The next render must repair both.
#[test]
fn the_next_render_repairs_what_a_kill_leaves() {
    let repo = crate::fixture("bookinfo");
    let root = repo.path().to_str().unwrap().to_string();
    let overlay = repo.path().join("overlays/reviews");
    let render = |stage: &str| crate::kanari(repo.path(), &["-C", &root, "render", "--stage", stage]);
    let mut wrong = Vec::new();

    assert_eq!(render("50-50").code, 0);
    let half = overlay_files(&overlay);
    assert_eq!(render("steady").code, 0);
    let steady = overlay_files(&overlay);

    // (1) A half-written temporary file, the overlay otherwise at `steady`.
    let tmp = overlay.join(".kanari-4242-deployment-reviews-v1.yaml.tmp");
    std::fs::write(&tmp, &half["deployment-reviews-v1.yaml"][..100]).unwrap();
    let run = render("steady");
    if run.code != 0 || tmp.exists() || overlay_files(&overlay) != steady {
        wrong.push(format!(
            "a leftover temporary file in an up-to-date overlay: exit {}, still there: {}\n{}",
            run.code,
            tmp.exists(),
            run.stderr
        ));
        let _ = std::fs::remove_file(&tmp);
    }

    // (2) Killed on the way from `steady` to `50-50`, after the canary's Deployment was renamed
    // into place and before the new kustomization.yaml was.
    std::fs::write(overlay.join("deployment-reviews-v2.yaml"), &half["deployment-reviews-v2.yaml"]).unwrap();
    for (stage, expected) in [("50-50", &half), ("steady", &steady)] {
        let run = render(stage);
        if run.code != 0 || overlay_files(&overlay) != *expected {
            wrong.push(format!(
                "a Deployment written just before a kill: `render --stage {stage}` exit {}:\n{}",
                run.code, run.stderr
            ));
            break;
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn killing_render_never_leaves_a_truncated_file() {
    // Two stages with the same files and different contents (weights, replicas).
    let wrong = kill_renders(["90-10", "50-50"], 30);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn killing_render_that_adds_and_removes_files_leaves_a_repairable_overlay() {
    // `steady` has no canary Deployment, `50-50` has one: a kill can land between writing a new
    // file and recording it in kustomization.yaml, or between dropping it from there and
    // deleting it.
    let wrong = kill_renders(["steady", "50-50"], 30);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

//! What an overlay may hold, whatever the repository's templates say: only the kinds kanari
//! makes, the kinds of the user's own `from:` manifests and those `spec.extraKinds` names; a
//! `kustomization.yaml` that lists files of the overlay itself and nothing else. And templates
//! are bounded data: a template folder that is a symlink out of the repository is refused, a
//! template that loops without end or writes megabytes ends with exit 2, naming the template.
//!
//! Each case runs the real binary against a real repository with its own template overrides;
//! every run is bounded by a watchdog, so a hang fails the case instead of the suite.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{Spec, git, kanari_command, kanari_ok, kustomize, project, tree};

/// Who promote commits as.
const IDENTITY: &[(&str, &str)] = &[("GIT_AUTHOR_NAME", "Dev"), ("GIT_AUTHOR_EMAIL", "dev@example.com")];

/// The repository's files but `.git`, and its `HEAD` commit: what a refused run leaves alone.
fn state(repo: &Path) -> (Vec<(std::path::PathBuf, Vec<u8>)>, String) {
    let files = tree(repo).into_iter().filter(|(p, _)| !p.starts_with(".git")).collect();
    (files, git(repo, &["rev-parse", "HEAD"]))
}

/// A run's outcome; `None` as the code when the watchdog had to kill it.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs kanari in `repo`, killed after 60 seconds.
fn run(repo: &Path, args: &[&str]) -> Outcome {
    let logs = tempfile::tempdir().unwrap();
    let (out, err) = (logs.path().join("out"), logs.path().join("err"));
    let mut all = vec!["-C", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut child = kanari_command(repo, &all, IDENTITY)
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
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    Outcome { code, stdout: read(&out), stderr: read(&err) }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn builtin(name: &str) -> String {
    std::fs::read_to_string(project().join("templates").join(name)).unwrap()
}

/// The smallest release, with a canary, writing to `overlays/web`.
fn spec() -> Spec {
    Spec::new("web").output("overlays/web")
}

/// A repository with `spec` in `canaries/x.yaml`, `templates` in `.kanari/templates` and any
/// other `files`, all committed on `main`.
fn repository(spec: &Spec, templates: &[(&str, &str)], files: &[(&str, &str)]) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    write(&repo.path().join("canaries/x.yaml"), &spec.yaml());
    for (name, text) in templates {
        write(&repo.path().join(".kanari/templates").join(name), text);
    }
    for (path, text) in files {
        write(&repo.path().join(path), text);
    }
    git(repo.path(), &["init", "-q", "-b", "main"]);
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "the release"]);
    repo
}

/// Commits everything in the work tree, symlinks as symlinks.
fn commit_all(repo: &Path) {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "templates"]);
}

const CLUSTER_ADMIN: &str = "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: owned\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n  - kind: ServiceAccount\n    name: default\n    namespace: default\n";

/// The built-in Deployment template with a cluster-admin ClusterRoleBinding after it.
fn deployment_with_binding() -> String {
    builtin("deployment.yaml.j2") + CLUSTER_ADMIN
}

/// Runs each of `runs` in `repo`: every one must exit 2 with every `expect` in its stderr,
/// print nothing on stdout and leave the repository (its commits too) as it was.
fn refused(what: &str, repo: &Path, runs: &[&[&str]], expect: &[&str], wrong: &mut Vec<String>) {
    let before = state(repo);
    for args in runs {
        let outcome = run(repo, args);
        let label = format!("{what}: kanari {}", args.join(" "));
        match outcome.code {
            None => wrong.push(format!("{label}: still running after 60s (killed)")),
            Some(2) => {}
            Some(code) => wrong.push(format!("{label}: exit {code}, not 2:\n{}{}", outcome.stdout, outcome.stderr)),
        }
        for e in expect {
            if !outcome.stderr.contains(e) {
                wrong.push(format!("{label}: no `{e}` in:\n{}", outcome.stderr));
            }
        }
        if !outcome.stdout.is_empty() {
            wrong.push(format!("{label}: printed on stdout:\n{}", outcome.stdout));
        }
        if state(repo) != before {
            wrong.push(format!("{label}: changed the repository or committed"));
        }
    }
}

const LINT_PROMOTE: &[&[&str]] = &[&["lint"], &["promote"], &["render", "--stdout"]];

#[test]
fn a_template_that_adds_a_cluster_role_binding_is_refused() {
    let repo = repository(&spec(), &[("deployment.yaml.j2", &deployment_with_binding())], &[]);
    let mut wrong = Vec::new();
    refused(
        "a ClusterRoleBinding from the Deployment template",
        repo.path(),
        LINT_PROMOTE,
        &[".kanari/templates/deployment.yaml.j2", "`ClusterRoleBinding`", "overlays/web/deployment-web-v1.yaml:"],
        &mut wrong,
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn extra_kinds_allow_more_and_the_overlay_builds() {
    let spec = spec().line("extraKinds: [ClusterRoleBinding]");
    let repo = repository(&spec, &[("deployment.yaml.j2", &deployment_with_binding())], &[]);
    let r = repo.path().to_str().unwrap();
    kanari_ok(repo.path(), &["-C", r, "lint"]);
    let before = git(repo.path(), &["rev-parse", "HEAD"]);
    kanari_ok(repo.path(), &["-C", r, "promote", "--author", "Dev <dev@example.com>"]);
    assert_ne!(git(repo.path(), &["rev-parse", "HEAD"]), before, "promote committed nothing");
    let built = kustomize(&repo.path().join("overlays/web"));
    assert!(built.contains("kind: ClusterRoleBinding"), "{built}");
    // What kanari committed, it reads back: the next promote and a diff accept it.
    kanari_ok(repo.path(), &["-C", r, "diff"]);
    kanari_ok(repo.path(), &["-C", r, "promote", "--author", "Dev <dev@example.com>"]);
    kanari_ok(repo.path(), &["-C", r, "status"]);
}

#[test]
fn extra_kinds_are_checked_at_their_place() {
    let spec = spec().line("extraKinds: [ConfigMap, \"bad kind\", ConfigMap]");
    let repo = repository(&spec, &[], &[]);
    let outcome = run(repo.path(), &["lint"]);
    assert_eq!(outcome.code, Some(2), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("canaries/x.yaml:8:27: "), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("`bad kind`"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("canaries/x.yaml:8:39: "), "{}", outcome.stderr);
}

/// The built-in kustomization template with `extra` after its resources.
fn kustomization_with(extra: &str) -> String {
    builtin("kustomization.yaml.j2") + extra
}

#[test]
fn a_kustomization_that_reaches_outside_the_overlay_is_refused() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("a remote resource", "\n  - https://example.com/evil.yaml\n", &["`https://example.com/evil.yaml`"]),
        (
            "a github resource",
            "\n  - github.com/evil/repo//rbac?ref=main\n",
            &["`github.com/evil/repo//rbac?ref=main`"],
        ),
        ("a resource above the overlay", "\n  - ../x.yaml\n", &["`../x.yaml`"]),
        ("a resource the overlay lacks", "\n  - missing.yaml\n", &["`missing.yaml`"]),
        (
            "a configMapGenerator",
            "\nconfigMapGenerator:\n  - name: stolen\n    files: [/etc/passwd]\n",
            &["`configMapGenerator`"],
        ),
        ("helmCharts", "\nhelmCharts:\n  - name: evil\n    repo: https://example.com/charts\n", &["`helmCharts`"]),
        ("generators", "\ngenerators:\n  - gen.yaml\n", &["`generators`"]),
        ("patches", "\npatches:\n  - path: p.yaml\n", &["`patches`"]),
    ];
    let mut wrong = Vec::new();
    for (what, extra, expect) in cases {
        let repo = repository(&spec(), &[("kustomization.yaml.j2", &kustomization_with(extra))], &[]);
        let mut all = vec![".kanari/templates/kustomization.yaml.j2", "overlays/web/kustomization.yaml:"];
        all.extend_from_slice(expect);
        refused(what, repo.path(), LINT_PROMOTE, &all, &mut wrong);
    }
    assert!(wrong.is_empty(), "{} problem(s):\n\n{}", wrong.len(), wrong.join("\n\n"));
}

#[test]
fn a_template_folder_that_is_a_symlink_out_of_the_repository_is_refused() {
    let elsewhere = tempfile::tempdir().unwrap();
    write(&elsewhere.path().join("deployment.yaml.j2"), &deployment_with_binding());
    let repo = repository(&spec(), &[], &[]);
    std::fs::create_dir_all(repo.path().join(".kanari")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), repo.path().join(".kanari/templates")).unwrap();
    commit_all(repo.path());
    let mut wrong = Vec::new();
    refused(
        "`.kanari/templates` a symlink out",
        repo.path(),
        LINT_PROMOTE,
        &[".kanari/templates`", "symlink"],
        &mut wrong,
    );
    // `--templates` naming a folder through a symlink out of the repository.
    std::fs::remove_file(repo.path().join(".kanari/templates")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), repo.path().join("tpl")).unwrap();
    commit_all(repo.path());
    refused(
        "`--templates tpl`, a symlink out",
        repo.path(),
        &[&["--templates", "tpl", "lint"]],
        &["symlink"],
        &mut wrong,
    );
    // A template file that is a symlink out of the folder.
    std::fs::remove_file(repo.path().join("tpl")).unwrap();
    std::fs::create_dir_all(repo.path().join(".kanari/templates")).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("deployment.yaml.j2"),
        repo.path().join(".kanari/templates/deployment.yaml.j2"),
    )
    .unwrap();
    commit_all(repo.path());
    refused("a template file symlinked out", repo.path(), LINT_PROMOTE, &["deployment.yaml.j2`"], &mut wrong);
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn a_template_that_runs_without_end_is_stopped() {
    let endless = "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}\n";
    let repo = repository(&spec(), &[("service.yaml.j2", endless)], &[]);
    let mut wrong = Vec::new();
    refused(
        "nested loops",
        repo.path(),
        &[&["lint"], &["promote"]],
        &[".kanari/templates/service.yaml.j2", "fuel"],
        &mut wrong,
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn a_template_that_writes_megabytes_is_stopped() {
    // 2 MiB in few steps: a long string repeated, well within the fuel.
    let huge = "data: {{ \"x\" * 2097152 }}\n";
    let repo = repository(&spec(), &[("service.yaml.j2", huge)], &[]);
    let mut wrong = Vec::new();
    refused(
        "2 MiB of output",
        repo.path(),
        &[&["lint"], &["promote"]],
        &[".kanari/templates/service.yaml.j2", "1 MiB"],
        &mut wrong,
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

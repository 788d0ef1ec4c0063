//! Bad specs: every one exits 2, names the file, line and column, and writes nothing.

use crate::{Spec, Stage, kanari, kanari_ok, repo_with, tree};

fn alias_bomb() -> String {
    let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        s.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    Spec::new("web").template(&format!("spec:\n  bomb:\n{}", indent(&s, 4))).yaml()
}

fn indent(text: &str, n: usize) -> String {
    text.lines().map(|l| format!("{}{l}\n", " ".repeat(n))).collect()
}

fn deep_nesting() -> String {
    Spec::new("web").template_inline(&format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))).yaml()
}

fn huge() -> String {
    let filler = format!("# {}\n", "x".repeat(1000));
    format!("{}{}", Spec::new("web").yaml(), filler.repeat(1100))
}

#[test]
fn bad_specs_exit_2_with_a_location_and_write_nothing() {
    /// A spec file, what the message says and where (`file:line:column`, or its start).
    struct Case {
        name: &'static str,
        text: String,
        says: &'static str,
        at: &'static str,
    }
    let case = |name, text, says, at| Case { name, text, says, at };
    let good = Spec::new("web");
    let half = || Stage::new("half").weight(50);
    let cases = [
        case(
            "weight over 100",
            good.clone().stages([Stage::new("half").weight(150)]).yaml(),
            "weight must be from 0 to 100",
            "x.yaml:12:15",
        ),
        case(
            "unknown field",
            good.clone().stages([Stage::new("half").line("weigth: 50")]).yaml(),
            "unknown field `weigth`",
            "x.yaml:12:7",
        ),
        case("duplicate key", good.clone().output("a").line("output: b").yaml(), "duplicate key `", "x.yaml:8:3"),
        case(
            "yes as a boolean",
            good.clone().stages([half().line("pause: {approval: yes}")]).yaml(),
            "true/false",
            "x.yaml:13:25",
        ),
        case("alias bomb", alias_bomb(), "alias", "x.yaml:"),
        case("deep nesting", deep_nesting(), "nest", "x.yaml:10:"),
        case("a file over 1 MiB", huge(), "larger than 1024 KiB", "x.yaml:1:1"),
        case("bad YAML", good.yaml().replace("  stages:", "  stages: [oops\n"), "", "x.yaml:"),
        case("output outside", good.clone().output("../../etc").yaml(), "may not contain `..`", "x.yaml:7:11"),
        case("output into .git", good.clone().output(".git/hooks").yaml(), "`.git`", "x.yaml:7:11"),
        case(
            "a regex that does not compile",
            good.clone().stages([half().matches("[{uri: {regex: 'a(b'}}]")]).yaml(),
            "does not compile",
            "x.yaml:13:29",
        ),
        case("a duplicate stage", good.clone().stage(Stage::new("half")).yaml(), "used twice", "x.yaml:13:13"),
        case("canary is stable", good.clone().canary("v1", "web:2").yaml(), "is the stable version", "x.yaml:9:21"),
        case(
            "the main image in the template",
            good.clone().template("spec:\n  containers: [{name: web, image: evil}]").yaml(),
            "leave it out of the template",
            "x.yaml:12:32",
        ),
        case(
            "a template label key Kubernetes refuses",
            good.clone().template("metadata:\n  labels: {\"team owner!\": web}").yaml(),
            "template label key `team owner!` is not valid",
            "x.yaml:12:16",
        ),
        case(
            "a template label value Kubernetes refuses",
            good.clone().template("metadata:\n  labels: {team: \"-web team\"}").yaml(),
            "template label `team` has the value `-web team`, which is not a valid label value",
            "x.yaml:12:22",
        ),
        case(
            "second document",
            format!("{}---\n{}", good.yaml(), Spec::new("api").port(99999).yaml()),
            "service.port must be from 1 to 65535",
            "x.yaml:20:19",
        ),
        case("a name too long for its Deployment", Spec::new(&"w".repeat(61)).yaml(), "longer than 63", "x.yaml:8:21"),
    ];
    let mut transcript = String::new();
    for Case { name, text, says, at } in cases {
        let repo = repo_with(&[("canaries/x.yaml", &text), ("canaries/y.yaml", &Spec::new("ok").yaml())]);
        let before = tree(repo.path());
        for args in [&["lint"][..], &["render"], &["render", "--stage", "half"], &["plan"]] {
            let mut all = vec!["-C", repo.path().to_str().unwrap()];
            all.extend_from_slice(args);
            let run = kanari(repo.path(), &all);
            assert_eq!(run.code, 2, "{name}: kanari {args:?} exited {}:\n{}", run.code, run.stderr);
            assert!(run.stderr.contains(&format!("canaries/{at}")), "{name}: no `{at}` in:\n{}", run.stderr);
            assert!(run.stderr.contains(says), "{name}: no `{says}` in:\n{}", run.stderr);
            if args == ["lint"] {
                // Whole, as a reader sees it; a line over 1,000 characters (the deep nesting's
                // source line) is cut to its first 200, marked `[…]`.
                let cut = |l: &str| match l.chars().count() > 1000 {
                    true => format!("{}[…]", l.chars().take(200).collect::<String>()),
                    false => l.to_string(),
                };
                let shown: Vec<String> = run.stderr.lines().map(cut).collect();
                transcript.push_str(&format!("## {name}\n{}\n\n", shown.join("\n")));
            }
            assert!(run.stdout.is_empty(), "{name}: printed {}", run.stdout);
            assert_eq!(tree(repo.path()), before, "{name}: kanari {args:?} changed the repository");
        }
    }
    insta::assert_snapshot!("bad-specs", transcript);
}

#[test]
fn every_problem_is_reported_at_once_with_its_source_line() {
    let text = Spec::new("web").canary("v2", "'a b'").stages([Stage::new("prepare").weight(150)]).yaml();
    let repo = repo_with(&[("canaries/x.yaml", &text)]);
    let run = kanari(repo.path(), &["-C", repo.path().to_str().unwrap(), "lint"]);
    assert_eq!(run.code, 2);
    for expected in ["x.yaml:9:32", "x.yaml:11:13", "x.yaml:12:15", "3 problems found"] {
        assert!(run.stderr.contains(expected), "no `{expected}` in:\n{}", run.stderr);
    }
    // The offending line is shown under its problem, with a caret under the column.
    assert!(run.stderr.contains(" 12 |       weight: 150\n    |               ^"), "{}", run.stderr);
}

#[test]
fn a_symlinked_spec_is_refused() {
    let repo = repo_with(&[("elsewhere/x.yaml", &Spec::new("web").yaml()), ("canaries/.keep", "")]);
    std::os::unix::fs::symlink(repo.path().join("elsewhere/x.yaml"), repo.path().join("canaries/x.yaml")).unwrap();
    let run = kanari(repo.path(), &["-C", repo.path().to_str().unwrap(), "lint"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("canaries/x.yaml:1:1: a spec file may not be a symlink"), "{}", run.stderr);
}

#[test]
fn a_good_repository_lints_clean() {
    let repo = repo_with(&[("canaries/x.yaml", &Spec::new("web").yaml())]);
    let run = kanari_ok(repo.path(), &["-C", repo.path().to_str().unwrap(), "lint"]);
    assert_eq!(run.stdout, "ok: 1 release, 4 states rendered\n");
}

#[test]
fn warnings_are_printed_and_fatal_with_deny_warnings() {
    let text = Spec::new("web").stage(Stage::new("back").weight(20)).yaml();
    let repo = repo_with(&[("canaries/x.yaml", &text)]);
    let c = repo.path().to_str().unwrap();
    let run = kanari_ok(repo.path(), &["-C", c, "lint"]);
    assert!(
        run.stderr.contains("warning: canaries/x.yaml:13:13: stage `back` lowers the canary's weight from 50% to 20%"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("1 warning"), "{}", run.stdout);
    let denied = kanari(repo.path(), &["-C", c, "--deny-warnings", "lint"]);
    assert_eq!(denied.code, 2);
    assert!(denied.stderr.contains("1 warning and --deny-warnings"), "{}", denied.stderr);
}

#[test]
fn a_template_that_routes_to_a_missing_subset_is_refused_before_writing() {
    let repo = repo_with(&[("canaries/x.yaml", &Spec::new("web").yaml())]);
    let builtin = std::fs::read_to_string(crate::project().join("templates/virtualservice.yaml.j2")).unwrap();
    let broken = builtin.replace("subset: {{ dest.subset | yaml }}", "subset: v9");
    std::fs::create_dir_all(repo.path().join(".kanari/templates")).unwrap();
    std::fs::write(repo.path().join(".kanari/templates/virtualservice.yaml.j2"), broken).unwrap();
    let before = tree(repo.path());
    for args in [&["render"][..], &["lint"]] {
        let mut all = vec!["-C", repo.path().to_str().unwrap()];
        all.extend_from_slice(args);
        let run = kanari(repo.path(), &all);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(run.stderr.contains("overlays/shop/web/virtualservice-web.yaml:"), "{}", run.stderr);
        assert!(
            run.stderr.contains("routes to subset `v9` of `web`, which no DestinationRule in the overlay defines"),
            "{}",
            run.stderr
        );
        assert_eq!(tree(repo.path()), before);
    }
}

#[test]
fn a_named_release_is_read_from_its_own_files_and_lint_reads_them_all() {
    // Another team's spec is broken; the named release renders and promotes anyway, lint still
    // fails, and a name no file holds falls back to reading every file.
    // (A file is read when the name is a word of it anywhere, as `web` in `image: web:1`.)
    let other = Spec::new("cart").stages([Stage::new("half").weight(150)]).yaml();
    let repo = repo_with(&[("canaries/web.yaml", &Spec::new("web").yaml()), ("canaries/cart.yaml", &other)]);
    let c = repo.path().to_str().unwrap();
    crate::git(repo.path(), &["init", "-q", "-b", "main"]);
    crate::git(repo.path(), &["add", "-A"]);
    crate::git(repo.path(), &["commit", "-q", "-m", "specs"]);

    let rendered = kanari_ok(repo.path(), &["-C", c, "render", "web", "--stdout"]);
    assert!(rendered.stdout.contains("kind: VirtualService"), "{}", rendered.stdout);
    kanari_ok(repo.path(), &["-C", c, "-q", "promote", "shop/web", "--author", "CI <ci@example.com>"]);
    assert_eq!(crate::git(repo.path(), &["log", "--format=%s", "-1"]).trim(), "web: promote (new) -> steady");

    for args in [&["lint"][..], &["lint", "web"], &["render", "--stdout"], &["render", "cart", "--stdout"]] {
        let mut all = vec!["-C", c];
        all.extend_from_slice(args);
        let run = kanari(repo.path(), &all);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("canaries/cart.yaml:12:15"), "{args:?}: {}", run.stderr);
    }
    // `webb` is in no file: every file is read, and the error lists every release, the broken
    // one too (its problems name no `webb`).
    let misspelt = kanari(repo.path(), &["-C", c, "render", "webb", "--stdout"]);
    assert_eq!(misspelt.code, 2);
    assert!(misspelt.stderr.contains("no release is named `webb` (known: shop/web, shop/cart)"), "{}", misspelt.stderr);
}

#[test]
fn in_one_folder_a_named_release_reads_the_files_whose_output_lines_could_clash() {
    // Every release sets its output in one folder (deploy/<name>): a named run reads the files
    // whose `output` lines nest with its folder, not every file that has an `output` line.
    let web = Spec::new("web").output("deploy/web").yaml();
    let cart = Spec::new("cart").stages([Stage::new("half").weight(150)]);
    let apart = cart.clone().output("deploy/cart").yaml();
    let repo = repo_with(&[("canaries/web.yaml", &web), ("canaries/cart.yaml", &apart)]);
    let c = repo.path().to_str().unwrap();
    let rendered = kanari_ok(repo.path(), &["-C", c, "render", "web", "--stdout"]);
    assert!(rendered.stdout.contains("kind: VirtualService"), "{}", rendered.stdout);
    let lint = kanari(repo.path(), &["-C", c, "lint"]);
    assert_eq!(lint.code, 2, "{}", lint.stderr);

    // Inside web's folder: read, and its problem stops the named run, as kanari cannot tell
    // whose folder it is until cart loads.
    for output in ["deploy/web/cart", "\"Deploy/Web/cart\" # nested"] {
        let inside = cart.clone().output(output).yaml();
        std::fs::write(repo.path().join("canaries/cart.yaml"), &inside).unwrap();
        let run = kanari(repo.path(), &["-C", c, "render", "web", "--stdout"]);
        assert_eq!(run.code, 2, "{output}: {}", run.stderr);
        assert!(run.stderr.contains("canaries/cart.yaml:"), "{output}: {}", run.stderr);
        assert!(run.stderr.contains("a folder of `canaries/cart.yaml`: that file does not load"), "{}", run.stderr);
    }
    // Written in a way the line reading does not take: read, and as its folder is clear of
    // web's, web renders.
    let anchored = cart.clone().output("&o deploy/elsewhere").yaml();
    std::fs::write(repo.path().join("canaries/cart.yaml"), &anchored).unwrap();
    kanari_ok(repo.path(), &["-C", c, "render", "web", "--stdout"]);
}

#[test]
fn a_named_release_still_sees_the_files_that_could_clash_with_it() {
    // A release whose output would hold web's: its file never names `web`, but it sets an output.
    let outer = Spec::new("api").output("overlays/shop");
    let repo = repo_with(&[("canaries/web.yaml", &Spec::new("web").yaml()), ("canaries/api.yaml", &outer.yaml())]);
    let c = repo.path().to_str().unwrap();
    let before = tree(repo.path());
    let run = kanari(repo.path(), &["-C", c, "render", "web"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("inside the output `overlays/shop` of release `shop/api`"), "{}", run.stderr);
    assert_eq!(tree(repo.path()), before);
    // The other way round: the named release's own output would hold web's default folder.
    let run = kanari(repo.path(), &["-C", c, "render", "api"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("inside the output `overlays/shop` of release `shop/api`"), "{}", run.stderr);
    assert_eq!(tree(repo.path()), before);
    // And without regard to case, for case-insensitive filesystems.
    let upper = outer.output("Overlays/Shop").yaml();
    std::fs::write(repo.path().join("canaries/api.yaml"), upper).unwrap();
    let run = kanari(repo.path(), &["-C", c, "lint"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("inside the output `Overlays/Shop`"), "{}", run.stderr);

    // A name written with a YAML escape would hide its file from the search: it is refused.
    let escaped = Spec::new("\"w\\x65b\"").stable("v1", "x:1").canary("v2", "x:2").yaml();
    let repo = repo_with(&[("canaries/x.yaml", &escaped)]);
    let run = kanari(repo.path(), &["-C", repo.path().to_str().unwrap(), "lint"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("x.yaml:4:9"), "{}", run.stderr);
    assert!(run.stderr.contains("write metadata.name `web` as plain text"), "{}", run.stderr);
}

//! The command line: raw flags as clap parses them. Doc comments are the help text; the exit
//! codes after it come from [`crate::exit::TABLE`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The heading global options are listed under, after a command's own.
const GLOBAL: &str = "Global options";

/// Canary releases on Istio, the GitOps way: every stage of a release is a reviewed,
/// revertible commit that Argo CD or Flux syncs.
#[derive(Debug, Parser)]
#[command(name = "kanari", version, after_help = crate::exit::help(), max_term_width = 100)]
pub struct Cli {
    /// The repository (project root) to work in; specs and outputs are relative to it
    /// [default: the Git work tree around the current folder, else the current folder]
    #[arg(short = 'C', long = "repo", global = true, help_heading = GLOBAL, value_name = "DIR")]
    pub repo: Option<PathBuf>,

    /// The folder of Canary specs, relative to the repository
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "DIR", default_value = "canaries")]
    pub specs: PathBuf,

    /// A folder of templates that override the built-in ones, file by file
    /// [default: .kanari/templates in the repository, when it exists]
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// When to color the output (NO_COLOR in the environment means never)
    #[arg(long, global = true, help_heading = GLOBAL, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Treat warnings as errors (exit 2)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub deny_warnings: bool,

    /// Print only errors and the requested output
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,

    /// The Prometheus the analysis queries, instead of the spec's `analysis.prometheus`
    /// (a bearer token comes from KANARI_PROMETHEUS_TOKEN)
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "URL", env = "KANARI_PROMETHEUS_URL")]
    pub prometheus: Option<String>,

    /// An extra header on every Prometheus request, as `Name: value` (repeatable), such as a
    /// tenant's `X-Scope-OrgID` for Mimir, Thanos or Cortex
    #[arg(long = "prometheus-header", global = true, help_heading = GLOBAL, value_name = "HEADER")]
    pub prometheus_headers: Vec<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate every spec and print every problem with file:line:column
    #[command(after_help = "Examples:\n  kanari lint\n  kanari -C gitops lint reviews")]
    Lint(Selection),

    /// Print each release as a table of its states: traffic, matches, pods and gates
    #[command(after_help = "Examples:\n  kanari plan\n  kanari plan bookinfo/reviews --format markdown")]
    Plan(PlanArgs),

    /// Write a state of each release into its overlay folder (or print it)
    #[command(after_help = "\
Without --stage, renders the state each overlay records (steady when there is none).

Examples:
  kanari render
  kanari render reviews --stage 50-50 --stdout
  kanari render reviews --stage 50-50 --out /tmp/reviews
  kanari render reviews --all-stages --out /tmp/reviews-stages")]
    Render(RenderArgs),

    /// Compare what the specs render with what is committed
    #[command(after_help = "\
Exit code 1 when anything differs, 0 when nothing does.

Examples:
  kanari diff
  kanari diff --next
  kanari diff --base origin/main --next --format json")]
    Diff(DiffArgs),

    /// Show the committed state of each release: stage, since when, what is next, what holds it
    #[command(after_help = "\
Bake times and the analysis window are read at the current time: KANARI_NOW (an RFC 3339 time,
such as 2026-01-02T03:04:05Z) when set, else the clock.

Examples:
  kanari status
  kanari status --format json
  KANARI_NOW=2026-01-02T15:00:00Z kanari status reviews")]
    Status(StatusArgs),

    /// Check the current stage's gates, render the next state and commit it
    #[command(after_help = "\
One commit per release moved, touching its overlay folder alone. Exit code 3 when a gate holds a
release (approval missing, bake time not over, aborted). Bake times, warm-ups and the analysis
are judged at the current time: KANARI_NOW (an RFC 3339 time, such as 2026-01-02T03:04:05Z) when
set, else the clock; the commit records it as the stage's start.

Examples:
  kanari promote
  kanari promote reviews --dry-run
  kanari promote reviews --to 90-10
  kanari promote reviews --restart
  kanari promote reviews --to 0-100 --skip-gates --reason \"INC-42: v1 leaks memory\"")]
    Promote(PromoteArgs),

    /// Commit the approval of the current stage's gate
    #[command(after_help = "\
Without a release name, approves the one release that waits for approval; when several wait, name
the one to approve, or pass --all to approve them all (exit code 2 otherwise, nothing committed).

Examples:
  kanari approve reviews
  kanari approve --all
  kanari approve reviews --wave 2")]
    Approve(ApproveArgs),

    /// Write a first Canary spec for a service from the manifests it runs with today
    #[command(after_help = "\
Reads the Deployment NAME names (by name or `app` label) from the --from files, which may hold
many documents (a chart's output, `kubectl get -o yaml`), and its HorizontalPodAutoscaler, and
writes <specs>/NAME.yaml: namespace, stable version (the `version` label, else the image's tag)
and image, replicas or autoscaling, port, pod template, and the stages testers (a header match),
90-10, 50-50 (approval) and 0-100 (bake), each field commented. It starts in the steady state:
no canary until you add one.

What a spec cannot say is kept with `from:`: a Deployment with more than a pod template (a
strategy, labels, annotations), a VirtualService with more than destinations (retries, timeouts,
other routes), a DestinationRule with more than subsets (a traffic policy). `from:` names a file
of one document in the repository, so a manifest in a file of several documents, or outside the
repository, is written to manifests/NAME/<kind>.yaml beside it, and said. Nothing is ever
overwritten: when a file to write exists, nothing is written (exit code 2).

Examples:
  kanari init reviews --from bookinfo.yaml --deployment reviews-v1
  kanari init payments --from k8s/deployment.yaml --from k8s/hpa.yaml \\
      --virtual-service k8s/virtualservice.yaml --destination-rule k8s/destinationrule.yaml")]
    Init(InitArgs),

    /// Run each release's analysis checks now against Prometheus: value, bound and verdict
    #[command(after_help = "\
Runs the checks of `spec.analysis` for each release in a stage that sends the canary traffic, over
the stage's age, at the current time (KANARI_NOW when set). Exit code 0 when every check passes,
3 when one fails or is inconclusive, 4 when Prometheus cannot be reached.

Examples:
  kanari analyze
  kanari analyze reviews --format json
  kanari --prometheus http://localhost:9090 analyze --format markdown")]
    Analyze(AnalyzeArgs),

    /// Commit the aborted state: 100% to stable, the canary at 0 pods
    #[command(after_help = "Examples:\n  kanari abort reviews --reason \"5xx rate above 1%\"")]
    Abort(AbortArgs),

    /// Print the JSON Schema of a Canary spec, for editors: hover help, completion and errors as
    /// you type
    #[command(after_help = "\
The schema is the one committed as schemas/canary.schema.json. With the YAML language server
(VS Code's YAML extension, Neovim), make this the first line of a spec:
  # yaml-language-server: $schema=canary.schema.json

Examples:
  kanari schema
  kanari schema > canary.schema.json")]
    Schema,

    /// Print the script that registers kanari's completion in a shell: commands and flags, and
    /// the repository's release names, stage names and refs where they go
    #[command(
        after_help = "Examples:\n  source <(kanari completions bash)         # in ~/.bashrc\n  source <(kanari completions zsh)          # in ~/.zshrc\n  kanari completions fish | source          # in ~/.config/fish/config.fish"
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// Compare with what is committed at REV instead of HEAD
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,

    /// Render this state instead of the committed one
    #[arg(long, value_name = "NAME", conflicts_with = "next")]
    pub stage: Option<String>,

    /// Render the state `promote` would commit next
    #[arg(long)]
    pub next: bool,

    /// Add the analysis of each release in a stage with canary traffic (its checks run now
    /// against Prometheus): a table in Markdown, lines in text, an `analysis` array in JSON
    #[arg(long)]
    pub analysis: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,

    /// The pull request's head commit, named in the comment's heading instead of the work
    /// tree's commit (in CI often a merge commit nobody knows); GitHub's
    /// `pull_request.head.sha`
    #[arg(long, value_name = "SHA", env = "KANARI_HEAD_COMMIT", value_parser = commit_hex)]
    pub head_commit: Option<String>,

    /// The pull request's number, named in the comment's heading (`pull request #42`)
    #[arg(long, value_name = "N", env = "KANARI_PULL_REQUEST")]
    pub pull_request: Option<u64>,
}

/// A commit id as `--head-commit` takes it: 7 to 64 hexadecimal digits (SHA-1 or SHA-256),
/// kept in lower case.
fn commit_hex(text: &str) -> Result<String, String> {
    match (7..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => Ok(text.to_ascii_lowercase()),
        false => Err(format!("`{text}` is not a commit id (7 to 64 hexadecimal digits)")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// Output format
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    pub format: StatusFormat,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// Output format
    #[arg(long, value_enum, default_value_t = AnalyzeFormat::Text)]
    pub format: AnalyzeFormat,

    /// Say, for each check, how many canary requests a healthy canary needs to pass at the rates
    /// observed now
    #[arg(long)]
    pub explain: bool,

    /// Replay one release's checks over a past window, START..END (RFC 3339 times; the stage
    /// began at START): the verdicts at every look, and when the release would have been
    /// aborted or passed
    #[arg(long, value_name = "START..END")]
    pub replay: Option<String>,

    /// With --replay: the time between looks
    #[arg(long, value_name = "DURATION", default_value = "10m", requires = "replay")]
    pub every: String,

    /// With --replay: the stage the release was in (its weights) [default: the committed stage]
    #[arg(long, value_name = "STAGE", requires = "replay")]
    pub stage: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

/// Where and as whom commits are made.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// The branch to commit to [default: the current branch; with a detached HEAD, the one the
    /// remote's HEAD names]
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,

    /// The remote to push to, and whose HEAD names the branch when HEAD is detached
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub remote: String,

    /// Commit as this author, `Name <email>` [default: GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL, then
    /// user.name/user.email]
    #[arg(long, value_name = "IDENTITY")]
    pub author: Option<String>,

    /// Print what would be committed, and commit nothing
    #[arg(long, conflicts_with = "push")]
    pub dry_run: bool,

    /// Push the branch to the remote with the `git` program, as a compare-and-swap; when the
    /// remote moved first, fetch and start again from its tip (git's credential helpers,
    /// http.extraheader and SSH config apply; HTTPS tokens also from KANARI_GIT_TOKEN,
    /// GITHUB_TOKEN or GITLAB_TOKEN, offered to the remote's own host alone)
    #[arg(long)]
    pub push: bool,

    /// Send the git token (KANARI_GIT_TOKEN, GITHUB_TOKEN or GITLAB_TOKEN) to a plain `http://`
    /// remote, in clear text; without it, such a remote is refused (exit 2) when there is a token
    #[arg(long)]
    pub allow_insecure_http: bool,

    /// How long the run may wait on remotes in all: each fetch and push gets the time left, and a
    /// remote that has not answered by then ends the run (exit 4, nothing committed); Prometheus
    /// gets half of it. A duration such as `30s`, `2m` or `1h`
    #[arg(long, value_name = "DURATION", default_value = "2m")]
    pub timeout: String,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// Move to this state (prepare or a stage) instead of the next one; going back needs no gate
    #[arg(long, value_name = "STAGE")]
    pub to: Option<String>,

    /// Start an aborted release again, at prepare
    #[arg(long)]
    pub restart: bool,

    /// Move forward even though approvals are missing or bake times have not run, on the
    /// current stage and on every stage --to passes; needs --reason, recorded in the commit
    #[arg(long, requires = "reason")]
    pub skip_gates: bool,

    /// Why the gates are skipped (with --skip-gates); recorded in a `Kanari-Skip-Gates` trailer
    #[arg(long, value_name = "TEXT", requires = "skip_gates")]
    pub reason: Option<String>,

    #[command(flatten)]
    pub commit: CommitArgs,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// Approve every release that waits for approval; without it, and without a release name,
    /// `approve` approves the one release that waits, and refuses when several do
    #[arg(long, conflicts_with = "releases")]
    pub all: bool,

    /// Approve wave N of a fleet: its instances may start the canary once the waves before it
    /// have passed their last stage and baked (`spec.waves.approval`)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..))]
    pub wave: Option<u32>,

    #[command(flatten)]
    pub commit: CommitArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The release's name (a DNS-1035 label): the Deployment's `app` label or name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// A file of manifests holding the Deployment, and its HorizontalPodAutoscaler (repeatable)
    #[arg(long = "from", value_name = "FILE", required = true)]
    pub from: Vec<PathBuf>,

    /// The Deployment to start from, by name, when several are the release's (one per version)
    #[arg(long, value_name = "NAME")]
    pub deployment: Option<String>,

    /// A file holding your VirtualService for the release's Service, to keep with `from:`
    #[arg(long, value_name = "FILE")]
    pub virtual_service: Option<PathBuf>,

    /// A file holding your DestinationRule for the release's Service, to keep with `from:`
    #[arg(long, value_name = "FILE")]
    pub destination_rule: Option<PathBuf>,

    /// What carries the traffic: `istio` (a VirtualService and a DestinationRule) or
    /// `gateway-api` (an HTTPRoute; not with --virtual-service or --destination-rule)
    #[arg(long, value_enum, default_value_t = InitRouter::Istio)]
    pub router: InitRouter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InitRouter {
    Istio,
    GatewayApi,
}

#[derive(Debug, Args)]
pub struct AbortArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// Why the release is aborted; recorded in the overlay and the commit
    #[arg(long, value_name = "TEXT")]
    pub reason: String,

    #[command(flatten)]
    pub commit: CommitArgs,
}

/// The releases a command works on.
#[derive(Clone, Debug, Args)]
pub struct Selection {
    /// Releases to work on, as `name` or `namespace/name` [default: all]
    #[arg(value_name = "RELEASE")]
    pub releases: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// Output format
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
    Mermaid,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// The state to render: a stage name, or steady, prepare or aborted
    #[arg(long, value_name = "NAME", conflicts_with = "all_stages")]
    pub stage: Option<String>,

    /// Print the manifests instead of writing them
    #[arg(long, conflicts_with_all = ["out", "all_stages"])]
    pub stdout: bool,

    /// Write the overlay into DIR instead of the release's output folder (one release)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Write one overlay per state into DIR/<state>/ (needs --out, one release)
    #[arg(long, requires = "out")]
    pub all_stages: bool,
}

/// Checks the names the flags give git (`--branch`, `--remote`, `--base`) before any git program
/// sees them: a name is never an option, `HEAD` or a revision expression. The error says which
/// flag and why.
pub(crate) fn check_names(cli: &Cli) -> Result<(), String> {
    let commit = match &cli.command {
        Command::Promote(a) => Some(&a.commit),
        Command::Approve(a) => Some(&a.commit),
        Command::Abort(a) => Some(&a.commit),
        _ => None,
    };
    if let Some(commit) = commit {
        if let Some(why) = commit.branch.as_deref().and_then(ref_name_problem) {
            let name = commit.branch.as_deref().unwrap_or_default().escape_debug();
            return Err(format!("--branch `{name}` is not a branch name: {why}"));
        }
        if let Some(why) = ref_name_problem(&commit.remote) {
            return Err(format!("--remote `{}` is not a remote name: {why}", commit.remote.escape_debug()));
        }
    }
    if let Command::Diff(DiffArgs { base: Some(base), .. }) = &cli.command
        && let Some(why) = revision_problem(base)
    {
        return Err(format!("--base `{}` is not a revision: {why}", base.escape_debug()));
    }
    Ok(())
}

/// Why `name` cannot be a branch or remote name, as git checks one (`git check-ref-format
/// --allow-onelevel`, and what `git branch` refuses besides: `HEAD` and a leading `-`); None
/// when it can.
pub(crate) fn ref_name_problem(name: &str) -> Option<String> {
    let why = |s: &str| Some(s.to_string());
    if name.is_empty() {
        return why("it is empty");
    }
    if name == "HEAD" || name == "@" {
        return Some(format!("`{name}` names what is checked out, not a branch"));
    }
    if name.starts_with('-') {
        return why("it starts with `-`, as an option does");
    }
    if name.chars().any(|c| c.is_ascii_control()) {
        return why("it holds a control character");
    }
    if let Some(c) = name.chars().find(|c| " ~^:?*[\\".contains(*c)) {
        return Some(format!("it holds `{c}`"));
    }
    for bad in ["..", "@{"] {
        if name.contains(bad) {
            return Some(format!("it holds `{bad}`"));
        }
    }
    if name.split('/').any(str::is_empty) {
        return why("it has an empty part (a leading, trailing or double `/`)");
    }
    if name.split('/').any(|part| part.starts_with('.')) {
        return why("a part of it starts with `.`");
    }
    if name.split('/').any(|part| part.ends_with(".lock")) {
        return why("a part of it ends with `.lock`");
    }
    if name.ends_with('.') {
        return why("it ends with `.`");
    }
    None
}

/// Why `rev` cannot be a revision given to `--base`, or None: any expression git's `rev-parse`
/// reads is let through (`origin/main~1`, `main@{1}`, `v1.2^{commit}`), and only what could be
/// taken for an option (a leading `-`), nothing, or a control character is refused.
pub(crate) fn revision_problem(rev: &str) -> Option<String> {
    if rev.is_empty() {
        return Some("it is empty".into());
    }
    if rev.starts_with('-') {
        return Some("it starts with `-`, as an option does".into());
    }
    rev.chars().any(|c| c.is_ascii_control()).then(|| "it holds a control character".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_git_checks_ref_names() {
        let table: &[(&str, Option<&str>)] = &[
            ("main", None),
            ("release/2026-04", None),
            ("feature/a.b", None),
            ("v1@2", None),
            ("", Some("it is empty")),
            ("HEAD", Some("`HEAD` names what is checked out, not a branch")),
            ("@", Some("`@` names what is checked out, not a branch")),
            ("-x", Some("it starts with `-`, as an option does")),
            ("--force", Some("it starts with `-`, as an option does")),
            ("a..b", Some("it holds `..`")),
            ("a@{1}", Some("it holds `@{`")),
            ("a\nb", Some("it holds a control character")),
            ("a\u{7f}", Some("it holds a control character")),
            ("a b", Some("it holds ` `")),
            ("a~1", Some("it holds `~`")),
            ("a^", Some("it holds `^`")),
            ("a:b", Some("it holds `:`")),
            ("a?", Some("it holds `?`")),
            ("a*", Some("it holds `*`")),
            ("a[", Some("it holds `[`")),
            ("a\\b", Some("it holds `\\`")),
            ("main.lock", Some("a part of it ends with `.lock`")),
            ("a.lock/b", Some("a part of it ends with `.lock`")),
            ("main/", Some("it has an empty part (a leading, trailing or double `/`)")),
            ("/main", Some("it has an empty part (a leading, trailing or double `/`)")),
            ("a//b", Some("it has an empty part (a leading, trailing or double `/`)")),
            (".hidden", Some("a part of it starts with `.`")),
            ("a/.b", Some("a part of it starts with `.`")),
            ("main.", Some("it ends with `.`")),
        ];
        for (name, expected) in table {
            assert_eq!(ref_name_problem(name).as_deref(), *expected, "{name:?}");
        }
    }

    #[test]
    fn a_base_may_be_any_revision_but_never_an_option() {
        for rev in ["origin/main", "HEAD", "HEAD~1", "main@{1}", "v1^{commit}", ":/fix", "a..b"] {
            assert_eq!(revision_problem(rev), None, "{rev}");
        }
        assert_eq!(revision_problem("-x").as_deref(), Some("it starts with `-`, as an option does"));
        assert_eq!(revision_problem("--output=/tmp/x").as_deref(), Some("it starts with `-`, as an option does"));
        assert_eq!(revision_problem("").as_deref(), Some("it is empty"));
        assert_eq!(revision_problem("a\nb").as_deref(), Some("it holds a control character"));
    }

    #[test]
    fn every_flag_is_named_in_its_error() {
        let check = |args: &[&str]| check_names(&Cli::parse_from(args)).err();
        assert_eq!(
            check(&["kanari", "promote", "--branch", "HEAD"]).as_deref(),
            Some("--branch `HEAD` is not a branch name: `HEAD` names what is checked out, not a branch")
        );
        assert_eq!(
            check(&["kanari", "approve", "--remote=-x"]).as_deref(),
            Some("--remote `-x` is not a remote name: it starts with `-`, as an option does")
        );
        assert_eq!(
            check(&["kanari", "diff", "--base=-x"]).as_deref(),
            Some("--base `-x` is not a revision: it starts with `-`, as an option does")
        );
        assert_eq!(check(&["kanari", "abort", "--reason", "r", "--branch", "release/1"]), None);
        assert_eq!(check(&["kanari", "diff", "--base", "origin/main~1"]), None);
    }
}

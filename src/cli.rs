//! The command line: raw flags as clap parses them. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (also: nothing to do)
  1  differences found (diff)
  2  bad input or usage; nothing was written or committed
  3  a gate holds the release (promote)
  4  a conflict that retries could not resolve";

/// Canary releases on Istio, the GitOps way: every stage of a release is a reviewed,
/// revertible commit that Argo CD or Flux syncs.
#[derive(Debug, Parser)]
#[command(name = "kanari", version, after_help = EXIT_CODES, max_term_width = 100)]
pub struct Cli {
    /// The repository (project root) to work in; specs and outputs are relative to it
    /// [default: the Git work tree around the current folder, else the current folder]
    #[arg(short = 'C', long = "repo", global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,

    /// The folder of Canary specs, relative to the repository
    #[arg(long, global = true, value_name = "DIR", default_value = "canaries")]
    pub specs: PathBuf,

    /// A folder of templates that override the built-in ones, file by file
    /// [default: .kanari/templates in the repository, when it exists]
    #[arg(long, global = true, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// When to color the output (NO_COLOR in the environment means never)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Print only errors and the requested output
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Print more about what is done
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

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
}

/// The releases a command works on.
#[derive(Debug, Args)]
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

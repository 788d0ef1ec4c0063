//! A synthetic GitOps repository for benchmarks: N `Canary` releases, rendered and committed by
//! the real `kanari` binary, optionally padded with unrelated files and commits like a monorepo.
//!
//! ```text
//! cargo build --release
//! cargo run --release --example synth -- --releases 1000 --out /tmp/repo-1000 \
//!     [--layout spread|one-folder|fleet] [--clusters 200] [--no-gc] [--padding-files 100000] \
//!     [--padding-commits 3000] [--seed 7] [--kanari target/release/kanari]
//! ```
//!
//! Deterministic: the same arguments give the same commits (the same object ids), on any
//! machine: every random choice comes from the seed, every commit time is fixed, and Git's global
//! and system configuration are ignored.
//!
//! Three layouts of the overlays (`--layout`); the specs are the same in all, draw for draw:
//! - `spread` (the default): each release renders to `overlays/<namespace>/<name>` (40
//!   namespaces, so at most N/40 overlays share a folder), and about one in ten sets an explicit
//!   `output: apps/<namespace>/<name>/deploy`.
//! - `one-folder`: every spec sets `output: deploy/platform/<name>`, one team for all, so all N
//!   overlays sit in one folder, `deploy/platform/`, whose tree has N entries: the monorepo
//!   layout where looking each overlay up by path from the root reads that tree N times.
//! - `fleet`: N instances of N/C fleet specs, each running in C clusters (`--clusters C`, default
//!   200): fleet `i` is release `i` of the `spread` layout (its stages, images, pods, template)
//!   with `spec.clusters` (`c-000`, `c-001`, ..., in waves 1-4) and `spec.waves` added, and
//!   `output: overlays/{cluster}/<namespace>/<name>`, so each cluster's overlay of the fleet is
//!   `overlays/c-007/<namespace>/<name>`. Instance states follow the waves (see `fleet.rs`).
//!
//! Every autoscaled spec carries a CPU request in its pod template (a spec without a template
//! gets one holding only its container and the request), as kanari's lint asks: without one the
//! HorizontalPodAutoscaler cannot scale.
//!
//! What it makes, in the order of the history:
//! 1. N specs under `canaries/<namespace>/`: most one release per file, some files with 2-4
//!    documents. They vary: 1-6 stages, header matches of every form (exact, prefix, regex),
//!    cookie and URI matches, autoscaling, pod templates, approval and bake pauses, replica
//!    overrides, a few explicit `output` folders and extra hosts and gateways; about one in seven
//!    has no canary (steady).
//! 2. Each release's state (steady, prepare, a stage, approved or not, aborted) is written as a
//!    bare `kustomization.yaml`; one `kanari render` call renders every overlay at that state
//!    (keeping its `since` and `approved` annotations), and one `git commit` records it all.
//! 3. A few rounds of `kanari approve` and `kanari promote` on a sample of releases, so the
//!    history holds kanari's own commits, as a live repository does.
//! 4. With `--padding-files`, one commit adds that many small unrelated files under `src/`
//!    (100 per folder, two levels deep), then `--padding-commits` commits each edit 1-3 of them;
//!    written with `git fast-import` (seconds, not minutes), then checked out.
//! 5. `git gc` packs every object, as a clone has them. With `--no-gc` the repository stays
//!    loose, as a work repository is between automatic gcs: every object that `git commit` and
//!    kanari's commits wrote is a loose file under `.git/objects/` (the padding alone is in the
//!    pack `git fast-import` writes). Automatic gc is off in both cases (`gc.auto 0`).
//!
//! Release 0 (`team-00/svc-00000`) is always at `prepare` with no gate: `kanari promote
//! team-00/svc-00000` moves it to its first stage, which is what `bench/run.sh` times. In the
//! `fleet` layout that is its first cluster's instance, `team-00/svc-00000@c-000`.

mod env;
mod fleet;
mod padding;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use env::{Env, rfc3339};

/// 2026-01-01T00:00:00Z: the time of the first commit; the rest follow from it.
const EPOCH: i64 = 1_767_225_600;
const NAMESPACES: usize = 40;
/// The one team whose folder holds every overlay in the `one-folder` layout.
const ONE_FOLDER_TEAM: &str = "platform";

/// Where the overlays go: see the module documentation.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Spread,
    OneFolder,
    Fleet,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("synth: {e}");
        std::process::exit(2);
    }
}

struct Args {
    releases: usize,
    out: PathBuf,
    padding_files: usize,
    padding_commits: usize,
    seed: u64,
    kanari: PathBuf,
    layout: Layout,
    /// Clusters per fleet (the `fleet` layout).
    clusters: usize,
    gc: bool,
}

fn usage() -> String {
    "usage: synth --releases N --out DIR [--layout spread|one-folder|fleet] [--clusters N] [--no-gc] [--padding-files N] [--padding-commits N] [--seed N] [--kanari PATH]".into()
}

fn parse_args() -> Result<Args, String> {
    let mut releases = None;
    let mut out = None;
    let mut padding_files = 0;
    let mut padding_commits = 0;
    let mut seed = 7;
    let mut kanari = std::env::var_os("KANARI").map(PathBuf::from);
    let mut layout = Layout::Spread;
    let mut clusters = None;
    let mut gc = true;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{}", usage());
            std::process::exit(0);
        }
        if flag == "--no-gc" {
            gc = false;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let num =
            |v: &str| v.replace(['_', ','], "").parse::<usize>().map_err(|_| format!("{flag}: `{v}` is not a number"));
        match flag.as_str() {
            "--releases" => releases = Some(num(&value)?),
            "--out" => out = Some(PathBuf::from(value)),
            "--padding-files" => padding_files = num(&value)?,
            "--padding-commits" => padding_commits = num(&value)?,
            "--seed" => seed = num(&value)? as u64,
            "--clusters" => clusters = Some(num(&value)?),
            "--kanari" => kanari = Some(PathBuf::from(value)),
            "--layout" => {
                layout = match value.as_str() {
                    "spread" => Layout::Spread,
                    "one-folder" => Layout::OneFolder,
                    "fleet" => Layout::Fleet,
                    _ => return Err(format!("--layout: `{value}` is not `spread`, `one-folder` or `fleet`")),
                }
            }
            _ => return Err(format!("unknown option `{flag}`\n{}", usage())),
        }
    }
    let releases = releases.ok_or_else(usage)?;
    if releases == 0 || releases > 10_000 {
        return Err("--releases must be from 1 to 10000 (kanari's limit)".into());
    }
    let clusters = match (layout, clusters) {
        (Layout::Fleet, n) => fleet::check_clusters(releases, n.unwrap_or(200))?,
        (_, Some(_)) => return Err("--clusters is for `--layout fleet`".into()),
        (_, None) => 1,
    };
    if padding_commits > 0 && padding_files == 0 {
        return Err("--padding-commits needs --padding-files (the commits edit those files)".into());
    }
    let kanari = kanari.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/kanari"));
    if !kanari.is_file() {
        return Err(format!(
            "no kanari binary at `{}`: run `cargo build --release`, or pass --kanari",
            kanari.display()
        ));
    }
    let kanari = kanari.canonicalize().map_err(|e| e.to_string())?;
    let out = out.ok_or_else(usage)?;
    Ok(Args { releases, out, padding_files, padding_commits, seed, kanari, layout, clusters, gc })
}

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// 0..n
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// true with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let started = Instant::now();
    if args.out.exists() {
        let empty = std::fs::read_dir(&args.out).map_err(|e| e.to_string())?.next().is_none();
        if !empty {
            return Err(format!("`{}` exists and is not empty; remove it first", args.out.display()));
        }
    }
    std::fs::create_dir_all(&args.out).map_err(|e| e.to_string())?;
    let repo = args.out.canonicalize().map_err(|e| e.to_string())?;
    let env = Env { repo: repo.clone(), kanari: args.kanari.clone() };

    env.git(&["init", "-q", "-b", "main"], 0)?;
    // No automatic gc in the background: it would race the `git gc` at the end.
    env.git(&["config", "gc.auto", "0"], 0)?;
    std::fs::write(
        repo.join("README.md"),
        "# platform-gitops\n\nSynthetic GitOps repository made by kanari's `synth` example.\n",
    )
    .map_err(|e| e.to_string())?;

    // 1 and 2: specs and their states, rendered in one call and committed in one commit.
    // In the fleet layout, one spec per fleet: release `i` with its clusters added.
    let specs = args.releases / args.clusters;
    let mut releases: Vec<Release> = (0..specs).map(|i| Release::new(args.seed, i, args.layout)).collect();
    let fleets: Vec<fleet::Fleet> = match args.layout {
        Layout::Fleet => releases.iter_mut().map(|r| fleet::Fleet::new(args.seed, r, args.clusters)).collect(),
        _ => Vec::new(),
    };
    write_specs(&repo, &releases, args.seed)?;
    for (i, r) in releases.iter().enumerate() {
        match fleets.get(i) {
            Some(f) => f.write_states(&repo, r)?,
            None => r.write_state(&repo)?,
        }
    }
    env.kanari(&["-q", "render"], 0, &[0])?;
    env.git(&["add", "-A"], 0)?;
    let message = match args.layout {
        Layout::Fleet => format!(
            "Add {specs} fleets of {} clusters ({} instances), each instance at its current state",
            args.clusters, args.releases
        ),
        _ => format!("Add {} releases, each at its current state", args.releases),
    };
    env.git(&["commit", "-q", "-m", &message], 0)?;
    let t1 = started.elapsed();

    // 3: kanari's own commits, on a sample of releases (release 0 is kept for the benchmark), or
    // of a fleet's instances that have started (fleet 0 is kept).
    let mut rng = Rng::new(args.seed, u64::MAX);
    let movable = |i: usize| -> Option<String> {
        match fleets.is_empty() {
            true => releases[i].canary.then(|| releases[i].id()),
            false => {
                let (f, cluster) = (i / args.clusters, i % args.clusters);
                (f > 0 && fleets[f].started(&releases[f], cluster)).then(|| fleet::instance_id(&releases[f], cluster))
            }
        }
    };
    let sample = |rng: &mut Rng, n: usize| -> Vec<String> {
        let mut ids: Vec<usize> = (0..n.min(args.releases.saturating_sub(1)))
            .map(|_| 1 + rng.below(args.releases as u64 - 1) as usize)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter().filter_map(movable).collect()
    };
    let rounds = 3;
    let per_round = (args.releases / 20).clamp(2, 40);
    for round in 0..rounds {
        let now = 86_400 * (round as i64 + 1);
        let approve = sample(&mut rng, per_round / 2);
        if !approve.is_empty() {
            let mut argv = vec!["-q", "approve"];
            argv.extend(approve.iter().map(String::as_str));
            // 0 done, 3 some release had no approval gate to approve (fine here).
            env.kanari(&argv, now, &[0, 2, 3])?;
        }
        let promote = sample(&mut rng, per_round);
        if !promote.is_empty() {
            let mut argv = vec!["-q", "promote"];
            argv.extend(promote.iter().map(String::as_str));
            // 0 moved, 3 a gate holds one of them.
            env.kanari(&argv, now + 60, &[0, 3])?;
        }
    }
    let t2 = started.elapsed();

    // 4: padding.
    if args.padding_files > 0 {
        padding::pad(&env, args.padding_files, args.padding_commits, args.seed)?;
    }
    // Pack every object, as a clone has them (kanari reads committed blobs from the packs).
    if args.gc {
        env.git(&["gc", "-q", "--prune=now"], 0)?;
    }
    let t3 = started.elapsed();

    let head = env.git_out(&["rev-parse", "HEAD"])?;
    let commits = env.git_out(&["rev-list", "--count", "HEAD"])?;
    let files = env.git_out(&["ls-files"])?.lines().count();
    println!(
        "synth: {} releases in `{}`: {} commits, {} files, HEAD {} ({:.1}s: specs+render {:.1}s, kanari commits {:.1}s, padding {:.1}s)",
        args.releases,
        repo.display(),
        commits.trim(),
        files,
        &head.trim()[..12],
        t3.as_secs_f64(),
        t1.as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        (t3 - t2).as_secs_f64(),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Releases.

struct Release {
    index: usize,
    name: String,
    namespace: String,
    /// The explicit `spec.output`, if any.
    output: Option<String>,
    canary: bool,
    /// The spec document, without the leading `---`.
    doc: String,
    stages: Vec<StageInfo>,
    /// The state to record: (stage, canary version, since, approved, reason).
    state: State,
}

struct StageInfo {
    name: String,
    approval: bool,
}

#[derive(Clone, Copy)]
enum State {
    Steady,
    Prepare,
    Stage { index: usize, approved: bool },
    Aborted,
}

const IMAGES: [&str; 6] = [
    "registry.example.com",
    "ghcr.io/acme",
    "docker.io/acme",
    "eu.gcr.io/acme-prod",
    "quay.io/acme",
    "acme.azurecr.io",
];
const PORTS: [u16; 6] = [80, 8080, 9080, 5000, 3000, 8443];
const HEADERS: [&str; 6] = ["end-user", "x-canary", "x-tenant", "x-region", "user-agent", "x-beta"];
const STAGE_WEIGHTS: [&[u32]; 6] =
    [&[100], &[20, 100], &[10, 50, 100], &[5, 25, 50, 100], &[1, 10, 25, 50, 100], &[0, 5, 20, 40, 70, 100]];

impl Release {
    fn new(seed: u64, index: usize, layout: Layout) -> Release {
        let mut rng = Rng::new(seed, index as u64);
        let name = format!("svc-{index:05}");
        let namespace = format!("team-{:02}", index % NAMESPACES);
        // Release 0 is the benchmark's promote target: a canary, gate-free, at prepare.
        let first = index == 0;
        let canary = first || rng.chance(85);
        let autoscaling = !first && rng.chance(30);
        let with_template = rng.chance(50);
        let mut d = String::new();
        let w = &mut d;
        let _ = writeln!(
            w,
            "apiVersion: kanari.dev/v1alpha1\nkind: Canary\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:"
        );
        let mut output = (!first && rng.chance(10)).then(|| format!("apps/{namespace}/{name}/deploy"));
        match layout {
            Layout::Spread => {}
            Layout::OneFolder => output = Some(format!("deploy/{ONE_FOLDER_TEAM}/{name}")),
            Layout::Fleet => output = Some(format!("overlays/{}/{namespace}/{name}", fleet::CLUSTER)),
        }
        if let Some(o) = &output {
            let _ = writeln!(w, "  output: {o}");
        }
        let port = *rng.pick(&PORTS);
        let _ = writeln!(w, "  service:\n    port: {port}");
        if rng.chance(10) {
            let _ = writeln!(w, "    create: false");
        }
        if rng.chance(25) {
            let _ = writeln!(w, "  hosts: [{name}, {name}.{namespace}.example.com]");
            let _ = writeln!(w, "  gateways: [istio-system/public-gateway]");
        }
        let registry = rng.pick(&IMAGES);
        let major = 1 + rng.below(4);
        let minor = rng.below(30);
        let _ = writeln!(
            w,
            "  stable:\n    version: v{major}-{minor}\n    image: {registry}/{namespace}/{name}:{major}.{minor}.0"
        );
        if canary {
            let _ = writeln!(
                w,
                "  canary:\n    version: v{major}-{}\n    image: {registry}/{namespace}/{name}:{major}.{}.0",
                minor + 1,
                minor + 1
            );
        }
        // The most pods a stage override may ask for: maxReplicas with autoscaling.
        let mut cap = 10_000;
        if autoscaling {
            let min = 1 + rng.below(4);
            cap = min + 2 + rng.below(20);
            let _ = writeln!(
                w,
                "  autoscaling:\n    minReplicas: {min}\n    maxReplicas: {cap}\n    targetCPUUtilizationPercentage: {}",
                *rng.pick(&[50, 60, 70, 80])
            );
        } else {
            let _ = writeln!(w, "  replicas: {}", 1 + rng.below(20));
        }
        if with_template {
            let _ = writeln!(w, "  template:");
            if rng.chance(40) {
                let _ = writeln!(
                    w,
                    "    metadata:\n      annotations:\n        prometheus.io/scrape: \"true\"\n        prometheus.io/port: \"{port}\""
                );
            }
            let _ = writeln!(
                w,
                "    spec:\n      containers:\n        - name: {name}\n          imagePullPolicy: IfNotPresent"
            );
            let _ = writeln!(w, "          ports:\n            - containerPort: {port}");
            let _ = writeln!(
                w,
                "          env:\n            - name: LOG_LEVEL\n              value: {}\n            - name: SERVICE_NAME\n              value: {name}",
                rng.pick(&["info", "debug", "warn"])
            );
            let _ = writeln!(
                w,
                "          resources:\n            requests:\n              cpu: {}m\n              memory: {}Mi",
                50 * (1 + rng.below(8)),
                64 * (1 + rng.below(8))
            );
            if rng.chance(50) {
                let _ = writeln!(
                    w,
                    "          readinessProbe:\n            httpGet:\n              path: /healthz\n              port: {port}\n            periodSeconds: 5"
                );
            }
            if rng.chance(30) {
                let _ = writeln!(
                    w,
                    "          volumeMounts:\n            - name: tmp\n              mountPath: /tmp\n      volumes:\n        - name: tmp\n          emptyDir: {{}}"
                );
            }
        } else if autoscaling {
            // The HPA needs a CPU request; without a template kanari's default container has
            // none. No draw from `rng` here, so that the rest of the spec stays as it was.
            let _ = writeln!(
                w,
                "  template:\n    spec:\n      containers:\n        - name: {name}\n          resources:\n            requests:\n              cpu: {}m",
                100 + 50 * (index % 4)
            );
        }
        // Stages: 1-6 of them (release 0: 3), weights rising to 100.
        let count = if first { 3 } else { 1 + rng.below(6) as usize };
        let weights = STAGE_WEIGHTS[count - 1];
        let mut stages = Vec::new();
        let _ = writeln!(w, "  stages:");
        for (k, &weight) in weights.iter().enumerate() {
            let last = k + 1 == count;
            // A match stage first, for some: everything else stays at the weight.
            let with_match = !first && (weight == 0 || (k == 0 && rng.chance(35)) || (!last && rng.chance(10)));
            let stage_name = match (with_match, weight) {
                (true, _) => format!("match-{k}"),
                (false, 100) => "full".to_string(),
                (false, w) => format!("{}-{w}", 100 - w),
            };
            let _ = writeln!(w, "    - name: {stage_name}");
            if weight > 0 {
                let _ = writeln!(w, "      weight: {weight}");
            }
            if with_match {
                let _ = writeln!(w, "      match:");
                for m in 0..1 + rng.below(3) {
                    match (m + rng.below(5)) % 5 {
                        0 => {
                            let _ = writeln!(
                                w,
                                "        - headers:\n            {}:\n              exact: {}",
                                rng.pick(&HEADERS),
                                rng.pick(&["jason", "qa-team", "\"true\"", "canary"])
                            );
                        }
                        1 => {
                            let _ = writeln!(
                                w,
                                "        - headers:\n            {}:\n              prefix: {}",
                                rng.pick(&HEADERS),
                                rng.pick(&["internal-", "eu-", "Mozilla/5.0 (X11"])
                            );
                        }
                        2 => {
                            let _ = writeln!(
                                w,
                                "        - headers:\n            {}:\n              regex: \"{}\"",
                                rng.pick(&HEADERS),
                                rng.pick(&["^(alice|bob)$", ".*Chrome/1[0-9]{2}.*", "^tenant-[0-9]+$"])
                            );
                        }
                        3 => {
                            let _ = writeln!(
                                w,
                                "        - cookie:\n            name: {}\n            value: {}",
                                rng.pick(&["canary", "beta_user", "session-group"]),
                                rng.pick(&["always", "1", "b"])
                            );
                        }
                        _ => {
                            let (kind, value) = *rng.pick(&[
                                ("prefix", "/api/v2/"),
                                ("exact", "/healthz/canary"),
                                ("regex", "^/(beta|preview)/.*"),
                            ]);
                            let _ = writeln!(w, "        - uri:\n            {kind}: \"{value}\"");
                            if rng.chance(40) {
                                let _ = writeln!(
                                    w,
                                    "          headers:\n            x-canary:\n              exact: \"yes\""
                                );
                            }
                        }
                    }
                }
            }
            // kanari refuses stable: 0 on a stage with matches, even at weight 100.
            if last && weight == 100 && !with_match && !autoscaling && rng.chance(40) {
                let _ = writeln!(w, "      replicas:\n        stable: 0");
            } else if !last && weight >= 50 && rng.chance(20) {
                let _ = writeln!(w, "      replicas:\n        canary: {}", (2 + rng.below(5)).min(cap));
            }
            let approval = !first && rng.chance(25);
            let duration = !first && rng.chance(25);
            if approval || duration {
                let _ = writeln!(w, "      pause:");
                if approval {
                    let _ = writeln!(w, "        approval: true");
                }
                if duration {
                    let _ = writeln!(w, "        duration: {}", rng.pick(&["10m", "30m", "1h", "1h30m", "2d"]));
                }
            }
            stages.push(StageInfo { name: stage_name, approval });
        }
        let state = if first {
            State::Prepare
        } else if !canary {
            State::Steady
        } else {
            match rng.below(100) {
                0..=9 => State::Steady,
                10..=24 => State::Prepare,
                25..=29 => State::Aborted,
                _ => {
                    let index = rng.below(count as u64) as usize;
                    State::Stage { index, approved: stages[index].approval && rng.chance(50) }
                }
            }
        };
        Release { index, name, namespace, output, canary, doc: d, stages, state }
    }

    fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn output(&self) -> String {
        self.output.clone().unwrap_or_else(|| format!("overlays/{}/{}", self.namespace, self.name))
    }

    /// A bare `kustomization.yaml` recording the release's state; `kanari render` replaces it.
    fn write_state(&self, repo: &Path) -> Result<(), String> {
        self.write_kustomization(&repo.join(self.output()), self.state, self.since())
    }

    /// When the release entered its state (seconds after `EPOCH`).
    fn since(&self) -> i64 {
        -3600 * (1 + self.index as i64 % 200)
    }

    /// A bare `kustomization.yaml` in `dir` recording `state`, entered at `since`.
    fn write_kustomization(&self, dir: &Path, state: State, since: i64) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let canary_version = self.doc.split("  canary:\n    version: ").nth(1).and_then(|s| s.lines().next());
        let since = rfc3339(EPOCH + since);
        let mut a = String::new();
        if let Some(v) = canary_version
            && !matches!(state, State::Steady)
        {
            let _ = writeln!(a, "    kanari.dev/canary: {v}");
        }
        let stage = match &state {
            State::Steady => "steady".to_string(),
            State::Prepare => "prepare".to_string(),
            State::Stage { index, .. } => self.stages[*index].name.clone(),
            State::Aborted => "aborted".to_string(),
        };
        let _ = writeln!(a, "    kanari.dev/stage: {stage}");
        let _ = writeln!(a, "    kanari.dev/since: \"{since}\"");
        if let State::Stage { index, approved: true } = &state {
            let _ = writeln!(a, "    kanari.dev/approved: {}", self.stages[*index].name);
        }
        if let State::Aborted = state {
            let _ = writeln!(a, "    kanari.dev/reason: error rate above 1% on the canary");
        }
        let text = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nmetadata:\n  name: {}\n  annotations:\n{a}resources: []\n",
            self.name
        );
        std::fs::write(dir.join("kustomization.yaml"), text).map_err(|e| e.to_string())
    }
}

/// Most releases get a file of their own; about a quarter share a file with the 1-3 releases
/// after them (in other namespaces: a file may hold any release).
fn write_specs(repo: &Path, releases: &[Release], seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed, u64::MAX - 1);
    let mut i = 0;
    while i < releases.len() {
        let r = &releases[i];
        let size = if i > 0 && rng.chance(25) { 2 + rng.below(3) as usize } else { 1 };
        let group = &releases[i..(i + size).min(releases.len())];
        let dir = repo.join("canaries").join(&r.namespace);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let (file, body) = match group {
            [one] => (format!("{}.yaml", one.name), one.doc.clone()),
            _ => {
                let docs: Vec<String> = group.iter().map(|g| format!("# {}\n{}", g.id(), g.doc)).collect();
                (format!("bundle-{:05}.yml", r.index), docs.join("---\n"))
            }
        };
        std::fs::write(dir.join(file), body).map_err(|e| e.to_string())?;
        i += group.len();
    }
    Ok(())
}

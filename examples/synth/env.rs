//! How the generator runs git and kanari (a fixed identity and clock, no machine configuration),
//! and the one date format it writes.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::EPOCH;

/// How child processes run: in the repository, with a fixed identity and clock, and without the
/// machine's Git configuration.
pub(super) struct Env {
    pub(super) repo: PathBuf,
    pub(super) kanari: PathBuf,
}

impl Env {
    pub(super) fn cmd(&self, program: &Path, time: i64) -> Command {
        let mut c = Command::new(program);
        let date = format!("{} +0000", EPOCH + time);
        c.current_dir(&self.repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Synth")
            .env("GIT_AUTHOR_EMAIL", "synth@example.com")
            .env("GIT_COMMITTER_NAME", "Synth")
            .env("GIT_COMMITTER_EMAIL", "synth@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("KANARI_NOW", rfc3339(EPOCH + time))
            .env_remove("NO_COLOR");
        c
    }

    pub(super) fn git(&self, argv: &[&str], time: i64) -> Result<(), String> {
        let status = self.cmd(Path::new("git"), time).args(argv).status().map_err(|e| format!("git: {e}"))?;
        status.success().then_some(()).ok_or_else(|| format!("`git {}` failed: {status}", argv.join(" ")))
    }

    pub(super) fn git_out(&self, argv: &[&str]) -> Result<String, String> {
        let out = self.cmd(Path::new("git"), 0).args(argv).output().map_err(|e| format!("git: {e}"))?;
        if !out.status.success() {
            return Err(format!("`git {}` failed: {}", argv.join(" "), String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs kanari at `EPOCH + time`; any exit code in `ok` is success.
    pub(super) fn kanari(&self, argv: &[&str], time: i64, ok: &[i32]) -> Result<(), String> {
        let out = self.cmd(&self.kanari, time).args(argv).output().map_err(|e| format!("kanari: {e}"))?;
        match out.status.code() {
            Some(code) if ok.contains(&code) => Ok(()),
            _ => Err(format!(
                "`kanari {}` failed ({}): {}",
                argv.iter().take(4).copied().collect::<Vec<_>>().join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }
}

/// Seconds since 1970 as `2026-01-01T00:00:00Z` (UTC), without a date crate.
pub(super) fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

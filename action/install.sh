#!/usr/bin/env bash
# Installs kanari for action.yml: the release binary for this runner when the release has one,
# its SHA-256 checked against the release's SHA256SUMS (a mismatch is an error, never a reason to
# fall back); else this repository's source built with `cargo install --locked`. Only a release,
# tag or asset that is not there (HTTP 404) falls back to the source; a download that fails for
# any other reason (refused credentials, a server error, no network) stops with exit 1.
#
# Environment:
#   KANARI_VERSION       a release tag (v0.2.0) or `latest` (default)
#   KANARI_REPOSITORY    owner/name of the repository whose releases hold the binaries
#   KANARI_SOURCE        the source to build when no release matches (the action's own checkout)
#   KANARI_TOKEN         a token for the GitHub API (optional)
#   KANARI_RELEASES_URL  where release assets are served (default https://github.com)
#   KANARI_API_URL       the GitHub API (default https://api.github.com)
#   KANARI_INSTALL_DIR   where the binary goes (default $RUNNER_TEMP/kanari, else ~/.local/kanari)
# The release assets the release workflow (.github/workflows/release.yml) publishes:
#   kanari-<tag>-<target>.tar.gz (the `kanari` binary) and SHA256SUMS.
set -euo pipefail

version="${KANARI_VERSION:-latest}"
repository="${KANARI_REPOSITORY:-}"
releases="${KANARI_RELEASES_URL:-https://github.com}"
api="${KANARI_API_URL:-https://api.github.com}"
dir="${KANARI_INSTALL_DIR:-${RUNNER_TEMP:-$HOME/.local}/kanari}"
mkdir -p "$dir/bin"

say() { printf 'kanari install: %s\n' "$*" >&2; }

# The token goes to the API alone, in a header read from a file of the job's own (mode 0600): never
# an argument, which `ps` and /proc/PID/cmdline show to every process on the runner.
fetch() { # URL FILE: 0 when fetched, 1 when the server answers 404; anything else stops the install
  local auth=() status
  if [[ -n "${KANARI_TOKEN:-}" && "$1" == "$api"* ]]; then
    (umask 077 && printf 'Authorization: Bearer %s\n' "$KANARI_TOKEN" >"$work/auth-header")
    auth=(-H "@$work/auth-header")
  fi
  status="$(curl -sSL --retry 3 --retry-delay 1 --max-time 120 "${auth[@]}" -o "$2" -w '%{http_code}' "$1")" || {
    say "could not download $1 (curl exit $?): not installed"
    exit 1
  }
  case "$status" in
    2??) return 0 ;;
    404) return 1 ;;
    *)
      # Refused credentials, a server error: a reason to stop, never to build something else.
      say "downloading $1 answered HTTP $status: not installed"
      exit 1
      ;;
  esac
}

target() {
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) echo x86_64-unknown-linux-musl ;;
    Linux/aarch64 | Linux/arm64) echo aarch64-unknown-linux-musl ;;
    Darwin/x86_64) echo x86_64-apple-darwin ;;
    Darwin/arm64) echo aarch64-apple-darwin ;;
    *) return 1 ;;
  esac
}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

from_source() {
  say "$1; building ${KANARI_SOURCE:-?} with cargo install --locked"
  [[ -n "${KANARI_SOURCE:-}" && -f "$KANARI_SOURCE/Cargo.toml" ]] || { say "no source to build"; exit 1; }
  command -v cargo >/dev/null || { say "cargo is not installed (actions/setup-rust or rustup)"; exit 1; }
  cargo install --locked --quiet --path "$KANARI_SOURCE" --root "$dir"
  finish
}

finish() {
  [[ -n "${GITHUB_PATH:-}" ]] && echo "$dir/bin" >> "$GITHUB_PATH"
  "$dir/bin/kanari" --version >&2
  exit 0
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

triple="$(target)" || from_source "no release binary for $(uname -s)/$(uname -m)"
[[ -n "$repository" ]] || from_source "no repository to take releases from"
tag="$version"
if [[ "$version" == latest ]]; then
  fetch "$api/repos/$repository/releases/latest" "$work/latest.json" || from_source "$repository has no release"
  tag="$(sed -n 's/^ *"tag_name": *"\([^"]*\)".*/\1/p' "$work/latest.json" | head -n1)"
  [[ -n "$tag" ]] || from_source "the latest release of $repository names no tag"
fi
asset="kanari-$tag-$triple.tar.gz"
base="$releases/$repository/releases/download/$tag"
fetch "$base/SHA256SUMS" "$work/SHA256SUMS" || from_source "release $tag has no SHA256SUMS"
fetch "$base/$asset" "$work/$asset" || from_source "release $tag has no $asset"
expected="$(awk -v f="$asset" '$2 == f || $2 == "*"f { print $1 }' "$work/SHA256SUMS")"
actual="$(sha256 "$work/$asset")"
if [[ -z "$expected" || "$expected" != "$actual" ]]; then
  say "$asset does not match SHA256SUMS of release $tag (expected ${expected:-nothing}, got $actual): not installed"
  exit 1
fi
tar -xzf "$work/$asset" -C "$work"
install -m 0755 "$work/kanari" "$dir/bin/kanari"
say "installed $asset ($actual)"
finish

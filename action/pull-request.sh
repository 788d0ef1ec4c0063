#!/usr/bin/env bash
# Names the pull request for `kanari diff` (action.yml runs it on a pull_request or
# pull_request_target event): writes KANARI_PULL_REQUEST (the number) and KANARI_HEAD_COMMIT
# (the pull request's head commit, not the merge commit the job checks out) to $GITHUB_ENV, so
# the Action's own kanari step and the job's later steps see them; the comment's heading then
# reads "pull request #42 at `9f20f37`". A value the workflow already set is kept. Values that
# are not a number and a hex commit id are refused (nothing is written for them).
set -euo pipefail

out="${GITHUB_ENV:-/dev/null}"
if [[ -z "${KANARI_PULL_REQUEST:-}" && -n "${PULL_REQUEST:-}" ]]; then
  if [[ "$PULL_REQUEST" =~ ^[0-9]+$ ]]; then
    echo "KANARI_PULL_REQUEST=$PULL_REQUEST" >> "$out"
  else
    echo "::warning::not a pull request number: $PULL_REQUEST" >&2
  fi
fi
if [[ -z "${KANARI_HEAD_COMMIT:-}" && -n "${HEAD_COMMIT:-}" ]]; then
  if [[ "$HEAD_COMMIT" =~ ^[0-9a-fA-F]{7,64}$ ]]; then
    echo "KANARI_HEAD_COMMIT=$HEAD_COMMIT" >> "$out"
  else
    echo "::warning::not a commit id: $HEAD_COMMIT" >&2
  fi
fi

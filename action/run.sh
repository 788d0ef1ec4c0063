#!/usr/bin/env bash
# Runs `kanari $KANARI_COMMAND $KANARI_ARGS` for action.yml. The arguments are split into words
# by xargs (quotes group words; nothing is expanded or executed, so an argument made from a pull
# request's title cannot run code); an unmatched quote is exit 2 and nothing runs. The exit code goes to the step's `exit-code` output; codes
# listed in $KANARI_ALLOWED do not fail the step.
set -uo pipefail

args=()
if [[ -n "${KANARI_ARGS:-}" ]]; then
  # xargs stops at an unmatched quote after running printf for the words before it: its exit
  # status, not the words it printed, says whether the whole input was split. A NUL-separated
  # list keeps words with newlines whole.
  words="$(mktemp)"
  trap 'rm -f "$words"' EXIT
  if ! printf '%s' "$KANARI_ARGS" | xargs printf '%s\0' >"$words" 2>/dev/null; then
    echo "::error::the action's args could not be split into words (an unmatched quote?): $KANARI_ARGS" >&2
    echo "exit-code=2" >> "${GITHUB_OUTPUT:-/dev/null}"
    exit 2
  fi
  mapfile -d '' -t args <"$words"
fi

kanari "$KANARI_COMMAND" "${args[@]}"
code=$?
echo "exit-code=$code" >> "${GITHUB_OUTPUT:-/dev/null}"
for allowed in ${KANARI_ALLOWED:-0}; do
  [[ "$code" == "$allowed" ]] && exit 0
done
exit "$code"

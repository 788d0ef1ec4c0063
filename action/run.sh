#!/usr/bin/env bash
# Runs `kanari $KANARI_COMMAND $KANARI_ARGS` for action.yml. The arguments are split into words
# by xargs (quotes group words; nothing is expanded or executed, so an argument made from a pull
# request's title cannot run code). The exit code goes to the step's `exit-code` output; codes
# listed in $KANARI_ALLOWED do not fail the step.
set -uo pipefail

args=()
if [[ -n "${KANARI_ARGS:-}" ]]; then
  mapfile -t args < <(printf '%s' "$KANARI_ARGS" | xargs -n1 printf '%s\n') || {
    echo "::error::the action's args could not be split into words (an unmatched quote?): $KANARI_ARGS" >&2
    exit 2
  }
fi

kanari "$KANARI_COMMAND" "${args[@]}"
code=$?
echo "exit-code=$code" >> "${GITHUB_OUTPUT:-/dev/null}"
for allowed in ${KANARI_ALLOWED:-0}; do
  [[ "$code" == "$allowed" ]] && exit 0
done
exit "$code"

#!/usr/bin/env bash
# A shell step on the protocol helper: writes its parameter to its output.
set -euo pipefail
source "$LLMOPS_STEP_HELPERS/llmops-step.sh"
llmops_hello
out=$(llmops_output out)
llmops_request "params[\"text\"]" > "$out/text.txt"
llmops_log "wrote $(wc -c < "$out/text.txt") bytes"
llmops_metric bytes "$(wc -c < "$out/text.txt")"
llmops_progress 1 1
llmops_ok out

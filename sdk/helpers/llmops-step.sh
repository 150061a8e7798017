# The llmops step protocol (version 1) for shell plugins: source it, then
#   llmops_hello
#   out=$(llmops_output dataset)            # the folder to fill
#   llmops_log "copying"; llmops_metric rows 3; llmops_progress 1 2
#   llmops_ok dataset                      # the outputs produced; or: llmops_fail CODE MESSAGE
# Parameters and inputs are in the request ($LLMOPS_STEP_REQUEST, JSON); llmops_request reads
# one value by a Python expression over it (needs python3), e.g. llmops_request 'params["n"]'.
# See docs/step-protocol.md.

if [ -z "${LLMOPS_STEP_REQUEST:-}" ] || [ -z "${LLMOPS_EVENTS_FD:-}" ]; then
  echo "This program is an llmops step (step protocol 1): llmops runs it; check it with" >&2
  echo "\`llmops plugins check FOLDER\`. It was started without LLMOPS_STEP_REQUEST." >&2
  exit 2
fi

_llmops_json() { # a JSON string literal of $1
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  printf '"%s"' "$s"
}
_llmops_event() { printf '%s\n' "$1" >&"$LLMOPS_EVENTS_FD"; }
llmops_hello() { _llmops_event '{"type":"hello","protocol":1}'; }
llmops_log() { _llmops_event "{\"type\":\"log\",\"level\":\"${2:-info}\",\"message\":$(_llmops_json "$1")}"; }
llmops_metric() { _llmops_event "{\"type\":\"metric\",\"name\":$(_llmops_json "$1"),\"value\":$2}"; }
llmops_progress() { _llmops_event "{\"type\":\"progress\",\"done\":$1,\"total\":$2}"; }
llmops_request() {
  python3 -c 'import json,os,sys; r=json.load(open(os.environ["LLMOPS_STEP_REQUEST"])); print(eval(sys.argv[1], {"r": r, "params": r["params"], "inputs": r["inputs"], "outputs": r["outputs"]}))' "$1"
}
llmops_output() { llmops_request "outputs[\"$1\"][\"path\"]"; }
llmops_input() { llmops_request "inputs[\"$1\"][\"path\"]"; }
_llmops_result() {
  local path
  path=$(llmops_request 'r["result"]')
  printf '%s\n' "$1" > "$path.tmp" && mv -f "$path.tmp" "$path"
}
llmops_ok() { # the names of the outputs produced
  local outs="" o
  for o in "$@"; do outs="$outs${outs:+,}$(_llmops_json "$o"):{}"; done
  _llmops_result "{\"status\":\"ok\",\"outputs\":{$outs}}"
}
llmops_fail() { # CODE MESSAGE; exits 1
  _llmops_result "{\"status\":\"failed\",\"error\":{\"code\":$(_llmops_json "$1"),\"message\":$(_llmops_json "$2")}}"
  exit 1
}

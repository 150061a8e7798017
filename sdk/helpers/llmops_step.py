"""The llmops step protocol (version 1) for Python plugins; standard library only.

A plugin folder holds llmops-plugin.yaml and a program; llmops starts the program with
LLMOPS_STEP_REQUEST (a JSON request), LLMOPS_EVENTS_FD (where events go, one JSON line each)
and a result path in the request. This module does the protocol, so a step is a few lines:

    import llmops_step

    def main(step):
        n = 0
        with open(step.output("dataset") / "data.jsonl", "w") as out:
            for line in open(step.input("data").file("data.jsonl")):
                out.write(line)
                n += 1
        step.metric("rows", n)
        return {"dataset": {"rows": n}}      # outputs produced, with their metadata

    llmops_step.run(main)

run() says hello, calls main, and writes the result: ok with the outputs main returned, or
failed with the error (StepError carries a code: invalid_input, retryable or permanent; any
other exception is retryable and its traceback goes to stderr, the step log). See
docs/step-protocol.md.
"""

import os
import sys

# Start-up matters (a step's cost is mostly the interpreter's): pathlib, traceback and the `json`
# package (with the `re` it pulls in) are imported only when used. Requests and events go through
# the json package's own C accelerator (_json) directly; anything unusual falls back to `json`.

try:
    import _json

    class _DecodeContext:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        memo = {}

        @staticmethod
        def parse_constant(name):
            return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]

    _scan = _json.make_scanner(_DecodeContext())
    _quote = _json.encode_basestring_ascii
except (ImportError, AttributeError):  # another Python: the plain json module
    _scan = _quote = None


def _loads(text):
    if _scan is not None:
        i = len(text) - len(text.lstrip())
        try:
            value, end = _scan(text, i)
            if not text[end:].strip():
                return value
        except (StopIteration, ValueError):
            pass
    import json  # for its error message, or without the accelerator
    return json.loads(text)


def _dumps(value):
    if _quote is not None:
        try:
            return _encode(value)
        except TypeError:
            pass
    import json
    return json.dumps(value, separators=(",", ":"), default=str, allow_nan=False)


def _encode(v):
    if isinstance(v, str):
        return _quote(v)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return int.__repr__(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return "null"  # JSON has no NaN or Infinity
        return float.__repr__(v)
    if isinstance(v, dict):
        if not all(isinstance(k, str) for k in v):
            raise TypeError("non-string key")
        return "{" + ",".join(_quote(k) + ":" + _encode(x) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_encode(x) for x in v) + "]"
    raise TypeError(type(v).__name__)

PROTOCOL = 1

USAGE = """This program is an llmops step (step protocol %d). llmops runs it: put its folder on
LLMOPS_PLUGIN_PATH and use it in a pipeline (`uses: KIND/NAME`), or check it with
`llmops plugins check FOLDER`. It was started without LLMOPS_STEP_REQUEST and LLMOPS_EVENTS_FD.
""" % PROTOCOL


class StepError(Exception):
    """A failure the step reports: code is invalid_input, retryable or permanent."""

    def __init__(self, message, code="permanent"):
        super().__init__(message)
        self.message = message
        self.code = code


_TYPES = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
          "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict),
          "null": lambda v: v is None}


def check_value(schema, value, where):
    """The first way `value` breaks `schema` (the keywords manifests use), or None."""
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_TYPES.get(x, lambda v: True)(value) for x in types):
            return "%s must be %s, got %s" % (where, " or ".join(types), _dumps(value))
    if "enum" in schema and value not in schema["enum"]:
        return "%s must be one of %s, got %s" % (where, _dumps(schema["enum"]), _dumps(value))
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            return "%s must be at least %s, got %s" % (where, schema["minimum"], value)
        if "maximum" in schema and value > schema["maximum"]:
            return "%s must be at most %s, got %s" % (where, schema["maximum"], value)
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return "%s must be above %s, got %s" % (where, schema["exclusiveMinimum"], value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                return "%s: missing required parameter %s" % (where, k)
        for k, v in value.items():
            if k in props:
                err = check_value(props[k], v, k if where == "params" else where + "." + k)
                if err:
                    return err
            elif schema.get("additionalProperties") is False:
                return "unknown parameter %s (known: %s)" % (k, ", ".join(sorted(props)) or "none")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            err = check_value(schema["items"], v, "%s[%d]" % (where, i))
            if err:
                return err
    return None


class Input:
    """An input artifact: path (file or folder), kind, digest and metadata."""

    def __init__(self, name, entry):
        import pathlib
        self.name = name
        self.path = pathlib.Path(entry["path"])
        self.kind = entry.get("kind", "")
        self.digest = entry.get("digest", "")
        self.metadata = entry.get("metadata", {})

    def file(self, default_name=None):
        """The file itself, or in a folder `default_name` when present, else its only file."""
        if self.path.is_file():
            return self.path
        if default_name and (self.path / default_name).is_file():
            return self.path / default_name
        files = sorted(p for p in self.path.rglob("*") if p.is_file())
        if len(files) != 1:
            raise StepError("input '%s' (%s) holds %d files; expected one" %
                            (self.name, self.path, len(files)), "invalid_input")
        return files[0]


class Step:
    def __init__(self):
        req = os.environ.get("LLMOPS_STEP_REQUEST")
        fd = os.environ.get("LLMOPS_EVENTS_FD")
        if not req or not fd:
            sys.stderr.write(USAGE)
            sys.exit(2)
        with open(req, encoding="utf-8") as f:
            self.request = _loads(f.read())
        self._events = os.fdopen(int(fd), "w", encoding="utf-8", buffering=1)
        self.params = self.request.get("params", {})
        self.run_id = self.request.get("run_id")
        self.step = self.request.get("step")
        self.attempt = self.request.get("attempt", 1)
        self._scratch = self.request.get("scratch", ".")
        self._done = False
        self._send({"type": "hello", "protocol": PROTOCOL})

    # --- inputs, outputs, parameters
    @property
    def scratch(self):
        """The attempt's private folder (a pathlib.Path)."""
        import pathlib
        return pathlib.Path(self._scratch)

    def param(self, name, default=None):
        return self.params.get(name, default)

    def input(self, name):
        entry = self.request.get("inputs", {}).get(name)
        return Input(name, entry) if entry else None

    def output(self, name):
        """The folder to fill for declared output `name`."""
        entry = self.request.get("outputs", {}).get(name)
        if not entry:
            raise StepError("output '%s' is not declared in llmops-plugin.yaml" % name)
        import pathlib
        return pathlib.Path(entry["path"])

    # --- events
    def _send(self, event):
        self._events.write(_dumps(event) + "\n")

    def log(self, message, level="info"):
        self._send({"type": "log", "level": level, "message": str(message)})

    def metric(self, name, value, step=None):
        e = {"type": "metric", "name": name, "value": float(value)}
        if step is not None:
            e["step"] = int(step)
        self._send(e)

    def progress(self, done, total, note=""):
        self._send({"type": "progress", "done": done, "total": total, "note": note})

    def heartbeat(self):
        import time
        self._send({"type": "heartbeat", "time": time.time()})

    def artifact(self, output, **metadata):
        self._send({"type": "artifact", "output": output, "metadata": metadata})

    # --- the result (written once, atomically)
    def _result(self, body):
        if self._done:
            return
        text = _dumps(body)  # first: if it cannot be encoded, fail() can still report that
        self._done = True
        path = self.request["result"]
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        self._events.flush()

    def succeed(self, outputs=None):
        body = {"status": "ok", "outputs": {}}
        for name, meta in (outputs or {}).items():
            body["outputs"][name] = {"metadata": meta or {}}
        self._result(body)

    def fail(self, message, code="permanent"):
        self._result({"status": "failed", "error": {"code": code, "message": str(message)}})


def run(main):
    """Runs main(step) as a step; exits 0 only after writing an ok result."""
    step = Step()
    try:
        # Parameters are typed by the manifest's schema (sent in the request): a value it refuses
        # never reaches main.
        err = check_value(step.request.get("params_schema") or {}, step.params, "params")
        if err:
            raise StepError(err, "invalid_input")
        step.succeed(main(step))
    except StepError as e:
        step.fail(e.message, e.code)
        sys.exit(1)
    except Exception as e:  # the traceback goes to the step log; the step's retries apply
        import traceback
        traceback.print_exc()
        step.fail("%s: %s" % (type(e).__name__, e), "retryable")
        sys.exit(1)
    sys.exit(0)

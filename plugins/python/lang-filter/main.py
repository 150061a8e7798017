#!/usr/bin/env python3
"""curator/lang-filter: English and quality filter over OpenAI-chat JSONL (see llmops-plugin.yaml)."""
import collections
import json
import re

import llmops_step

STOPWORDS = set("""a an the to of and or in on at for with from by is are was be it this that my me
i you your we our please can could would will do does add create set make remind show list what
when where how which schedule move delete cancel mark all new task tasks meeting""".split())
WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def text_of(msg):
    c = msg.get("content")
    return c if isinstance(c, str) else ""


def verdict(conv, p):
    """None to keep, else the reason to drop."""
    msgs = conv.get("messages") if isinstance(conv, dict) else None
    if not isinstance(msgs, list) or not msgs:
        return "malformed"
    user = " ".join(text_of(m) for m in msgs if isinstance(m, dict) and m.get("role") == "user")
    if len(user.strip()) < p["min_user_chars"]:
        return "short"
    letters = [ch for ch in user if ch.isalpha()]
    if letters and sum(ch.isascii() for ch in letters) / len(letters) < p["min_latin_share"]:
        return "language"
    words = [w.lower() for w in WORD.findall(user)]
    if words and sum(w in STOPWORDS for w in words) / len(words) < p["min_stopword_share"]:
        return "language"
    for m in msgs:
        if isinstance(m, dict) and m.get("role") == "assistant":
            aw = WORD.findall(text_of(m).lower())
            if len(aw) >= 8 and collections.Counter(aw).most_common(1)[0][1] / len(aw) > p["max_repeat_share"]:
                return "quality"
    return None


def main(step):
    p = step.params
    data = step.input("data")
    files = [data.path] if data.path.is_file() else sorted(data.path.rglob("*.jsonl"))
    if not files:
        raise llmops_step.StepError("input 'data' (%s) holds no .jsonl file" % data.path, "invalid_input")
    total = sum(1 for f in files for _ in open(f, encoding="utf-8", errors="replace"))
    dropped = collections.Counter()
    kept = seen = 0
    with open(step.output("dataset") / "data.jsonl", "w", encoding="utf-8") as out:
        for f in files:
            for line in open(f, encoding="utf-8", errors="replace"):
                seen += 1
                if not line.strip():
                    continue
                try:
                    conv = json.loads(line)
                except ValueError:
                    conv = None
                why = verdict(conv, p)
                if why:
                    dropped[why] += 1
                else:
                    out.write(json.dumps(conv, ensure_ascii=False) + "\n")
                    kept += 1
                if seen % 500 == 0:
                    step.progress(seen, total, "%d kept" % kept)
    step.metric("rows_in", seen)
    step.metric("kept", kept)
    for why in ("malformed", "short", "language", "quality"):
        step.metric("dropped." + why, dropped[why])
    step.metric("kept_share", kept / seen if seen else 0)
    step.log("kept %d of %d conversations (%s)" % (kept, seen, ", ".join(
        "%s %d" % kv for kv in sorted(dropped.items())) or "none dropped"))
    return {"dataset": {"rows": kept, "format": "openai-chat-jsonl"}}


llmops_step.run(main)

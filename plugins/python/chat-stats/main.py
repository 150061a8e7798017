#!/usr/bin/env python3
"""monitor/chat-stats: metrics over chat JSONL or a request log (see llmops-plugin.yaml)."""
import collections
import json

import llmops_step


def messages_of(record):
    """Chat messages of a data set line ({"messages"}) or a request log line ({"request": ...})."""
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("messages"), list):
        return record["messages"]
    req = record.get("request")
    if isinstance(req, dict) and isinstance(req.get("messages"), list):
        return req["messages"]
    return None


def main(step):
    data = step.input("data")
    files = [data.path] if data.path.is_file() else sorted(
        p for p in data.path.rglob("*") if p.suffix in (".jsonl", ".log"))
    n = bad = turns = user_chars = non_ascii = tool_convs = 0
    tools = collections.Counter()
    for f in files:
        for line in open(f, encoding="utf-8", errors="replace"):
            if not line.strip():
                continue
            try:
                msgs = messages_of(json.loads(line))
            except ValueError:
                msgs = None
            if msgs is None:
                bad += 1
                continue
            n += 1
            turns += len(msgs)
            used = False
            for m in msgs:
                if not isinstance(m, dict):
                    continue
                if m.get("role") == "user" and isinstance(m.get("content"), str):
                    user_chars += len(m["content"])
                    non_ascii += any(ord(c) > 127 for c in m["content"])
                for call in m.get("tool_calls") or []:
                    name = (call.get("function") or {}).get("name", "?")
                    tools[name] += 1
                    used = True
            tool_convs += used
    if n == 0:
        raise llmops_step.StepError("input 'data' (%s) holds no chat conversations" % data.path,
                                    "invalid_input")
    calls = sum(tools.values())
    report = {"conversations": n, "unreadable": bad, "mean_turns": turns / n,
              "mean_user_chars": user_chars / n, "tool_call_share": tool_convs / n,
              "non_ascii_share": non_ascii / n,
              "tools": {k: v / calls for k, v in sorted(tools.items())} if calls else {}}
    for k in ("conversations", "unreadable", "mean_turns", "mean_user_chars", "tool_call_share",
              "non_ascii_share"):
        step.metric(k, report[k])
    for name, share in report["tools"].items():
        step.metric("tool." + name, share)
    with open(step.output("report") / "report.json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    limit = step.param("max_tool_share")
    if limit is not None and report["tools"]:
        top, share = max(report["tools"].items(), key=lambda kv: kv[1])
        if share > limit:
            raise llmops_step.StepError("tool %s takes %.2f of the tool calls, above max_tool_share %.2f"
                                        % (top, share, limit), "permanent")
    return {"report": {"conversations": n}}


llmops_step.run(main)

import json, os, subprocess, sys
os.write(int(os.environ["LLMOPS_EVENTS_FD"]), b"{\"type\":\"hello\",\"protocol\":1}\n")
marker = json.load(open(os.environ["LLMOPS_STEP_REQUEST"]))["params"]["marker"]
subprocess.Popen(["sleep", "300", marker], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
req = json.load(open(os.environ["LLMOPS_STEP_REQUEST"]))
json.dump({"status": "ok"}, open(req["result"], "w"))

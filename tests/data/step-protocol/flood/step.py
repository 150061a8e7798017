import json, os
fd = int(os.environ["LLMOPS_EVENTS_FD"])
f = os.fdopen(fd, "w")
f.write("{\"type\":\"hello\",\"protocol\":1}\n")
for i in range(300000):
    f.write("{\"type\":\"metric\",\"name\":\"m\",\"value\":%d,\"step\":%d}\n" % (i, i))
f.write("{\"type\":\"log\",\"message\":\"" + "x" * (100 << 20) + "\"}\n")
f.write("not json at all\n")
f.write("{\"type\":\"metric\",\"name\":\"after\",\"value\":1}\n")
f.flush()
req = json.load(open(os.environ["LLMOPS_STEP_REQUEST"]))
json.dump({"status": "ok"}, open(req["result"], "w"))

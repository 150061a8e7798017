import os, time
os.write(int(os.environ["LLMOPS_EVENTS_FD"]), b"{\"type\":\"hello\",\"protocol\":1}\n")
import signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ignores SIGTERM: only SIGKILL ends it
time.sleep(300)

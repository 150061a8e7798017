import time, sys
print("never speaks the protocol", file=sys.stderr, flush=True)
time.sleep(300)

import os, sys
fd = int(os.environ["LLMOPS_EVENTS_FD"])
os.write(fd, b'{"type":"hello","protocol":1}\n')
os.write(fd, b"caf\xe9 is not UTF-8\n")  # Latin-1 on the events channel
os.write(fd, b'{"type":"log","message":"half a block: \xe2\x96"}\n')
sys.stdout.write("printed on stdout\n")
sys.stdout.flush()
sys.stderr.buffer.write("progress ████".encode()[:-1])  # a character cut in half, then death
sys.stderr.flush()
sys.exit(3)

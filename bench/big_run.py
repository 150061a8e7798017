# big_run.py HOME N: adds to the store at HOME a finished run of N steps, each with one execution,
# one output artifact (the previous step's output as its input) and one metric, straight through
# SQLite, to time the read commands on large runs (bench/read_commands.sh). The store must exist
# (`llmops runs` creates it). Prints the run id.
import sqlite3, sys, time, hashlib
home, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(home + "/llmops.db")
now = time.time()
c = db.cursor()
c.execute("INSERT OR IGNORE INTO pipelines(name, created_at, updated_at) VALUES ('big', ?, ?)", (now, now))
c.execute("INSERT INTO runs(pipeline, pipeline_file, state, created_at, started_at, ended_at) VALUES ('big','big.yaml','succeeded',?,?,?)", (now, now, now + 1))
run = c.lastrowid
c.executemany("INSERT INTO run_steps(run_id, step, ordinal, state, attempts, started_at, ended_at) VALUES (?,?,?,'succeeded',1,?,?)",
              [(run, f"s{i}", i, now, now + 0.5) for i in range(n)])
base = c.execute("SELECT COALESCE(MAX(id),0) FROM executions").fetchone()[0]
c.executemany("INSERT INTO executions(id, run_id, step, attempt, state, plugin_id, plugin_version, started_at, ended_at) VALUES (?,?,?,1,'succeeded','testing/noop','1.0.0',?,?)",
              [(base + 1 + i, run, f"s{i}", now, now + 0.5) for i in range(n)])
dig = lambda i: "sha256:" + hashlib.sha256(f"{run}-{i}".encode()).hexdigest()
c.executemany("INSERT INTO artifacts(digest, kind, name, uri, size, created_at) VALUES (?,'file','out','/x',10,?)",
              [(dig(i), now + i * 1e-6) for i in range(n)])
ev = []
for i in range(n):
    ev.append((base + 1 + i, dig(i), 'output', 'out'))
    if i: ev.append((base + 1 + i, dig(i - 1), 'input', 'in'))
c.executemany("INSERT INTO events(execution_id, artifact_digest, direction, role) VALUES (?,?,?,?)", ev)
c.executemany("INSERT INTO metrics(execution_id, name, value, step, time) VALUES (?,'loss',?,-1,?)",
              [(base + 1 + i, 1.0 / (i + 1), now) for i in range(n)])
db.commit()
print(run)

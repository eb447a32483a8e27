#!/usr/bin/env python3
"""The demo's time (issue 12): `biomarkers simulate --subjects 54` per stage, then
`biomarkers run --cpus 2` per step, each sampled every 0.1 s from /proc: wall seconds,
CPU seconds of the main process and of the rest of its tree (fork server, workers), and
the load average. On two idle cores a part takes about its main CPU plus half its
workers' CPU (docs/benchmarks.md, "The 54-subject demo, before and after").

    python benchmarks/bench_demo.py . /tmp/demo          # WORKTREE OUTDIR [simulate options]
    SNAP=/path/to/src python benchmarks/bench_demo.py . /tmp/demo   # another checkout's code

Writes OUTDIR/measure.json; figures of 2026-12-06 in benchmarks/demo_2026-12-06.json.
"""
import json, os, re, sys, shutil, subprocess, threading, time, resource
from pathlib import Path
CLK = os.sysconf("SC_CLK_TCK")
def tree(pid):
    ch = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try: f = Path(f"/proc/{e}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError: continue
            ch.setdefault(int(f[1]), []).append(int(e))
    out, todo = [], [pid]
    while todo:
        p = todo.pop(); out.append(p); todo += ch.get(p, [])
    return out
def cpu_of(p, children=True):
    f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in f[11:15 if children else 13]) / CLK
def sample(pid):
    main, tot = 0.0, 0.0
    for p in tree(pid):
        try: c = cpu_of(p)
        except OSError: continue
        tot += c
        if p == pid: main = cpu_of(p, children=False)
    return main, tot
def measure(cmd, pattern):
    start = time.monotonic(); load0 = os.getloadavg()[0]
    proc = subprocess.Popen(cmd, env={**os.environ, **({"PYTHONPATH": os.environ["SNAP"]} if os.environ.get("SNAP") else {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    marks, samples, tail = [], [], []
    def reader():
        for line in proc.stderr:
            tail.append(line); del tail[:-40]
            m = pattern.search(line)
            if m: marks.append((time.monotonic(), m.group(1)))
    th = threading.Thread(target=reader, daemon=True); th.start()
    lm, lt = 0.0, 0.0
    while proc.poll() is None:
        try:
            m, t = sample(proc.pid); lm, lt = max(lm, m), max(lt, t)
        except Exception: pass
        samples.append((time.monotonic(), lm, lt)); time.sleep(0.1)
    end = time.monotonic(); th.join(5)
    if proc.returncode: raise SystemExit("".join(tail))
    res = {"wall_s": round(end - start, 1), "cpu_main_s": round(lm, 1), "cpu_tree_s": round(lt, 1),
           "load": [round(load0, 1), round(os.getloadavg()[0], 1)], "parts": []}
    bounds = [(start, "start-up")] + marks + [(end, None)]
    for (t0, name), (t1, _) in zip(bounds, bounds[1:]):
        before = [s for s in samples if s[0] <= t0]; upto = [s for s in samples if s[0] <= t1]
        b = before[-1] if before else (0, 0.0, 0.0); u = upto[-1] if upto else b
        res["parts"].append({"part": name, "wall_s": round(t1 - t0, 1), "cpu_main_s": round(u[1] - b[1], 1),
                             "cpu_workers_s": round((u[2] - b[2]) - (u[1] - b[1]), 1)})
    return res
def main():
    wt, out = Path(sys.argv[1]), Path(sys.argv[2])
    py = str(wt / ".venv/bin/python")
    shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
    res = {"uptime_start": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}
    res["simulate"] = measure([py, "-m", "biomarkers", "simulate", "--subjects", "54", "--seed", "1", "--outdir", str(out / "trial"), *sys.argv[3:]],
                              re.compile(r"simulate: (\w+) \("))
    print(json.dumps(res["simulate"]), flush=True)
    res["run"] = measure([py, "-m", "biomarkers", "run", "--params-file", str(out / "trial/params.yaml"), "--outdir", str(out / "results"), "--cpus", "2"],
                         re.compile(r"\[\d+/\d+\] (\w+): (?!done|skipped)"))
    res["uptime_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(json.dumps(res["run"]), flush=True)
    (out / "measure.json").write_text(json.dumps(res, indent=1))
if __name__ == "__main__": main()

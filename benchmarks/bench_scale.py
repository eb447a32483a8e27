#!/usr/bin/env python3
"""How `biomarkers run` scales with the trial: wall, CPU and peak memory per step.

    python benchmarks/bench_scale.py                       # 54 and 162 subjects
    python benchmarks/bench_scale.py --subjects 54 162 540 --cpus 1 2
    python benchmarks/bench_scale.py --subjects --synthetic 50 500 5000 --in-memory-max 500   # merge load only
    python benchmarks/bench_scale.py --plot docs/benchmarks_scale.png --json scale.json

1. **Simulated trials.** For each size, `biomarkers simulate --subjects N` writes a
   trial (timed on its own), then one `biomarkers run` runs every step on it. A
   sampler reads the process tree's /proc entries every 0.1 s (CPU time of the run and
   of its worker processes, resident memory summed over the tree) and splits them by
   step at the runner's "[i/n] step: ..." log lines. Per step: wall seconds, CPU
   seconds (all processes), peak resident memory (sampled: a spike shorter than
   0.1 s can be missed; the run's own VmHWM, exact, is printed too).
2. **Synthetic merge load.** Per-specimen part files as the TMB and MSI steps write
   them (10,000 MSI sites and 300 variants per specimen by default), for 500 to 5,000
   specimens, then `biomarkers msi collect` and `biomarkers tmb collect` on them: what
   a 5,000-specimen exome cohort asks of the merges, without simulating 5,000 BAMs.
   With `--in-memory-max N`, also the peer up to N specimens: the former site merge,
   every specimen's site table concatenated in memory and written as one file.

Ratios are printed against the smallest size run in the same invocation (time per
subject should stay flat if time grows linearly; peak memory should stay flat).
Run it when `uptime` shows a low load; it prints the load it ran under.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

STEP_LINE = re.compile(r"\[(\d+)/(\d+)\] (\w+): (.*)$")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def biomarkers() -> list[str]:
    return [sys.executable, "-m", "biomarkers"]


def tree(pid: int) -> list[int]:
    """pid and its descendants (from /proc/*/stat parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def sample(pid: int) -> tuple[float, int]:
    """(CPU seconds, resident bytes) of a process tree, children already waited for included."""
    cpu, rss = 0.0, 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            statm = Path(f"/proc/{p}/statm").read_text().split()
        except OSError:
            continue
        # utime stime cutime cstime: fields 14-17 of stat (11-14 after the name)
        cpu += sum(int(x) for x in fields[11:15]) / CLK_TCK
        rss += int(statm[1]) * PAGE
    return cpu, rss


def measure(cmd: list[str], *, log_steps: bool, env: dict | None = None) -> dict:
    """Run cmd; return its total and per-step wall, CPU and peak memory."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_start = os.getloadavg()[0]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    marks: list[tuple[float, str]] = []
    samples: list[tuple[float, float, int]] = []
    stderr_tail: list[str] = []
    hwm = [0]

    def read_log():
        for line in proc.stderr:
            stderr_tail.append(line)
            del stderr_tail[:-50]
            m = STEP_LINE.search(line)
            if m and log_steps and not m.group(4).startswith(("done", "skipped")):
                marks.append((time.monotonic(), m.group(3)))

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    last_cpu = 0.0
    while proc.poll() is None:
        cpu, rss = sample(proc.pid)
        last_cpu = max(last_cpu, cpu)
        samples.append((time.monotonic(), last_cpu, rss))
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            hwm[0] = max(hwm[0], int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) * 1024)
        except (OSError, AttributeError):
            pass
        time.sleep(0.1)
    end = time.monotonic()
    reader.join(timeout=5)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{''.join(stderr_tail)}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The 1-minute load average at the start and end: on a shared machine wall time
    # depends on it; CPU seconds much less.
    result = {"load_1min": [round(load_start, 1), round(os.getloadavg()[0], 1)], "wall_s": round(end - start, 2), "peak_rss_sampled_mb": round(max((s[2] for s in samples), default=0) / 2**20, 1),
              "main_vmhwm_mb": round(hwm[0] / 2**20, 1)}
    # The run and every process it waited for (exact), or the sampled process tree when
    # more (forkserver workers are reaped by the fork server, which the run does not wait for).
    waited = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    result["cpu_s"] = round(max(waited, last_cpu), 2)
    steps = []
    bounds = marks + [(end, None)]
    for (t0, name), (t1, _) in zip(bounds, bounds[1:]):
        inside = [s for s in samples if t0 <= s[0] < t1] or [min(samples, key=lambda s: abs(s[0] - t0))]
        before = [s for s in samples if s[0] < t0]
        cpu0 = before[-1][1] if before else 0.0
        steps.append({"step": name, "wall_s": round(t1 - t0, 2), "cpu_s": round(inside[-1][1] - cpu0, 2),
                      "peak_rss_mb": round(max(s[2] for s in inside) / 2**20, 1)})
    result["steps"] = steps
    return result


def run_help() -> str:
    return subprocess.run([*biomarkers(), "run", "--help"], capture_output=True, text=True).stdout


def simulated(sizes: list[int], cpus_list: list[int | None], workdir: Path) -> list[dict]:
    rows = []
    has_cpus = "--cpus" in run_help()
    for n in sizes:
        trial = workdir / f"trial_{n}"
        if not (trial / "params.yaml").exists():
            shutil.rmtree(trial, ignore_errors=True)
            sim = measure([*biomarkers(), "simulate", "--subjects", str(n), "--seed", "1", "--outdir", str(trial)], log_steps=False)
        else:
            sim = {"wall_s": None, "cpu_s": None, "peak_rss_sampled_mb": None}
        for cpus in cpus_list:
            if cpus is not None and not has_cpus:
                print("biomarkers run has no --cpus here: running without it", file=sys.stderr)
                cpus = None
            out = workdir / f"results_{n}_{cpus or 'default'}"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [*biomarkers(), "run", "--params-file", str(trial / "params.yaml"), "--outdir", str(out)]
            if cpus is not None:
                cmd += ["--cpus", str(cpus)]
            # The trial's own ledger is appended to in place: run on a copy.
            ledger = trial / "custody.sqlite"
            if ledger.exists():
                shutil.copy(ledger, workdir / "ledger_backup.sqlite")
            res = measure(cmd, log_steps=True)
            if ledger.exists():
                shutil.copy(workdir / "ledger_backup.sqlite", ledger)
            specimens = sum(1 for _ in open(trial / "samplesheet.csv")) - 1 if (trial / "samplesheet.csv").exists() else None
            rows.append({"subjects": n, "samplesheet_rows": specimens, "cpus": cpus, "simulate": sim, "run": res})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def synthetic_parts(n_specimens: int, folder: Path, *, sites: int, variants: int) -> list[Path]:
    """Per-specimen TMB and MSI parts as the steps write them: one real part of each kind
    is made by the library (a 3-subject trial), then written again under new specimen IDs
    (ID columns and the partition label rewritten, everything else as declared)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    template = folder / "template"
    if not template.exists():
        _template_parts(template, sites=sites, variants=variants)
    parts = []
    for kind in ("tmb", "tmb_variants", "msi", "msi_sites"):
        table = pq.read_table(template / f"TEMPLATE.{kind}.parquet")
        meta = json.loads(table.schema.metadata[b"biomarkers"])
        for i in range(n_specimens):
            spec = f"NCT07007182-S01-{i:04d}-BX01-DNA"
            out = folder / f"{spec}.{kind}.parquet"
            parts.append(out)
            if out.exists():
                continue
            cols = {}
            for name in table.column_names:
                value = {"SPECIMEN_ID": spec, "USUBJID": f"NCT07007182-S01-{i:04d}"}.get(name)
                cols[name] = pa.array([value] * len(table), table.schema.field(name).type) if value else table.column(name)
            if "partition" in meta:
                meta["partition"]["value"] = spec
            schema = table.schema.with_metadata({b"biomarkers": json.dumps(meta, sort_keys=True).encode()})
            pq.write_table(pa.table(cols, schema=schema), out, compression="zstd")
    return parts


def _template_parts(folder: Path, *, sites: int, variants: int) -> None:
    """One specimen's real parts: simulate the smallest trial and run TMB and MSI on it,
    then scale its MSI site table and TMB variant table to the sizes asked for."""
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from biomarkers import schemas

    folder.mkdir(parents=True)
    trial = folder / "trial"
    subprocess.run([*biomarkers(), "simulate", "--subjects", "3", "--seed", "2", "--outdir", str(trial)], check=True,
                   capture_output=True)
    out = folder / "run"
    subprocess.run([*biomarkers(), "run", "--params-file", str(trial / "params.yaml"), "--outdir", str(out),
                    "--only", "tmb", "msi"], check=True, capture_output=True)
    # The parts are temporary in a run: the published files are the same tables (the site
    # and variant datasets' files are the parts themselves; a summary is one row).
    for kind, dataset in (("tmb", "tmb_variants"), ("msi", "msi_sites")):
        summary = schemas.read_table(out / "genomics" / f"{kind}.parquet").iloc[[0]]
        if kind == "msi":
            # Labelled MSS: MSI-H tumours are excluded from the trial (rare in a cohort), and
            # each MSI-H specimen adds a plot of its sites to the collect (timed apart).
            summary = summary.assign(MSI_STATUS="MSS", MSI_H_EXCLUSION=False)
        first = summary["SPECIMEN_ID"].iloc[0]
        rows = schemas.read_table(out / "genomics" / dataset / f"{first}.parquet")
        want = {"msi_sites": sites, "tmb_variants": variants}[dataset]
        if len(rows):
            rows = pd.concat([rows] * -(-want // len(rows)), ignore_index=True).iloc[:want]
            # distinct keys, as real sites and variants have
            key = "SITE_ID" if dataset == "msi_sites" else "POS"
            rows[key] = [f"{v}#{i}" for i, v in enumerate(rows[key])] if key == "SITE_ID" else rows[key] + range(len(rows))
        schemas.write_table(summary, f"genomics.{kind}", folder / "_summary")
        (folder / "_summary" / "genomics" / f"{kind}.parquet").rename(folder / f"TEMPLATE.{kind}.parquet")
        schemas.write_partition(rows, f"genomics.{dataset}", folder / "_rows", first).rename(
            folder / f"TEMPLATE.{dataset}.parquet")


# The peer: what `msi collect` did before the site table became a dataset (every
# specimen's sites concatenated in memory, sorted, written as one file).
IN_MEMORY_MERGE = ("import sys; from biomarkers import schemas; "
                   "schemas.concat_parts(sys.argv[2:], 'genomics.msi_sites').to_parquet(sys.argv[1])")


def synthetic(counts: list[int], workdir: Path, *, sites: int, variants: int, in_memory_max: int = 0) -> list[dict]:
    rows = []
    parts_dir = workdir / "synthetic_parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    for n in sorted(counts):
        parts = synthetic_parts(n, parts_dir, sites=sites, variants=variants)
        mine = [p for p in parts if int(p.name.split("-")[2]) < n]
        msi = sorted(p for p in mine if p.name.endswith((".msi.parquet", ".msi_sites.parquet")))
        tmb = sorted(p for p in mine if p.name.endswith((".tmb.parquet", ".tmb_variants.parquet")))
        row = {"specimens": n, "msi_sites_per_specimen": sites, "tmb_variants_per_specimen": variants}
        for name, cmd_parts, files in (("msi_collect", ["msi", "collect"], msi), ("tmb_collect", ["tmb", "collect"], tmb)):
            out = workdir / f"merge_{name}_{n}"
            shutil.rmtree(out, ignore_errors=True)
            listing = workdir / f"{name}_{n}.txt"
            listing.write_text("\n".join(map(str, files)))
            res = measure([*biomarkers(), *cmd_parts, "--outdir", str(out), *map(str, files)], log_steps=False)
            row[name] = {k: v for k, v in res.items() if k != "steps"}
        if n <= in_memory_max:  # about 830 bytes per site row: kept to what this machine holds
            site_parts = [str(p) for p in msi if p.name.endswith(".msi_sites.parquet")]
            res = measure([sys.executable, "-c", IN_MEMORY_MERGE, str(workdir / f"merged_{n}.parquet"), *site_parts],
                          log_steps=False)
            row["in_memory_site_merge"] = {k: v for k, v in res.items() if k != "steps"}
            (workdir / f"merged_{n}.parquet").unlink(missing_ok=True)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _with_total(row: dict) -> list[dict]:
    run = row["run"]
    return run["steps"] + [{"step": "total", "wall_s": run["wall_s"], "cpu_s": run["cpu_s"],
                            "peak_rss_mb": run["peak_rss_sampled_mb"]}]


def report(sim_rows: list[dict], syn_rows: list[dict]) -> str:
    """Markdown tables; per subject (specimen) ratios against the smallest size: 1.0 is linear."""
    lines = []
    if sim_rows:
        base = {s["step"]: s for s in _with_total(sim_rows[0])}
        n0 = sim_rows[0]["subjects"]
        lines.append("| subjects | cpus | load (1 min) | step | wall s | CPU s | peak MB | CPU / subject vs smallest | wall / subject vs smallest |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for row in sim_rows:
            load = row["run"].get("load_1min", ["?", "?"])
            for step in _with_total(row):
                ref = base.get(step["step"])
                ratios = [(step[k] / row["subjects"]) / (ref[k] / n0) if ref and ref[k] else float("nan")
                          for k in ("cpu_s", "wall_s")]
                lines.append(f"| {row['subjects']} | {row['cpus'] or '-'} | {load[0]}-{load[1]} | {step['step']} | "
                             f"{step['wall_s']} | {step['cpu_s']} | {step['peak_rss_mb']} | {ratios[0]:.2f} | {ratios[1]:.2f} |")
    if syn_rows:
        lines.append("")
        lines.append("| specimens | merge | load (1 min) | wall s | CPU s | peak MB | CPU / specimen vs smallest |")
        lines.append("|---|---|---|---|---|---|---|")
        for name in ("msi_collect", "tmb_collect", "in_memory_site_merge"):
            ref = next((r for r in syn_rows if name in r), None)
            for row in syn_rows:
                if name not in row:
                    continue
                r = row[name]
                ratio = (r["cpu_s"] / row["specimens"]) / (ref[name]["cpu_s"] / ref["specimens"])
                load = r.get("load_1min", ["?", "?"])
                lines.append(f"| {row['specimens']} | {name} | {load[0]}-{load[1]} | {r['wall_s']} | {r['cpu_s']} | "
                             f"{r['peak_rss_sampled_mb']} | {ratio:.2f} |")
    return "\n".join(lines)


def plot(sim_rows: list[dict], syn_rows: list[dict], path: Path) -> None:
    """CPU seconds and peak memory per step against trial size (top), and the merges'
    against specimens (bottom)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    (cpu_ax, mem_ax), (merge_mem_ax, merge_cpu_ax) = axes
    if sim_rows:
        sizes = [r["subjects"] for r in sim_rows]
        for step in [s["step"] for s in _with_total(sim_rows[0])]:
            values = [next(s for s in _with_total(r) if s["step"] == step) for r in sim_rows]
            cpu_ax.plot(sizes, [v["cpu_s"] for v in values], "ko--" if step == "total" else "o-", label=step)
            if step != "total":
                mem_ax.plot(sizes, [v["peak_rss_mb"] for v in values], "o-", label=step)
        total0 = _with_total(sim_rows[0])[-1]["cpu_s"]
        cpu_ax.plot(sizes, [total0 * n / sizes[0] for n in sizes], ":", color="grey", label="total, linear from smallest")
        cpu_ax.set(ylabel="CPU s (all processes)", yscale="log",
                   title=f"biomarkers run --cpus {sim_rows[0]['cpus'] or 'default'}: CPU per step")
        mem_ax.set(ylabel="peak resident MB (process tree)", title="peak memory per step", ylim=(0, None))
        for ax in (cpu_ax, mem_ax):
            ax.set(xlabel="subjects (simulated trial)", xscale="log")
            ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.legend(fontsize=7)
    if syn_rows:
        names = {"msi_collect": ("msi collect", "#c0392b"), "tmb_collect": ("tmb collect", "#2e86c1"),
                 "in_memory_site_merge": ("former in-memory site merge (peer)", "#7f8c8d")}
        for name, (label, colour) in names.items():
            have = [r for r in syn_rows if name in r]
            if have:
                xs = [r["specimens"] for r in have]
                merge_mem_ax.plot(xs, [r[name]["peak_rss_sampled_mb"] for r in have], "o-", color=colour, label=label)
                merge_cpu_ax.plot(xs, [r[name]["cpu_s"] for r in have], "o-", color=colour, label=label)
        xs = [r["specimens"] for r in syn_rows]
        per = f"{syn_rows[0]['msi_sites_per_specimen']:,} MSI sites and {syn_rows[0]['tmb_variants_per_specimen']} variants per specimen"
        merge_mem_ax.set(ylabel="peak resident MB", yscale="log", title=f"merges: peak memory ({per})")
        merge_cpu_ax.set(ylabel="CPU s", yscale="log", title="merges: CPU seconds")
        for ax in (merge_mem_ax, merge_cpu_ax):
            ax.set(xlabel="specimens (synthetic parts)", xscale="log")
            ax.set_xticks(xs, [f"{n:,}" for n in xs])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.legend(fontsize=7)
    cpu_ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    cpu_ax.yaxis.set_major_formatter(ScalarFormatter())
    cpu_ax.yaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--subjects", type=int, nargs="*", default=[54, 162], help="simulated trial sizes (default: 54 162)")
    parser.add_argument("--cpus", type=int, nargs="*", default=[None], help="biomarkers run --cpus values to compare")
    parser.add_argument("--synthetic", type=int, nargs="*", default=[], help="specimen counts of the synthetic merge load")
    parser.add_argument("--sites", type=int, default=10_000, help="MSI sites per synthetic specimen")
    parser.add_argument("--variants", type=int, default=300, help="TMB variants per synthetic specimen")
    parser.add_argument("--in-memory-max", type=int, default=0, metavar="N",
                        help="also time the former in-memory site merge (the peer) up to N specimens (~830 bytes per site row)")
    parser.add_argument("--workdir", help="keep the trials and results here (default: a temporary folder, removed)")
    parser.add_argument("--json", help="write every figure here")
    parser.add_argument("--plot", help="write the plot here (PNG)")
    parser.add_argument("--from-json", help="plot and tabulate the figures of an earlier run (--json) or log lines, run nothing")
    args = parser.parse_args(argv)

    if args.from_json:
        text = Path(args.from_json).read_text()
        try:
            saved = json.loads(text)
            sim_rows, syn_rows = saved["simulated"], saved["synthetic"]
        except json.JSONDecodeError:  # the JSON lines a run prints, one per measurement
            rows = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
            sim_rows = [r for r in rows if "subjects" in r]
            syn_rows = [r for r in rows if "specimens" in r]
        print(report(sim_rows, syn_rows))
        if args.plot:
            plot(sim_rows, syn_rows, Path(args.plot))
        return 0
    print(f"load average: {os.getloadavg()}, cores: {os.cpu_count()}", flush=True)
    tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="bench_scale_")
    workdir = Path(args.workdir or tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        sim_rows = simulated(args.subjects, args.cpus, workdir) if args.subjects else []
        syn_rows = synthetic(args.synthetic, workdir, sites=args.sites, variants=args.variants,
                                                  in_memory_max=args.in_memory_max) if args.synthetic else []
    finally:
        if tmp:
            tmp.cleanup()
    print(report(sim_rows, syn_rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"load": os.getloadavg(), "simulated": sim_rows, "synthetic": syn_rows}, indent=1))
    if args.plot:
        plot(sim_rows, syn_rows, Path(args.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())

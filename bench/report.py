"""Markdown tables from bench/run.sh's results TSV.

Rows: table, N, tool, run, wall s, user s, sys s, peak RSS KB, valid (1/0),
host CPU s (what the fleet's sshds and everything they ran used).
Only valid runs (exit 0 and every host verified) count; ratios are against
ferry's median in the same table and N.
"""
import os
import statistics
import sys
from collections import OrderedDict


def load(path):
    rows = []
    for line in open(path):
        t, n, tool, run, wall, user, sys_, rss, valid, *host = line.rstrip("\n").split("\t")
        rows.append(dict(table=t, n=int(n), tool=tool, run=int(run), wall=float(wall),
                         cpu=float(user) + float(sys_), rss=int(rss) / 1024, valid=valid == "1",
                         host=float(host[0]) if host else 0.0))
    return rows


def cells(rows, table):
    out = OrderedDict()
    for r in rows:
        if r["table"] == table:
            out.setdefault((r["n"], r["tool"]), []).append(r)
    return out


def stats(rs):
    ok = [r for r in rs if r["valid"]]
    if not ok:
        return None
    w = [r["wall"] for r in ok]
    return dict(wall=statistics.median(w), lo=min(w), hi=max(w),
                cpu=statistics.median(r["cpu"] for r in ok),
                host=statistics.median(r["host"] for r in ok),
                rss=max(r["rss"] for r in ok), ok=len(ok), all=len(rs))


CPUS = os.cpu_count() or 1


def floor(s):
    """Wall time the CPU work alone needs when controller and hosts share the CPUs."""
    return (s["cpu"] + s["host"]) / CPUS


def ratio(a, b):
    return f"{a / b:.2f}×" if b and a is not None else "–"


def targets(c):
    """Issue 16's ratios: ferry's host CPU against the bare stream's (the
    floor), and ferry's wall time against parallel-ssh's."""
    lines = []
    for n in sorted({n for n, _t in c}):
        f, b, p = (stats(c.get((n, t), [])) for t in ("ferry", "bare", "pssh"))
        if f and b:
            lines.append(f"- N = {n}: ferry's host CPU {f['host']:.2f} s = **{ratio(f['host'], b['host'])}** "
                         f"the bare stream's ({b['host']:.2f} s)")
        if f and p:
            lines.append(f"- N = {n}: ferry's wall {f['wall']:.2f} s = **{ratio(f['wall'], p['wall'])}** "
                         f"parallel-ssh's ({p['wall']:.2f} s)")
    if lines:
        print("\n".join(["Against the floor and parallel-ssh (medians):", ""] + lines))
        print()


def main(path):
    rows = load(path)
    c = cells(rows, "deploy")
    if c:
        print("## Deploy, all hosts at once\n")
        print("5 MiB artifact: upload, extract into releases/<id>, switch `current`, health check, prune to 5.")
        print("Wall: median of valid runs (min–max). CPU: controller user+sys (median). RSS: largest single process (max over runs).")
        print(f"Host CPU: user+sys of the fleet's sshd sessions and all they ran (median). CPU floor: (CPU + host CPU) / {CPUS} CPUs,")
        print("the wall time the work needs on this machine, where the controller and every host share the CPUs.\n")
        print("| N | tool | wall s (min–max) | wall ×ferry | CPU s | CPU ms/host | CPU ×ferry | host CPU s | CPU floor s | peak RSS MB | valid runs |")
        print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for (n, tool), rs in c.items():
            s = stats(rs)
            f = stats(c.get((n, "ferry"), []))
            if s is None:
                print(f"| {n} | {tool} | failed | – | – | – | – | – | – | – | 0/{len(rs)} |")
                continue
            print(f"| {n} | {tool} | {s['wall']:.2f} ({s['lo']:.2f}–{s['hi']:.2f}) | "
                  f"{ratio(s['wall'], f and f['wall'])} | {s['cpu']:.2f} | {1000 * s['cpu'] / n:.1f} | "
                  f"{ratio(s['cpu'], f and f['cpu'])} | {s['host']:.2f} | {floor(s):.2f} | {s['rss']:.1f} | {s['ok']}/{s['all']} |")
        print()
        targets(c)
    c = cells(rows, "extra")
    if c:
        n = next(iter(c))[0]
        print(f"## Rollback and rolling deploy, N = {n}\n")
        print("ferry-rollback: `ferry rollback` with an after_switch restart command; openssh-rollback: ssh per host "
              "(ControlMaster, xargs -P N) switching `current` back + the same restart command; "
              "ansible-rollback (playbook, pipelining, forks = N), fabric-rollback (ThreadingGroup, one run per host), "
              "pyinfra-rollback (server.shell, --parallel N): the same switch back + restart. "
              "ferry-deploy-rolling: `--canary 1 --batch 25%`, zero-wait health; ferry-deploy-all: all at once.\n")
        print("| N | what | wall s (min–max) | ratio | CPU s | host CPU s | CPU floor s | peak RSS MB | valid runs |")
        print("|---:|---|---|---|---:|---:|---:|---:|---:|")
        base = {"ferry-rollback": None, "ferry-deploy-all": None, "ferry-deploy-rolling": "ferry-deploy-all"}
        for _n, tool in c:  # every peer's rollback against ferry's
            if tool.endswith("-rollback") and tool not in base:
                base[tool] = "ferry-rollback"
        for (n, tool), rs in c.items():
            s = stats(rs)
            if s is None:
                print(f"| {n} | {tool} | failed | – | – | – | – | – | 0/{len(rs)} |")
                continue
            b = base.get(tool)
            r = "–"
            if b:
                bs = stats(c.get((n, b), []))
                r = f"{ratio(s['wall'], bs and bs['wall'])} of {b}"
            print(f"| {n} | {tool} | {s['wall']:.2f} ({s['lo']:.2f}–{s['hi']:.2f}) | {r} | {s['cpu']:.2f} | "
                  f"{s['host']:.2f} | {floor(s):.2f} | {s['rss']:.1f} | {s['ok']}/{s['all']} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1])

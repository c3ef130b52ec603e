#!/usr/bin/env python3
"""bench/run.sh's report: reads what run.sh measured (DATA directory), writes bench/results.md,
prints it, checks every budget of DESIGN §7 / issue 17 and exits 1 when one is missed
(naming each). Only run by run.sh; see run.sh's header for what each measurement is.

    report.py DATA OUT.md
"""

import datetime
import json
import os
import re
import statistics
import sys

data, out = sys.argv[1], sys.argv[2]

KIB_4MB, KIB_8MB, KIB_1MB = 4096, 8192, 1024
GHP_MS = 7.3  # grpc-health-probe v0.4.56 per check, DESIGN §7 anchor (not installable here)
SIZE_BUDGET, SIZE_CAP = 2_000_000, 2_500_000
DEADLINE_SLACK_MS = 100.0


def read(name, default=""):
    path = os.path.join(data, name)
    return open(path).read() if os.path.exists(path) else default


def kv(name):
    """KEY=VALUE lines."""
    return dict(l.split("=", 1) for l in read(name).splitlines() if "=" in l)


env = kv("env")
quiet = kv("quiet")
rows = []  # (name, peer, description, command)
for line in read("rows.tsv").splitlines():
    name, peer, desc, cmd = line.split("\t")
    rows.append((name, peer, desc, cmd))
row_names = [r[0] for r in rows]
peer_of = {r[0]: r[1] for r in rows}
desc_of = {r[0]: r[2] for r in rows}
cmd_of = {r[0]: r[3] for r in rows}

# Every row ran in several interleaved rounds (NAME@ROUND, see run.sh): merged here.
rounds = {}
for r in json.load(open(os.path.join(data, "times.json")))["results"]:
    rounds.setdefault(r["command"].rsplit("@", 1)[0], []).append(r)
times = {}
for n, parts in rounds.items():
    ts = [t for p in parts for t in p["times"]]
    times[n] = {
        "median": statistics.median(ts),
        "min": min(ts),
        "stddev": statistics.stdev(ts) if len(ts) > 1 else 0.0,
        "user": statistics.fmean(p["user"] for p in parts),
        "system": statistics.fmean(p["system"] for p in parts),
        "runs": len(ts),
    }


def med(n):
    return times[n]["median"] * 1000.0


def cpu_ms(n):
    return (times[n]["user"] + times[n]["system"]) * 1000.0


def rss_faults(n):
    """Median peak RSS (KiB) and median minor faults of the 5 GNU time runs."""
    vals = []
    for line in read(f"rss/{n}").splitlines():
        parts = line.split()
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            vals.append((int(parts[0]), int(parts[1])))
    if not vals:
        return None, None
    return int(statistics.median(v[0] for v in vals)), int(statistics.median(v[1] for v in vals))


def strace_summary(n):
    """(total calls, [(syscall, calls)] by count) from `strace -c -f` output."""
    total, per = None, []
    for line in read(f"strace/{n}").splitlines():
        t = line.split()
        if len(t) >= 5 and re.fullmatch(r"[\d.]+", t[0]) and t[3].isdigit():
            if t[-1] == "total":
                total = int(t[3])
            else:
                per.append((t[-1], int(t[3])))
    per.sort(key=lambda x: -x[1])
    return total, per


def peer_value(n):
    """(label, median ms) of a row's peer, or None."""
    p = peer_of[n]
    if not p:
        return None
    if p.startswith("const:"):
        _, ms, label = p.split(":", 2)
        return label, float(ms)
    if p.startswith("max:"):
        members = p[4:].split(",")
        slowest = max(members, key=med)
        return f"slowest single ({slowest})", med(slowest)
    return p, med(p)


floor = med("floor")
failures, passes = [], []


def budget(ok, text):
    (passes if ok else failures).append(text)


# ---------------------------------------------------------------------------------------
# The table.
# ---------------------------------------------------------------------------------------
table = [
    "| row | median ms | min ms | σ ms | × floor | peer | × peer | CPU ms | peak RSS KiB | minor faults | syscalls |",
    "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
]
for n in row_names:
    t = times[n]
    pv = peer_value(n)
    rss, flt = rss_faults(n)
    calls, _ = strace_summary(n)
    peer_cell, xpeer = "–", "–"
    if pv:
        peer_cell = f"{pv[0]} ({pv[1]:.2f})"
        xpeer = f"{med(n) / pv[1]:.2f}"
    table.append(
        f"| {n} | {med(n):.3f} | {t['min'] * 1000:.3f} | {t['stddev'] * 1000:.3f} | {med(n) / floor:.2f} | "
        f"{peer_cell} | {xpeer} | {cpu_ms(n):.3f} | {rss if rss is not None else '?'} | "
        f"{flt if flt is not None else '?'} | {calls if calls is not None else '?'} |"
    )

# ---------------------------------------------------------------------------------------
# Time budgets.
# ---------------------------------------------------------------------------------------
for n in ("hp-http", "hp-tcp"):
    r = med(n) / floor
    budget(r <= 1.3, f"{n} ≤ 1.3× floor: {med(n):.3f} ms = {r:.2f}× floor ({floor:.3f} ms)")
    budget(med(n) < med("wget"), f"{n} faster than busybox wget: {med(n):.3f} vs {med('wget'):.3f} ms")
budget(
    med("hp-grpc") * 4 <= GHP_MS,
    f"hp-grpc ≥ 4× faster than grpc-health-probe ({GHP_MS} ms, DESIGN constant): {med('hp-grpc'):.3f} ms "
    f"= {GHP_MS / med('hp-grpc'):.1f}× faster (needs ≤ {GHP_MS / 4:.3f} ms)",
)
for n, ref in (("hp-postgres", "pg_isready"), ("hp-redis", "redis-cli"), ("hp-mysql", "mysqladmin")):
    budget(med(n) < med(ref), f"{n} faster than {ref}: {med(n):.3f} vs {med(ref):.3f} ms ({med(n) / med(ref):.2f}×)")
for n in ("hp-http-x8", "hp-mixed-x8", "hp-grpc-x8"):
    label, one = peer_value(n)
    budget(med(n) <= 1.5 * one, f"{n} ≤ 1.5× one check: {med(n):.3f} ms = {med(n) / one:.2f}× {label} ({one:.3f} ms)")

# ---------------------------------------------------------------------------------------
# Memory budgets.
# ---------------------------------------------------------------------------------------
for n in row_names:
    if not n.startswith("hp-"):
        continue
    rss, _ = rss_faults(n)
    limit = KIB_8MB if "grpc" in n or n == "hp-mixed-x8" else KIB_4MB
    note = ""
    if n == "hp-grpc-x8":
        note = f" (also {'within' if rss is not None and rss <= KIB_4MB else 'OVER'} 4 MB, the stricter reading of DESIGN's '(8 grpc)')"
    budget(rss is not None and rss <= limit, f"{n} peak RSS ≤ {limit // 1024} MB: {rss} KiB{note}")

wait = kv("wait")
wait_lines = []
if wait:
    attempts = int(wait.get("attempts", "0") or 0)
    peak = int(wait.get("peak_kib", "0") or 0)
    budget(
        attempts >= 10000 and 0 < peak <= KIB_4MB,
        f"wait over {attempts:,} attempts (needs ≥ 10,000) peak RSS ≤ 4 MB: {peak} KiB",
    )
    wait_lines = [
        f"- `{wait.get('cmd', '')}`: {attempts:,} attempts in {wait.get('within', '?')}; "
        f"peak RSS {peak} KiB (GNU time); VmRSS {wait.get('rss_early_kib', '?')} KiB after 1 s, "
        f"{wait.get('rss_late_kib', '?')} KiB near the end.",
        f"  Final line: `{wait.get('line', '')}`",
    ]
run = kv("run")
run_lines = []
if run:
    anon, dirty = int(run.get("rss_anon_kib", "-1")), int(run.get("private_dirty_kib", "-1"))
    dticks = int(run.get("cpu_ticks_after", "0")) - int(run.get("cpu_ticks_before", "0"))
    budget(0 <= anon <= KIB_1MB and 0 <= dirty <= KIB_1MB,
           f"run idle private memory ≤ 1 MB: RssAnon {anon} KiB, Private_Dirty {dirty} KiB")
    budget(dticks == 0, f"run idle CPU 0: utime+stime changed by {dticks} ticks over {run.get('idle_s', '2')} s")
    run_lines = [
        f"- `{run.get('cmd', '')}`, 1 s after start: RssAnon {anon} KiB, Private_Dirty {dirty} KiB, "
        f"Private_Clean {run.get('private_clean_kib', '?')} KiB (the binary's own pages, file-backed), "
        f"Rss {run.get('rss_kib', '?')} KiB, threads {run.get('threads', '?')}; utime+stime "
        f"{run.get('cpu_ticks_before', '?')} → {run.get('cpu_ticks_after', '?')} ticks over the next "
        f"{run.get('idle_s', '2')} s.",
    ]

blocked_lines = []
for line in read("blocked.tsv").splitlines():
    n, rss, anon, filek, dirty, threads = line.split("\t")
    blocked_lines.append(f"| {n} | {rss} | {anon} | {filek} | {dirty} | {threads} |")

# ---------------------------------------------------------------------------------------
# Deadline precision.
# ---------------------------------------------------------------------------------------
def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


deadline_rows = []
calib = json.loads(read("deadline/mute.json") or "{}").get("calibration-sleep")
calib_max = max(e - calib["timeout_ms"] for e in calib["elapsed_ms"]) if calib else None
stalled = calib_max is not None and calib_max > 20.0
for group in ("mute", "resolver", "frozen"):
    text = read(f"deadline/{group}.json")
    if not text:
        failures.append(f"deadline group {group}: no result (see the run's stderr)")
        continue
    for name, r in sorted(json.loads(text).items()):
        over = [e - r["timeout_ms"] for e in r["elapsed_ms"]]
        p50, p99, mx = pct(over, 50), pct(over, 99), max(over)
        codes = ", ".join(f"{c}×{k}" for k, c in sorted(r["codes"].items()))
        deadline_rows.append(
            f"| {group} | {name} | {len(over)} | {p50:+.1f} | {p99:+.1f} | {mx:+.1f} | {codes} | {('`' + r['line'][:110] + '`') if r['line'] else '–'} |"
        )
        if name.startswith("calibration"):
            continue  # the harness's own overhead, not a probe
        note = ""
        if mx > DEADLINE_SLACK_MS and stalled:
            note = (f" — inconclusive: the harness's own `sleep 0.5` was up to {calib_max:+.1f} ms late in the same "
                    "minute (the machine stalled); rerun on a quieter machine")
        budget(mx <= DEADLINE_SLACK_MS,
               f"deadline {group}/{name}: max(elapsed − timeout) ≤ 100 ms: {mx:+.1f} ms (p50 {p50:+.1f}, p99 {p99:+.1f}){note}")

# ---------------------------------------------------------------------------------------
# Size.
# ---------------------------------------------------------------------------------------
sizes = kv("sizes")
size_lines = []
for arch in ("x86_64", "aarch64"):
    v = sizes.get(arch, "")
    if v.isdigit():
        b = int(v)
        budget(b <= SIZE_BUDGET, f"size {arch} ≤ 2.0 MB stripped: {b:,} bytes ({b - SIZE_BUDGET:+,} vs budget)")
        budget(b <= SIZE_CAP, f"size {arch} ≤ 2.5 MB cap: {b:,} bytes")
        size_lines.append(f"- {arch}: {b:,} bytes ({b / 1e6:.3f} MB); budget 2,000,000, cap 2,500,000.")
    else:
        failures.append(f"size {arch}: not measured ({v or 'no build'})")
        size_lines.append(f"- {arch}: not measured ({v or 'no build'}).")

# ---------------------------------------------------------------------------------------
# Start-up breakdown: callgrind.
# ---------------------------------------------------------------------------------------
LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)$")


def cg_entries(path):
    """[(Ir, file, function)] from callgrind_annotate output."""
    out, total = [], None
    for line in read(path).splitlines():
        m = LINE.match(line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        rest = m.group(3)
        if rest.startswith("PROGRAM TOTALS"):
            total = ir
            continue
        rest = re.sub(r"\s+\[[^\]]*\]$", "", rest)  # the object file
        file, _, fn = rest.partition(":")
        out.append((ir, file, fn))
    return total, out


STD = ("core", "alloc", "std")
PRIMITIVE = re.compile(r"^(str|char|bool|[iuf](8|16|32|64|128|size)|\[.*\]|\(.*\)|&.*|\*.*)$")


def crate_of(file, fn):
    """The crate a function's self cost is counted under (from its demangled name)."""
    if "src_musl" in file or "/musl" in file:
        return "musl libc"
    if fn.startswith("0x"):
        return "[no symbol]"
    if fn == "main":
        return "healthprobe"  # its C entry point (src/main.rs)
    if fn.startswith("__rustc::"):
        return "std/core/alloc"  # the allocator shims (they call the global allocator)
    m = re.match(r"^<(.+?)(?: as (.+?))?>::", fn)
    candidates = [c for c in (m.group(1), m.group(2)) if c] if m else [fn]
    for c in candidates:
        c = re.sub(r"^(&|\*const |\*mut |mut |dyn )+", "", c)
        if PRIMITIVE.match(c):
            return "std/core/alloc"
        mm = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)::", c)
        if mm:
            return "std/core/alloc" if mm.group(1) in STD else mm.group(1)
    if fn.startswith("ring_core") or "ring" in file and file.endswith((".c", ".S")):
        return "ring"
    if re.match(r"^(mem\w+|str\w+|__\w+)$", fn):
        return "musl libc"
    return "[other: " + fn[:30] + "]"


CHAIN = re.compile(r"^(main|_start_c|\(below main\)|libc_start_main_stage2|_start|__libc_start_main|"
                   r"healthprobe::main|healthprobe::app|0x[0-9a-f]+|.*start_thread.*|std::rt::lang_start.*)$")

cg_sections = []
cg_totals = {}
for n in (env.get("callgrind_rows", "") or "").split():
    total, excl = cg_entries(f"cg/{n}.excl")
    _, incl = cg_entries(f"cg/{n}.incl")
    if not total:
        cg_sections.append(f"- {n}: callgrind gave no result.")
        continue
    cg_totals[n] = total
    by_crate = {}
    for ir, file, fn in excl:
        c = crate_of(file, fn)
        by_crate[c] = by_crate.get(c, 0) + ir
    crates = sorted(by_crate.items(), key=lambda x: -x[1])[:9]
    merged = {}  # one function's parts attributed to several source files, added up
    for ir, _, fn in incl:
        if not CHAIN.match(fn):
            merged[fn] = merged.get(fn, 0) + ir
    top = sorted(((ir, fn) for fn, ir in merged.items()), key=lambda x: -x[0])[:14]
    cg_sections.append(f"**{n}** — `{env.get('cg_cmd_' + n, '')}`: **{total:,} instructions**.")
    cg_sections.append("")
    cg_sections.append("Self instructions by crate: " + ", ".join(f"{c} {ir:,} ({100 * ir / total:.0f}%)" for c, ir in crates) + ".")
    cg_sections.append("")
    cg_sections.append("Top inclusive functions (below main):")
    cg_sections.append("")
    cg_sections.append("| inclusive Ir | % | function |")
    cg_sections.append("|---:|---:|---|")
    for ir, fn in top:
        cg_sections.append(f"| {ir:,} | {100 * ir / total:.1f} | `{fn[:140]}` |")
    cg_sections.append("")

syscall_lines = []
for n in ("nop", "nop-thread", "floor", "hp-version", "hp-file", "hp-tcp", "hp-http", "hp-grpc"):
    if n not in times:
        continue
    total, per = strace_summary(n)
    if total is None:
        continue
    rss, flt = rss_faults(n)
    syscall_lines.append(f"| {n} | {med(n):.3f} | {times[n]['user'] * 1000:.3f} | {times[n]['system'] * 1000:.3f} | "
                         f"{flt} | {total} | "
                         + ", ".join(f"{s} {c}" for s, c in per[:12]) + " |")

startup = []
if "hp-file" in times:
    nop, f, v = med("nop"), med("hp-file"), med("hp-version")
    fl = lambda n: rss_faults(n)[1]
    startup.append(f"- nop (exec+exit of a static musl C program): {nop:.3f} ms, {fl('nop')} minor faults.")
    if "nop-thread" in times:
        startup.append(f"- nop-thread (one idle thread started): {med('nop-thread'):.3f} ms, "
                       f"{med('nop-thread') - nop:+.3f} ms over nop — the least a watchdog thread costs.")
    startup.append(f"- floor (connect, request, status line): {floor:.3f} ms, {floor - nop:+.3f} ms over nop.")
    if v <= f:
        startup.append(f"- hp-version (no probe: scan the arguments, print): {v:.3f} ms, {v - nop:+.3f} ms over nop, "
                       f"{fl('hp-version')} faults — what exec'ing, mapping and exiting this binary costs.")
        startup.append(f"- hp-file (the cheapest probe: one stat): {f:.3f} ms = {f / floor:.2f}× floor, "
                       f"hp-version {f - v:+.3f} ms, {fl('hp-file')} faults — the check machinery (watchdog "
                       "thread, signal mask, allocator, the result line) on top.")
    else:
        startup.append(f"- hp-file (the cheapest probe: one stat): {f:.3f} ms = {f / floor:.2f}× floor, "
                       f"{f - nop:+.3f} ms over nop, {fl('hp-file')} faults.")
        startup.append(f"- hp-version: {v:.3f} ms (hp-file {v - f:+.3f} ms): it does more than the cheapest "
                       "probe — see its instructions below.")
    for n in ("hp-tcp", "hp-http", "hp-grpc"):
        startup.append(f"- {n}: {med(n):.3f} ms = hp-file {med(n) - f:+.3f} ms (the probe's own work), "
                       f"{fl(n)} faults.")
for n in ("file", "tcp", "version"):
    a, b = f"hp0-{n}", f"hp-{n}"
    if a in times and b in times:
        startup.append(f"- before → after the feature issues (0.1 at {env.get('baseline', '?')} → this build), {n}: "
                       f"{med(a):.3f} → {med(b):.3f} ms ({med(b) / med(a):.2f}×); minor faults "
                       f"{rss_faults(a)[1]} → {rss_faults(b)[1]}; peak RSS {rss_faults(a)[0]} → {rss_faults(b)[0]} KiB.")

# ---------------------------------------------------------------------------------------
# The document.
# ---------------------------------------------------------------------------------------
doc = [
    "# Benchmark results",
    "",
    "Written by `bench/run.sh` (do not edit by hand). Run it on Debian as root (it installs its",
    "tools with apt-get): `bench/run.sh` — takes several minutes; `RUNS=500 bench/run.sh` for more",
    "timing runs, `DEADLINE_RUNS=20` for a quicker deadline section, `BASELINE=` to skip the 0.1",
    "build. It exits non-zero when a budget of DESIGN §7 / issue 17 is missed and lists which.",
    "Timings are never asserted in tests.",
    "",
    f"Measured {env.get('date', datetime.date.today())} on {env.get('cores', '?')} cores ({env.get('cpu', '?')}), "
    f"Linux {env.get('kernel', '?')}; load average before/after timing: {env.get('load_before', '?')} / "
    f"{env.get('load_after', '?')}. Binary: `{env.get('version', '?')}`.",
    f"Timing: one hyperfine run (`-N`, no shell) of every row below, {env.get('runs', '?')} runs each after "
    f"{env.get('warmup', '?')} warm-up runs, interleaved in {env.get('rounds', '?')} rounds (every row runs "
    "once per round), so a burst of load elsewhere on this shared machine is shared by all rows.",
    "Every measured command runs with only PATH, HOSTNAME and HOME set, as Docker starts a container.",
    f"Machine before timing: {quiet.get('timing', '?')}; before the deadline cases: {quiet.get('deadline', '?')}.",
    "",
    "## The table",
    "",
    *table,
    "",
    "Columns: median/min/σ of wall time from exec to exit (hyperfine). × floor = median / the floor's",
    "median. peer = what the row is compared with (its median in ms); × peer = median / peer's.",
    "CPU ms = user+system per run (hyperfine's mean). peak RSS and minor faults: GNU time",
    "(`%M`, `%R`), median of 5 runs. syscalls: `strace -f -c`, one run, every thread.",
    "",
    "What each row is:",
    "",
    *[f"- **{n}**: {desc_of[n]} — `{cmd_of[n]}`" for n in row_names],
    "",
    "## Budgets (DESIGN §7, issue 17)",
    "",
    *[f"- FAIL: {f}" for f in failures],
    *[f"- pass: {p}" for p in passes],
    "",
    "## Start-up breakdown",
    "",
    *startup,
    "",
    "Per probe: wall and CPU time (hyperfine), minor page faults (GNU time), system calls",
    "(`strace -f -c`, all threads; `clone` is the watchdog thread, or tokio's). The user/sys split",
    "is the kernel's tick-sampled accounting (even nop shows user time), so only their sum means",
    "much at this scale; the instructions below are exact, and a few hundred thousand of them",
    "take well under 0.1 ms — the rest of a short probe's time is the kernel's (exec, faults,",
    "syscalls, the thread, exit).",
    "",
    "| row | median ms | user ms | sys ms | minor faults | syscalls | by name |",
    "|---|---:|---:|---:|---:|---:|---|",
    *syscall_lines,
    "",
    "User-space instructions (valgrind `--tool=callgrind`, deterministic; the same release build",
    "with its symbols kept: " + env.get("syms_note", "") + "). Self instructions are split by the",
    "crate of each function's name (generic code counts where it is defined, e.g. `Vec::clone` in",
    "std/core/alloc); inclusive costs overlap (a function includes what it calls).",
    "",
    *cg_sections,
    "## Memory of the modes",
    "",
    *wait_lines,
    *run_lines,
    "",
    "Pages a probe holds while waiting on a mute peer (accepts, never answers), 0.3 s after its",
    "start, from /proc (KiB): RssFile is the binary's own pages mapped in (what it touched, plus the",
    "kernel's fault-around of up to 64 KiB per fault), RssAnon its heap, stacks and data. Peak RSS",
    "is mostly RssFile: a smaller binary, or fewer pages touched, is a smaller RSS.",
    "",
    "| probe | Rss | RssAnon | RssFile | Private_Dirty | threads |",
    "|---|---:|---:|---:|---:|---:|",
    *blocked_lines,
    "",
    "## Deadline precision",
    "",
    f"Every case runs {env.get('deadline_runs', '?')} times with `--timeout 500ms`; elapsed − timeout in ms",
    "(negative: it ended before the deadline), measured from just before the fork to the probe's",
    "exit (a pidfd), so calibration-sleep (`busybox sleep 0.5`) shows the harness's own overhead.",
    "All cases run side by side (one thread each, runs in",
    "sequence), so this is also the precision under a little load. mute: a peer that accepts and",
    "never answers (and, for full-stdout, a healthy check whose stdout is a full pipe nobody",
    "reads); resolver: a network namespace whose only name server never answers; frozen:",
    "--log-to a file on a frozen ext4 (fsfreeze) in a private mount namespace.",
    "",
    "| env | case | runs | p50 | p99 | max | exit codes | a run's line |",
    "|---|---|---:|---:|---:|---:|---|---|",
    *deadline_rows,
    "",
    "## Size",
    "",
    *size_lines,
    f"- Release builds with `cargo build --release --locked` (release/build.sh's cargo auditable adds its",
    "  dependency-list section to the shipped binary: a few KB more).",
    "",
    "Largest parts of the x86_64 binary (`cargo bloat --crates`, .text only; its own target dir):",
    "",
    "```",
    read("bloat.txt").rstrip(),
    "```",
    "",
]
open(out, "w").write("\n".join(doc))
print("\n".join(doc))
print()
if failures:
    print(f"bench: {len(failures)} budget(s) missed:", file=sys.stderr)
    for f in failures:
        print(f"  MISSED: {f}", file=sys.stderr)
    sys.exit(1)
print("bench: every budget met", file=sys.stderr)

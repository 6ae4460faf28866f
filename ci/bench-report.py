#!/usr/bin/env python3
"""Turns a benchmark run into BENCHMARKS.md material: tables, targets, chart.

Reads criterion's results ($CARGO_TARGET_DIR/criterion/**/new/{benchmark,
estimates}.json, medians) and the tables the `latency`, `memory` and
`mirror` benches write ($CARGO_TARGET_DIR/zestor-bench/*.csv), then

  report   (default) prints markdown: per group, each contender's median and
           its ratio to zestor (contender time / zestor time, so > 1 means
           zestor is faster), the target checks, and writes the chart
           (docs/bench.svg unless --svg says otherwise);
  scaling  prints the thread sweep of the mixed group (ci/scaling.sh).

Standard library only: the SVG is written by hand, so CI needs no matplotlib.
"""

import argparse
import csv
import json
import math
import os
import re
import sys
from pathlib import Path

# Row order of the contenders in every table.
CONTENDERS = [
    "zestor", "zestor_read", "zestor_kind", "zestor_kind_read", "zestor_update",
    "locked", "locked_read", "papaya", "papaya_read", "scc_hashindex", "dashmap",
    "skipmap", "skiplist_base", "scc_treeindex", "rwlock_btreemap",
    "papaya_broadcast",
]

# Groups, in report order, with a one-line description.
GROUPS = [
    ("get_hit_uniform", "1. point get, hit, uniform keys, 1 thread (by store size)"),
    ("get_hit_zipf", "1. point get, hit, Zipf 0.99, 1 thread (by store size)"),
    ("get_miss", "1. point get, miss, 1 thread (by store size)"),
    ("mixed_r100_uniform", "2. 100% reads, uniform, 100K keys (by threads; time per op = 1 / aggregate throughput)"),
    ("mixed_r95_uniform", "2. 95% reads / 5% updates, uniform, 100K keys (by threads)"),
    ("mixed_r50_uniform", "2. 50% reads / 50% updates, uniform, 100K keys (by threads)"),
    ("mixed_r100_zipf", "2. 100% reads, Zipf 0.99, 100K keys (by threads)"),
    ("mixed_r95_zipf", "2. 95% reads / 5% updates, Zipf 0.99, 100K keys (by threads)"),
    ("mixed_r50_zipf", "2. 50% reads / 50% updates, Zipf 0.99, 100K keys (by threads)"),
    ("update_existing", "3. update of an existing key, 1 thread (by store size)"),
    ("insert_new", "3. insert of a new key, 1 thread (by store size)"),
    ("delete", "3. delete, 1 thread (by store size)"),
    ("list", "4. list a kind of N entries (by N)"),
    ("list_under_writer", "4. list a kind of N entries, another thread updating it (by N)"),
    ("range", "4. range of N entries out of 100K (by N)"),
    ("range_under_writer", "4. range of N entries out of 100K, with a writer (by N)"),
    ("prefix", "4. prefix matching N entries out of 100K (by N)"),
    ("prefix_under_writer", "4. prefix matching N entries out of 100K, with a writer (by N)"),
    ("count", "4. count (by store size)"),
    ("watch_writer", "6. writer cost per write with N watchers subscribed (drained between batches)"),
    ("watch_fanout_threads", "6. per write, until N watcher threads received it (end to end, 2 cores)"),
    ("watch_replay", "6. subscribe with replay and consume it (by kind size)"),
    ("snapshot_take", "8. take and drop a snapshot of a quiet kind (by kind size)"),
    ("snapshot_get", "8. point get, 100K keys: by kind name, through a Kind, through a held snapshot"),
    ("batch_100", "8. an atomic set_many of 100 keys, next to 100 single sets and the locked design's set_many"),
    ("transfer", "8. a two-key transfer: a transaction, two updates, the locked design under one write lock"),
    ("transfers_threads", "8. transfers between random pairs of 100 accounts (by threads; time per transfer = 1 / throughput)"),
    ("mirror_receive", "9. per event received, 10K keys: a `Mirror` (zestor), a plain `Watch`, a watch feeding a hand-kept `BTreeMap` (writes first, drain timed)"),
    ("mirror_resync", "9. a mirror's resync of a 100K-key kind with 1% of keys changed, drain included (zestor), next to re-listing a snapshot into a `BTreeMap`"),
    ("watch_prefix", "9. per write to a kind of 10 prefixes: a watch with `.prefix(\"p3/\")` (zestor) next to a plain watch filtering in the consumer"),
]

# The chart: (label, group, column) and the contenders drawn against zestor.
CHART_ROWS = [
    ("get hit, 100K", "get_hit_uniform", "100K"),
    ("get hit, 1M", "get_hit_uniform", "1M"),
    ("get miss, 100K", "get_miss", "100K"),
    ("95/5 uniform, 2 thr", "mixed_r95_uniform", "2t"),
    ("95/5 Zipf, 4 thr", "mixed_r95_zipf", "4t"),
    ("50/50 uniform, 2 thr", "mixed_r50_uniform", "2t"),
    ("update, 100K", "update_existing", "100K"),
    ("insert, 100K", "insert_new", "100K"),
    ("delete, 100K", "delete", "100K"),
    ("list 10K", "list", "10K"),
    ("list 10K + writer", "list_under_writer", "10K"),
    ("range 1K of 100K", "range", "1K"),
    ("writer, 8 watchers", "watch_writer", "8"),
    ("read p99.9, bulk writer", "latency:p999", "bulk_writer"),
    ("bytes per key", "memory:bytes_per_key", ""),
]
CHART_CONTENDERS = [
    ("locked", "#d62728"), ("papaya", "#1f77b4"), ("dashmap", "#9467bd"),
    ("skipmap", "#2ca02c"), ("rwlock_btreemap", "#8c564b"),
]


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR", "target"))


def load_criterion(root):
    """{group: {contender: {column: median ns}}} from criterion's output."""
    results = {}
    for bench in root.glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        group = results.setdefault(meta["group_id"], {})
        column = meta.get("value_str") or ""
        group.setdefault(meta["function_id"], {})[column] = estimates["median"]["point_estimate"]
    return results


def load_csv(path):
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def column_key(column):
    """Sorts 10 < 1K < 100K < 1M, and 1t < 2t < 16t."""
    m = re.fullmatch(r"(\d+)([KMt]?)", column)
    if not m:
        return (1, column)
    scale = {"K": 1e3, "M": 1e6}.get(m.group(2), 1)
    return (0, int(m.group(1)) * scale)


def contender_key(name):
    return (CONTENDERS.index(name) if name in CONTENDERS else len(CONTENDERS), name)


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns" if ns >= 100 else f"{ns:.1f} ns"


def ratio(results, group, contender, column, baseline="zestor"):
    try:
        return results[group][contender][column] / results[group][baseline][column]
    except (KeyError, ZeroDivisionError):
        return None


def markdown_tables(results, out):
    for group, title in GROUPS:
        rows = results.get(group)
        if not rows or "zestor" not in rows:
            continue
        columns = sorted({c for r in rows.values() for c in r}, key=column_key)
        out.append(f"#### `{group}` — {title}\n")
        out.append("| contender | " + " | ".join(columns) + " |")
        out.append("|---|" + "---:|" * len(columns))
        for contender in sorted(rows, key=contender_key):
            cells = []
            for column in columns:
                ns = rows[contender].get(column)
                if ns is None:
                    cells.append("–")
                    continue
                r = ratio(results, group, contender, column)
                if contender == "zestor" or r is None:
                    cells.append(f"**{fmt_time(ns)}**" if contender == "zestor" else fmt_time(ns))
                else:
                    cells.append(f"{fmt_time(ns)} · {r:.2f}×")
            out.append(f"| {contender} | " + " | ".join(cells) + " |")
        out.append("")


def latency_tables(rows, out):
    sections = {}
    for row in rows:
        sections.setdefault(row["section"], []).append(row)
    for section, entries in sections.items():
        out.append(f"#### `{section}` (ns; p99.9 ratio to zestor in the same phase)\n")
        out.append("| contender | phase | p50 | p99 | p99.9 | max | ops/s | writes/s | p99.9 ÷ zestor |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        base = {r["phase"]: float(r["p999_ns"]) for r in entries if r["contender"] == "zestor"}
        for r in entries:
            b = base.get(r["phase"])
            rel = f"{float(r['p999_ns']) / b:.2f}×" if b else "–"
            out.append(
                f"| {r['contender']} | {r['phase']} | {r['p50_ns']} | {r['p99_ns']} | {r['p999_ns']} "
                f"| {r['max_ns']} | {float(r['ops_per_s']):,.0f} | {float(r['writes_per_s']):,.0f} | {rel} |"
            )
        out.append("")


def memory_table(rows, out):
    if not rows:
        return
    base = next((float(r["bytes_per_key"]) for r in rows if r["contender"] == "zestor"), None)
    out.append(f"#### memory at {int(rows[0]['keys']):,} keys (bytes per key; counting allocator, RSS for reference)\n")
    out.append("| contender | avg key | heap/key | ÷ zestor | RSS/key | churn peak/key | after churn/key | left after drop (B) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        rel = f"{float(r['bytes_per_key']) / base:.2f}×" if base else "–"
        out.append(
            f"| {r['contender']} | {r['avg_key_bytes']} | {r['bytes_per_key']} | {rel} | {r['rss_bytes_per_key']} "
            f"| {r['churn_peak_bytes_per_key']} | {r['after_churn_bytes_per_key']} | {r['after_drop_bytes']} |"
        )
    out.append("")


def pins_table(rows, out):
    if not rows:
        return
    out.append("#### what held snapshots keep alive (zestor; overwrites of random keys of a 100K-key kind)\n")
    out.append("| snapshots held | writes | heap growth per write while held (B) | left after dropping them (B) |")
    out.append("|---:|---:|---:|---:|")
    for r in rows:
        out.append(f"| {r['held']} | {int(r['writes']):,} | {r['bytes_per_write_held']} | {r['bytes_after_drop']} |")
    out.append("")


def latency_value(rows, contender, phase, field):
    for r in rows:
        if r["section"] == "read_under_bulk_writer" and r["contender"] == contender and r["phase"] == phase:
            return float(r[field])
    return None


def targets(results, latency, memory, no_alloc, mirror_resync, out):
    """Each target: what is compared, zestor ÷ reference, the limit, verdict."""
    checks = []

    def per_column(name, group, zestor, other, limit, columns=None, strict=False):
        """zestor ÷ other in each column; `limit=None` reports without a verdict."""
        values = []
        cols = columns or sorted(results.get(group, {}).get(zestor, {}), key=column_key)
        for column in cols:
            r = ratio(results, group, zestor, column, baseline=other)
            if r is not None:
                values.append((column, r))
        if not values:
            checks.append((name, "not measured", "", "–"))
            return
        shown = ", ".join(f"{c}: {r:.2f}×" if c else f"{r:.2f}×" for c, r in values)
        if limit is None:
            checks.append((name, shown, "reported", "–"))
            return
        ok = all((r < limit) if strict else (r <= limit) for _, r in values)
        op = "<" if strict else "≤"
        checks.append((name, shown, f"{op} {limit}", "MET" if ok else "MISSED"))

    # ratio() divides its first contender by the baseline: zestor ÷ other.
    per_column("point `get` vs papaya `get` (`get_hit_uniform`, zestor ÷ papaya)",
               "get_hit_uniform", "zestor", "papaya", 1.6)
    per_column("point `get` vs locked `get` (`get_hit_uniform`, zestor ÷ locked)",
               "get_hit_uniform", "zestor", "locked", 1.3)
    per_column("`read` closure vs locked `read`, 1 thread (`get_hit_uniform`, zestor_read ÷ locked_read)",
               "get_hit_uniform", "zestor_read", "locked_read", 1.2)
    per_column("95/5 on 2 threads ahead of locked (`mixed_r95_uniform`, zestor ÷ locked)",
               "mixed_r95_uniform", "zestor", "locked", 1.0, columns=["2t"], strict=True)
    per_column("95/5 Zipf on 2 threads ahead of locked (`mixed_r95_zipf`, zestor ÷ locked)",
               "mixed_r95_zipf", "zestor", "locked", 1.0, columns=["2t"], strict=True)
    per_column("update of an existing key vs locked (`update_existing`, zestor ÷ locked)",
               "update_existing", "zestor", "locked", 1.5)
    per_column("ordered `list` of 10K faster than locked list-then-sort (`list`, zestor ÷ locked)",
               "list", "zestor", "locked", 1.0, columns=["10K"], strict=True)

    z = latency_value(latency, "zestor", "bulk_writer", "p999_ns")
    l = latency_value(latency, "locked", "bulk_writer", "p999_ns")
    if z and l:
        r = z / l
        checks.append(("read p99.9 under a bulk writer ≤ half the locked design's (zestor ÷ locked)",
                       f"{z:.0f} ns ÷ {l:.0f} ns = {r:.2f}×", "≤ 0.5", "MET" if r <= 0.5 else "MISSED"))
    else:
        checks.append(("read p99.9 under a bulk writer", "not measured", "", "–"))

    try:
        w = results["watch_writer"]["zestor"]
        r = w["8"] / w["0"]
        checks.append(("writer cost with 8 watchers ≤ 2× with none (zestor 8 ÷ zestor 0)",
                       f"{fmt_time(w['8'])} ÷ {fmt_time(w['0'])} = {r:.2f}×", "≤ 2", "MET" if r <= 2 else "MISSED"))
    except KeyError:
        checks.append(("writer cost with 8 watchers", "not measured", "", "–"))

    # Issue 8: consistency costs, each next to the zestor operation it adds to.
    try:
        takes = results["snapshot_take"]["zestor"]
        worst = max(takes.values())
        shown = ", ".join(f"{c}: {fmt_time(v)}" for c, v in sorted(takes.items(), key=lambda kv: column_key(kv[0])))
        checks.append(("take and drop a snapshot of a quiet kind, any size (`snapshot_take`)",
                       shown, "< 2 µs", "MET" if worst < 2000 else "MISSED"))
    except KeyError:
        checks.append(("take a snapshot", "not measured", "", "–"))
    per_column("`get` through a held snapshot vs by kind name (`snapshot_get`, zestor_snapshot ÷ zestor)",
               "snapshot_get", "zestor_snapshot", "zestor", 2.0)
    per_column("atomic `set_many` of 100 keys vs 100 single sets, in time (`batch_100`, zestor ÷ zestor_single_sets)",
               "batch_100", "zestor", "zestor_single_sets", 1.3)
    per_column("two-key transaction vs two single updates (`transfer`, zestor ÷ zestor_two_updates)",
               "transfer", "zestor", "zestor_two_updates", 3.0)
    per_column("transfers between 100 accounts vs the locked design's (`transfers_threads`, zestor ÷ locked)",
               "transfers_threads", "zestor", "locked", None)

    # Issue 9: the mirror and the prefix watch, each next to the plain watch
    # (or the hand-written re-list) it replaces.
    per_column("`Mirror` receive vs plain `Watch` receive, per event (`mirror_receive`, zestor ÷ zestor_watch)",
               "mirror_receive", "zestor", "zestor_watch", 1.5)
    if mirror_resync:
        r = mirror_resync[0]
        events, changes = int(r["events"]), int(r["changes"])
        checks.append((f"events a resync yields, {int(r['keys']):,} keys with {changes:,} changed (benches/mirror.rs)",
                       f"{events:,} events, resyncs {r['resyncs_before']} → {r['resyncs_after']}", "= changes",
                       "MET" if events == changes and int(r["resyncs_after"]) > int(r["resyncs_before"]) else "MISSED"))
    else:
        checks.append(("events a resync yields", "not measured", "", "–"))
    per_column("a mirror's resync with 1% changed vs a re-list into a `BTreeMap` (`mirror_resync`, zestor ÷ zestor_relist)",
               "mirror_resync", "zestor", "zestor_relist", None)
    per_column("prefix watch vs filtering in the consumer, per write (`watch_prefix`, zestor ÷ zestor_consumer_filter)",
               "watch_prefix", "zestor", "zestor_consumer_filter", None)

    checks.append(("no allocation on `get`/`read` (tests/no_alloc.rs)", no_alloc or "not run", "0 allocations",
                   "MET" if no_alloc and no_alloc.startswith("passed") else ("MISSED" if no_alloc else "–")))

    mem = {r["contender"]: float(r["bytes_per_key"]) for r in memory}
    if "zestor" in mem:
        shown = ", ".join(f"{c}: {mem[c]:.0f} B ({mem['zestor'] / mem[c]:.2f}×)" for c in ("papaya", "skipmap") if c in mem)
        checks.append((f"memory per key at {int(memory[0]['keys']):,} keys: zestor {mem['zestor']:.0f} B, next to",
                       shown, "reported", "–"))

    out.append("| target | measured | limit | verdict |")
    out.append("|---|---|---|---|")
    for name, shown, limit, verdict in checks:
        out.append(f"| {name} | {shown} | {limit} | **{verdict}** |")
    out.append("")


def chart_values(results, latency, memory):
    """[(label, {contender: ratio contender ÷ zestor})] for the chart rows."""
    mem = {r["contender"]: float(r["bytes_per_key"]) for r in memory}
    rows = []
    for label, group, column in CHART_ROWS:
        values = {}
        for contender, _ in CHART_CONTENDERS:
            if group.startswith("latency:"):
                z = latency_value(latency, "zestor", column, "p999_ns")
                o = latency_value(latency, contender, column, "p999_ns")
                r = o / z if z and o else None
            elif group.startswith("memory:"):
                r = mem[contender] / mem["zestor"] if contender in mem and "zestor" in mem else None
            else:
                r = ratio(results, group, contender, column)
            if r is not None:
                values[contender] = r
        if group.startswith("memory:") and memory:
            label = f"bytes per key, {int(memory[0]['keys']):,}"
        if values:
            rows.append((label, values))
    return rows


def write_svg(rows, path, subtitle):
    """Horizontal bars on a log scale: right of 1 = zestor faster/smaller."""
    bar, gap, label_w, plot_w, right = 9, 12, 170, 560, 20
    top, bottom = 70, 60
    lo, hi = 1 / 16, 16  # clip ratios to [1/16, 16]
    height = top + bottom + sum(len(v) * bar + gap for _, v in rows)
    width = label_w + plot_w + right

    def x(r):
        r = min(max(r, lo), hi)
        return label_w + (math.log2(r) - math.log2(lo)) / (math.log2(hi) - math.log2(lo)) * plot_w

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">'
           'zestor vs the alternatives: time (or bytes) ratio, contender ÷ zestor</text>',
           f'<text x="{width / 2}" y="37" text-anchor="middle" fill="#444">'
           'right of 1×: zestor is faster (or smaller); left: zestor loses. Log scale, clipped at 1/16 and 16.</text>',
           f'<text x="{width / 2}" y="52" text-anchor="middle" fill="#666" font-size="10">{subtitle}</text>']
    for tick in [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16]:
        tx = x(tick)
        svg.append(f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{height - bottom + 4}" '
                   f'stroke="{"#000" if tick == 1 else "#ddd"}" stroke-width="{1.2 if tick == 1 else 1}"/>')
        text = f"{tick:g}×" if tick >= 1 else f"1/{round(1 / tick)}×"
        svg.append(f'<text x="{tx:.1f}" y="{height - bottom + 18}" text-anchor="middle">{text}</text>')
    y = top
    for label, values in rows:
        block = len(values) * bar
        svg.append(f'<text x="{label_w - 8}" y="{y + block / 2 + 4:.1f}" text-anchor="end">{label}</text>')
        for contender, color in CHART_CONTENDERS:
            if contender not in values:
                continue
            r = values[contender]
            x0, x1 = sorted((x(1), x(r)))
            svg.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar - 1}" fill="{color}"/>')
            clipped = not lo <= r <= hi
            if clipped:  # the value goes inside the bar, at its clipped end
                tx, anchor, fill = (x1 - 3, "end", "white") if r > hi else (x0 + 3, "start", "white")
            else:
                tx, anchor, fill = (x1 + 3, "start", "#333") if r >= 1 else (x0 - 3, "end", "#333")
            text = f"{r:.0f}" if r >= 100 else f"{r:.2f}"
            svg.append(f'<text x="{tx:.1f}" y="{y + bar - 1.5}" text-anchor="{anchor}" font-size="8.5" '
                       f'fill="{fill}">{text}</text>')
            y += bar
        y += gap
    lx = label_w
    for contender, color in CHART_CONTENDERS:
        svg.append(f'<rect x="{lx}" y="{height - 26}" width="10" height="10" fill="{color}"/>')
        svg.append(f'<text x="{lx + 14}" y="{height - 17}">{contender}</text>')
        lx += 24 + 7 * len(contender)
    svg.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(svg) + "\n")


def report(args):
    root = args.target_dir or target_dir()
    results = load_criterion(root / "criterion")
    latency = load_csv(root / "zestor-bench" / "latency.csv")
    memory = load_csv(root / "zestor-bench" / "memory.csv")
    no_alloc_file = root / "zestor-bench" / "no_alloc.txt"
    no_alloc = no_alloc_file.read_text().strip() if no_alloc_file.exists() else None
    if not results:
        sys.exit(f"no criterion results under {root / 'criterion'}: run the benches first")
    out = ["### Targets\n"]
    targets(results, latency, memory, no_alloc, load_csv(root / "zestor-bench" / "mirror_resync.csv"), out)
    out.append("### Results (median; `· r×` = contender time ÷ zestor time: above 1, zestor is faster)\n")
    markdown_tables(results, out)
    latency_tables(latency, out)
    memory_table(memory, out)
    pins_table(load_csv(root / "zestor-bench" / "pins.csv"), out)
    text = "\n".join(out)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    print(text)
    write_svg(chart_values(results, latency, memory), Path(args.svg), args.subtitle)
    print(f"chart: {args.svg}", file=sys.stderr)


def scaling(args):
    root = args.target_dir or target_dir()
    results = load_criterion(root / "criterion")
    threads = [f"{t}t" for t in args.threads.split(",")]
    for group, _ in GROUPS:
        if not group.startswith("mixed_") or group not in results:
            continue
        rows = results[group]
        print(f"\n{group}: million ops/s, all threads together (× = vs 1 thread)")
        print(f"{'contender':<18}" + "".join(f"{t:>16}" for t in threads))
        for contender in sorted(rows, key=contender_key):
            if rows[contender].get(threads[-1]) is None:
                continue  # not part of this sweep (an older run's result)
            cells = []
            one = rows[contender].get(threads[0])
            for t in threads:
                ns = rows[contender].get(t)
                if ns is None:
                    cells.append(f"{'–':>16}")
                else:
                    speedup = f" ({one / ns:.1f}×)" if one else ""
                    cells.append(f"{1e3 / ns:>9.2f}{speedup:>7}")
            print(f"{contender:<18}" + "".join(cells))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="report", choices=["report", "scaling"])
    parser.add_argument("--target-dir", type=Path, help="cargo's target dir (default: $CARGO_TARGET_DIR or target)")
    parser.add_argument("--markdown", help="report: also write the markdown here")
    parser.add_argument("--svg", default="docs/bench.svg", help="report: the chart (default docs/bench.svg)")
    parser.add_argument("--subtitle", default="", help="report: a line under the chart's title")
    parser.add_argument("--threads", default="1,2,4,8,16", help="scaling: the thread counts to show")
    args = parser.parse_args()
    if args.command == "scaling":
        scaling(args)
    else:
        report(args)


if __name__ == "__main__":
    main()

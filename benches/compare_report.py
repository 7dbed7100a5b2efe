#!/usr/bin/env python3
"""The table of benches/compare.sh: each tool's wall time, CPU time,
packets/s, peak RSS and netsketch's ratio to it (from runs.tsv), and its top
10 sources by bytes, read from its own output and checked against the exact
answer (tshark's per-packet fields, summed here).

usage: compare_report.py WORKDIR LABEL [--markdown]

Exit status 1 when netsketch's top 10 disagrees with the exact one: a true
top-10 key missing (other than a tie at rank 10) or a truth outside
netsketch's bounds.
"""

import collections
import json
import statistics
import os
import sys

K = 10


def exact(work):
    """Exact bytes per source, from tshark's per-packet fields: IP bytes
    (IPv4 total length, IPv6 payload + 40) of each IP packet's outer header,
    as netsketch, nfdump and pmacct count; and frame bytes per IPv4 source
    for every IPv4 header in the packet (tunnels, the packet quoted in an
    ICMP error), as tshark's endpoints table counts."""
    ip, frame_v4 = collections.Counter(), collections.Counter()
    path = os.path.join(work, "exact.tsv")
    if not os.path.exists(path):
        return None, None
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 5:
            continue
        v4, v4len, v6, v6plen, flen = f[:5]
        if v4 and v4len:
            ip[v4.split(",")[0]] += int(v4len.split(",")[0])
            for a in set(v4.split(",")):
                frame_v4[a] += int(flen)
        elif v6 and v6plen:
            ip[v6.split(",")[0]] += int(v6plen.split(",")[0]) + 40
    return ip, frame_v4


def ranked(counter):
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:K]


def agrees(theirs, truth):
    """Whether a tool's list is the exact top 10: same value at every rank
    (so ties at the boundary may name other keys), and every key's value is
    its true one."""
    want = ranked(truth)
    if len(theirs) != len(want):
        return False
    return all(v == w[1] and truth.get(k) == v for (k, v), w in zip(theirs, want))


def netsketch(work):
    s = json.loads(open(os.path.join(work, "netsketch.json")).read().splitlines()[-1])
    return s["top"]["src"]["bytes"][:K]


def parse_tshark_endpoints(work):
    rows = []
    for line in open(os.path.join(work, "tshark.txt")):
        f = line.split()
        # address, packets, bytes, tx packets, tx bytes, rx packets, rx bytes
        if len(f) == 7 and f[1].isdigit():
            rows.append((f[0], int(f[4])))
    rows.sort(key=lambda kv: (-kv[1], kv[0]))
    return rows[:K]


def parse_nfdump(work):
    text = open(os.path.join(work, "nfpcapd.txt")).read().split("\n\n")[0]
    rows = []
    for line in text.splitlines()[1:]:
        r = line.split(",")
        if len(r) > 9:
            rows.append((r[4], int(r[9])))
    return rows[:K]


def parse_pmacct(work, k=K):
    """Its top `k` (a source may appear once per cache purge: summed), or
    with k=None every source."""
    t = collections.Counter()
    for line in open(os.path.join(work, "pmacct.csv")):
        f = line.strip().split(",")
        if len(f) >= 3 and f[0] != "SRC_IP":
            t[f[0]] += int(f[2])
    return t if k is None else ranked(t)


def show(rows):
    return " ".join(f"{k}={v}" for k, v in rows)


NETSKETCH = "netsketch replay (all sketches, detection off)"

# Tool name (as compare.sh's runs.tsv has it), output file, parser, which
# exact measure it is checked against, and the unit it counts.
OTHERS = [
    ("tshark -q -z endpoints,ip", "tshark.txt", parse_tshark_endpoints, "frame_v4",
     "IPv4 only, frame bytes of every IP header"),
    ("nfpcapd + nfdump -s srcip/bytes", "nfpcapd.txt", parse_nfdump, "ip", "IP bytes"),
    ("pmacctd (print plugin, src_host)", "pmacct.csv", parse_pmacct, "ip", "IP bytes"),
]


def verdicts(work):
    """Each tool's verdict and its top 10 list, and whether netsketch failed."""
    ip, frame_v4 = exact(work)
    out = {}
    failed = False
    ns = netsketch(work)
    ns_rows = [(t["key"], t["value"]) for t in ns]
    if ip is None:
        verdict = "no exact reference (tshark not installed)"
    else:
        want = ranked(ip)
        out["exact (tshark fields)"] = ("reference", want)
        tenth = want[-1][1] if len(want) == K else 0
        got = {t["key"]: t for t in ns}
        bad = [k for k, v in want if k not in got and v > tenth]
        bad += [t["key"] for t in ns if not t["lower"] <= ip.get(t["key"], 0) <= t["upper"]]
        if bad:
            failed = True
            verdict = "DISAGREES with the exact top 10: " + " ".join(bad)
        elif agrees(ns_rows, ip):
            verdict = "= exact top 10, bytes exact"
        else:
            verdict = "= exact top 10, every truth within its bounds"
    out[NETSKETCH] = (verdict, ns_rows)
    measures = {"ip": ip, "frame_v4": frame_v4}
    for name, f, parse, measure, unit in OTHERS:
        if not os.path.exists(os.path.join(work, f)):
            continue
        rows, truth = parse(work), measures[measure]
        if truth is None:
            verdict = f"no exact reference ({unit})"
        elif agrees(rows, truth):
            verdict = f"= exact top 10 ({unit})"
        else:
            wrong = [f"{k}={v} (exact {truth.get(k, 0)})" for k, v in rows if truth.get(k) != v]
            missing = [f"{k}={v}" for k, v in ranked(truth) if k not in dict(rows)]
            more = lambda xs: xs[:3] + ([f"{len(xs) - 3} more"] if len(xs) > 3 else [])
            verdict = f"DIFFERS from exact top 10 ({unit}): " + "; ".join(more(wrong))
            if missing:
                verdict += "; missing " + " ".join(more(missing))
        if name.startswith("pmacctd") and truth is not None:
            # Its output holds every source, so its total can be checked.
            total, want = sum(parse_pmacct(work, k=None).values()), sum(truth.values())
            if total != want:
                verdict += f"; accounts for {100 * total / max(want, 1):.1f}% of the IP bytes"
        out[name] = (verdict, rows)
    return out, failed


def main():
    work, label = sys.argv[1], sys.argv[2]
    md = "--markdown" in sys.argv[3:]
    # Each tool may have run several times: the median of each measure.
    samples = {}
    for line in open(os.path.join(work, "runs.tsv")):
        name, wall, cpu, rss_kib = line.rstrip("\n").split("\t")
        samples.setdefault(name, []).append((float(wall), float(cpu), int(rss_kib)))
    runs = [(name, *(statistics.median(col) for col in zip(*v))) for name, v in samples.items()]
    n_runs = max(len(v) for v in samples.values())
    out, failed = verdicts(work)
    packets = json.loads(open(os.path.join(work, "netsketch.json")).read().splitlines()[-1])["packets"]
    base = next(w for n, w, _, _ in runs if n == NETSKETCH)
    head = ["tool", "wall s", "CPU s", "packets/s", "peak MiB", "netsketch faster by (wall)",
            "top 10 sources by bytes"]
    rows = []
    for name, wall, cpu, rss in runs:
        ratio = "-" if name == NETSKETCH else f"{wall / max(base, 1e-3):.2f}x"
        verdict = out.get(name, ("(does not answer it)", []))[0]
        rows.append([name, f"{wall:.2f}", f"{cpu:.2f}", f"{packets / max(wall, 1e-3):,.0f}",
                     f"{rss / 1024:.1f}", ratio, verdict])
    if md:
        print(f"Trace: {label}, {packets:,} packets; median of {n_runs} runs.\n")
        print("| " + " | ".join(head) + " |")
        print("|" + " --- |" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        print("\n```")
    else:
        print(f"trace: {label} ({packets:,} packets; median of {n_runs} runs)")
        widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
        for r in [head] + rows:
            print("  ".join(str(c).ljust(widths[i]) if i in (0, 6) else str(c).rjust(widths[i])
                            for i, c in enumerate(r)))
        print()
    print("top 10 sources by bytes, as each tool gives them:")
    for name, (_, rows) in out.items():
        print(f"{name}: {show(rows)}")
    if md:
        print("```")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Apache DataSketches (Python) against netsketch's exported sketches.

Usage: datasketches_interop.py EXPORT_DIR PACKETS_TSV SUMMARY_JSON OUT_DIR

PACKETS_TSV: one line per packet, `ip.src ipv6.src ip.len ipv6.plen ip.dst
ipv6.dst` as tshark prints them, the exact ground truth. SUMMARY_JSON:
netsketch's `replay --json` summary line. Checks that the Python library
reads netsketch's bytes with the same registers, estimates and valid bounds,
merges them with sketches it builds itself from the same keys, and writes
its own sketches to OUT_DIR (with its answers in OUT_DIR/python.json) for
netsketch to read back. Exits non-zero with a message on the first failure.
"""
import json
import sys
from collections import Counter
from pathlib import Path

import datasketches as ds

export, tsv, summary_path, out = (Path(a) for a in sys.argv[1:5])
summary = json.loads(summary_path.read_text().strip().splitlines()[-1])
out.mkdir(parents=True, exist_ok=True)

# Exact truth per source and destination: IP-layer bytes and packets.
truth = {d: {"bytes": Counter(), "packets": Counter()} for d in ("src", "dst")}
for line in tsv.read_text().splitlines():
    f = line.split("\t")
    if f[0]:
        src, dst, size = f[0], f[4], int(f[2])
    elif f[1]:
        src, dst, size = f[1], f[5], int(f[3]) + 40
    else:
        continue
    # tshark lists inner headers too (ICMP errors): the outer one counts.
    src, dst = src.split(",")[0], dst.split(",")[0]
    for d, k in (("src", src), ("dst", dst)):
        truth[d]["bytes"][k] += size
        truth[d]["packets"][k] += 1

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def registers(sketch_bytes_or_union):
    """HLL_8 registers of a sketch or union, whatever its estimator state."""
    s = sketch_bytes_or_union
    if isinstance(s, ds.hll_union):
        s = s.get_result(ds.tgt_hll_type.HLL_8)
    b = s.serialize_updatable() if not isinstance(s, bytes) else s
    return ds.hll_sketch.deserialize(b).serialize_updatable()[40:]


answers = {}
for d in ("src", "dst"):
    keys = list(truth[d]["packets"])
    ours = ds.hll_sketch.deserialize((export / f"distinct_{d}.hll").read_bytes())
    lg_k = ours.lg_config_k
    own8 = ds.hll_sketch(lg_k, ds.tgt_hll_type.HLL_8)
    own4 = ds.hll_sketch(lg_k)
    for k in keys:
        own8.update(k)
        own4.update(k)
    exact = len(keys)
    reported = summary["distinct"][d]
    est = ours.get_estimate()
    check(registers(ours) == registers(own8),
          f"distinct_{d}: netsketch's registers differ from Python's for the same keys")
    check(reported["lower"] <= est <= reported["upper"],
          f"distinct_{d}: Python reads {est}, outside netsketch's {reported}")
    check(abs(est - exact) <= 0.02 * exact,
          f"distinct_{d}: Python reads {est} of netsketch's sketch, exact {exact}")
    rse = 1.04 / (1 << lg_k) ** 0.5
    check(abs(est - reported["value"]) <= 2 * rse * exact,
          f"distinct_{d}: Python {est} vs netsketch {reported['value']}")
    # Merging with Python's own sketch of the same keys changes no register;
    # with Python's sketch of half the keys it gives the sketch of all.
    u = ds.hll_union(lg_k)
    u.update(ours)
    u.update(own4)
    check(registers(u) == registers(own8), f"distinct_{d}: union with Python's own differs")
    half = ds.hll_sketch(lg_k)
    for k in keys[: len(keys) // 2]:
        half.update(k)
    u = ds.hll_union(lg_k)
    u.update(half)
    u.update(ours)
    check(registers(u) == registers(own8), f"distinct_{d}: union with Python's half differs")
    (out / f"python_{d}.hll").write_bytes(own4.serialize_compact())
    answers[f"distinct_{d}"] = own4.get_estimate()

    for metric in ("bytes", "packets"):
        name = f"top_{d}_{metric}"
        t = truth[d][metric]
        fi = ds.frequent_strings_sketch.deserialize((export / f"{name}.fi").read_bytes())
        total = sum(t.values())
        check(fi.total_weight == total, f"{name}: total {fi.total_weight}, exact {total}")
        wrong = [(k, v, fi.get_lower_bound(k), fi.get_upper_bound(k)) for k, v in t.items()
                 if not fi.get_lower_bound(k) <= v <= fi.get_upper_bound(k)]
        check(not wrong, f"{name}: {len(wrong)} keys outside their bounds, e.g. {wrong[:3]}")
        for item in summary["top"][d][metric]:
            got = fi.get_estimate(item["key"])
            check(got == item["value"],
                  f"{name}: Python estimates {item['key']} at {got}, netsketch {item['value']}")
        # Python's own sketch of the same stream, merged with ours: the
        # bounds hold for the doubled stream.
        lg = 10
        own = ds.frequent_strings_sketch(lg)
        for k, v in t.items():
            own.update(k, v)
        (out / f"python_{name}.fi").write_bytes(own.serialize())
        answers[name] = {k: [own.get_estimate(k), own.get_lower_bound(k), own.get_upper_bound(k)]
                         for k, _ in t.most_common(50)}
        own.merge(fi)
        check(own.total_weight == 2 * total, f"{name}: merged total {own.total_weight}")
        wrong = [k for k, v in t.most_common(1000)
                 if not own.get_lower_bound(k) <= 2 * v <= own.get_upper_bound(k)]
        check(not wrong, f"{name}: merged bounds miss {len(wrong)} keys, e.g. {wrong[:3]}")

(out / "python.json").write_text(json.dumps(answers))
if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
print("datasketches interop: ok")

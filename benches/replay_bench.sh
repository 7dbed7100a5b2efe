#!/usr/bin/env bash
# Trace-replay benchmark: generated traces always, plus any capture given,
# through the full pipeline with 0..N workers (`replay -w N`, from the page
# cache); flow exports are given after --flows. Prints packets (or
# records)/s, bits/s at the trace's own packet sizes, peak RSS, what was
# given up (parse errors, queue drops) and what came late (counted and
# folded into the current epoch, not lost).
#
# usage: benches/replay_bench.sh [--markdown] [--quick] [--runs N] [-n MAX_WORKERS] [FILE...] [--flows FILE...]
#   --quick: generated traces a tenth the size (a smoke run, not figures)
#   --runs N: replay each input N times per worker count (default 3); the
#             table shows the run with the median rate
set -euo pipefail
cd "$(dirname "$0")/.."
md=0
if [ "${1:-}" = --markdown ]; then md=1; shift; fi
secs=10
if [ "${1:-}" = --quick ]; then secs=1; shift; fi
runs=3
if [ "${1:-}" = --runs ]; then runs=$2; shift 2; fi
max=$(nproc)
if [ "${1:-}" = -n ]; then max=$2; shift 2; fi
# NETSKETCH_BIN: a netsketch binary to use instead of building one.
bin=${NETSKETCH_BIN:-target/release/netsketch}
[ -n "${NETSKETCH_BIN:-}" ] || cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" gen --scenario baseline -d "$secs" -r 200000 -o "$work/generated-edge.pcap" 2> /dev/null
"$bin" gen --scenario baseline,syn-flood -d "$((secs > 1 ? secs / 2 : 1))" -r 100000 --attack-rate 400000 -o "$work/generated-syn-flood.pcap" 2> /dev/null
inputs=("packets:$work/generated-edge.pcap" "packets:$work/generated-syn-flood.pcap")
mode=packets
for a in "$@"; do
  if [ "$a" = --flows ]; then mode=flows; continue; fi
  inputs+=("$mode:$a")
done
for i in "${inputs[@]}"; do
  kind=${i%%:*} f=${i#*:}
  cat "$f" > /dev/null # into the page cache
  for w in $(seq 0 "$max"); do
    extra=()
    [ "$kind" = flows ] && extra=(--flows)
    for _ in $(seq "$runs"); do
      "$bin" replay "${extra[@]}" --no-pin -w "$w" --json --no-detect --no-progress "$f" | tail -1 > "$work/s.json"
      printf '%s\t%s\t%s\t' "$(basename "$f")" "$kind" "$w" >> "$work/rows.tsv"
      tr -d '\n' < "$work/s.json" >> "$work/rows.tsv"
      echo >> "$work/rows.tsv"
    done
  done
done
python3 - "$work/rows.tsv" "$md" << 'PY'
import json, sys
md = sys.argv[2] == "1"
head = ["input", "workers", "items/s", "bits/s", "peak MiB", "items", "given up", "late"]
runs = {}
for line in open(sys.argv[1]):
    name, kind, w, s = line.rstrip("\n").split("\t", 3)
    s = json.loads(s)
    n = s["packets"] if kind == "packets" else s["flow_records"]
    runs.setdefault((name, kind, w), []).append((n / max(s["elapsed_s"], 1e-9), n, s))
rows = []
for (name, kind, w), v in runs.items():
    # The run with the median rate (the lower middle one for an even count).
    rate, n, s = sorted(v, key=lambda r: r[0])[(len(v) - 1) // 2]
    unit = "packets" if kind == "packets" else "records"
    given_up = sum(s.get("errors", {}).values()) + s.get("queue_drops", 0)
    bits = f"{s['bits_per_s'] / 1e6:,.0f} M" if kind == "packets" else "-"
    rows.append([name, w, f"{rate:,.0f} {unit}/s", bits, f"{s['peak_rss_bytes'] / 2**20:.1f}",
                 f"{n:,}", f"{given_up:,}", f"{s.get('late', 0):,}"])
if md:
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
else:
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
PY

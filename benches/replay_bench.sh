#!/usr/bin/env bash
# Trace-replay benchmark: generated traces always, plus any capture given,
# through the full pipeline with 0..N workers (`replay -w N`, from the page
# cache); flow exports are given with --flows FILE. Prints packets (or
# records)/s, bits/s at the trace's own packet sizes, peak RSS and drops.
#
# usage: benches/replay_bench.sh [-n MAX_WORKERS] [FILE...] [--flows FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/netsketch
[ -x "$bin" ] || cargo build --release -q
max=$(nproc)
if [ "${1:-}" = "-n" ]; then max=$2; shift 2; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" gen --scenario baseline -d 10 -r 200000 -o "$work/edge.pcap" 2>/dev/null
"$bin" gen --scenario baseline,syn-flood -d 5 -r 100000 --attack-rate 400000 -o "$work/flood.pcap" 2>/dev/null
inputs=("packets:$work/edge.pcap" "packets:$work/flood.pcap")
mode=packets
for a in "$@"; do
  if [ "$a" = --flows ]; then mode=flows; continue; fi
  inputs+=("$mode:$a")
done
printf '%-40s %7s %14s %12s %9s %8s\n' input workers "items/s" "bits/s" "peak MiB" "given up"
for i in "${inputs[@]}"; do
  kind=${i%%:*}; f=${i#*:}
  cat "$f" > /dev/null  # into the page cache
  for w in $(seq 0 "$max"); do
    extra=()
    [ "$kind" = flows ] && extra=(--flows)
    "$bin" replay "${extra[@]}" -w "$w" --json --no-detect --no-progress "$f" | tail -1 > "$work/s.json"
    python3 - "$work/s.json" "$(basename "$f")" "$w" "$kind" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
name, w, kind = sys.argv[2], sys.argv[3], sys.argv[4]
items = s["packets_per_s"] if kind == "packets" else s["flow_records"] / max(s["elapsed_s"], 1e-9)
drops = sum(v for k, v in s.get("errors", {}).items())
print(f"{name[:40]:<40} {w:>7} {items:>14,.0f} {s['bits_per_s']:>12,.0f} {s['peak_rss_bytes']/2**20:>9.1f} {drops:>8}")
PY
  done
done

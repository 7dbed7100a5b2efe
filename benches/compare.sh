#!/usr/bin/env bash
# Side by side: the same pcap through netsketch and the tools operators run
# today. For each: wall time, CPU time, packets/s, peak RSS, netsketch's
# throughput ratio to it, and its top 10 sources by bytes checked against
# the exact answer (summed from tshark's per-packet fields, untimed).
#
# usage: benches/compare.sh [--markdown] [--runs N] [CAPTURE.pcap]
#   default capture: a generated trace with a SYN flood (650 k packets)
#   --markdown: the table as Markdown (what BENCHMARKS.md holds)
#   --runs N: run each tool N times (default 3); the table shows medians
# Tools that are not installed are skipped (Debian: tshark nfdump softflowd
# pmacct tcpdump). Exit status 1 if netsketch's top 10 disagrees with the exact one.
set -euo pipefail
cd "$(dirname "$0")/.."
md=0 runs=3
if [ "${1:-}" = --markdown ]; then md=1; shift; fi
if [ "${1:-}" = --runs ]; then runs=$2; shift 2; fi
# NETSKETCH_BIN: a netsketch binary to use instead of building one.
bin=${NETSKETCH_BIN:-target/release/netsketch}
[ -n "${NETSKETCH_BIN:-}" ] || cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trace=${1:-}
if [ -z "$trace" ]; then
  trace=$work/generated.pcap
  "$bin" gen --scenario baseline,syn-flood -d 10 -r 100000 -o "$trace" 2>/dev/null
  label="generated (gen --scenario baseline,syn-flood -d 10 -r 100000)"
else
  label=$(basename "$trace")
fi
cat "$trace" > /dev/null # into the page cache, for every tool alike

# run NAME OUTFILE CMD...: times CMD (stdout to OUTFILE) with /usr/bin/time,
# $runs times, appending "name, wall s, CPU s, peak RSS KiB" to runs.tsv
# each time.
run() {
  local name=$1 out=$2 i
  shift 2
  for i in $(seq "$runs"); do
    if ! /usr/bin/time -v -o "$work/time" "$@" > "$out" 2> "$work/stderr"; then
      echo "compare.sh: $name failed: $(tail -3 "$work/stderr")" >&2
      return 0
    fi
    awk -F': ' -v n="$name" '
      /Elapsed \(wall clock\)/ {k=split($2,a,":"); w=0; for(i=1;i<=k;i++) w=w*60+a[i]}
      /User time/ {u=$2} /System time/ {s=$2} /Maximum resident set size/ {r=$2}
      END {printf "%s\t%s\t%s\t%s\n", n, w, u+s, r}' "$work/time" >> "$work/runs.tsv"
  done
}

run "netsketch replay (all sketches, detection off)" "$work/netsketch.json" "$bin" replay --json --no-detect --no-progress --top 10 "$trace"
[ -s "$work/netsketch.json" ] || { echo "compare.sh: netsketch failed on $trace" >&2; exit 1; }
if command -v tshark > /dev/null; then
  tshark -n -r "$trace" -T fields -e ip.src -e ip.len -e ipv6.src -e ipv6.plen -e frame.len > "$work/exact.tsv" 2> /dev/null
  run "tshark -q -z endpoints,ip" "$work/tshark.txt" tshark -n -q -r "$trace" -z endpoints,ip
fi
if command -v nfpcapd > /dev/null; then
  mkdir -p "$work/nfpcapd"
  run "nfpcapd + nfdump -s srcip/bytes" "$work/nfpcapd.txt" sh -c "rm -rf '$work/nfpcapd'/* && nfpcapd -r '$trace' -w '$work/nfpcapd' >/dev/null 2>&1 && nfdump -R '$work/nfpcapd' -s srcip/bytes -n 10 -o csv"
fi
if command -v softflowd > /dev/null; then
  run "softflowd -r (flow table only)" /dev/null softflowd -r "$trace" -n 127.0.0.1:9 -v 9 -d
fi
if command -v tcpdump > /dev/null; then
  # The floor every capture tool stands on: reading the trace, nothing else.
  run "tcpdump -r -w /dev/null (read only)" /dev/null tcpdump -r "$trace" -w /dev/null
fi
if command -v pmacctd > /dev/null; then
  # Append: each cache purge (the cache fills on many sources) writes what
  # it held, and compare_report.py sums them.
  printf 'daemonize: false\npcap_savefile: %s\nplugins: print\nprint_output_file: %s/pmacct.csv\nprint_output: csv\nprint_output_file_append: true\naggregate: src_host\n' "$trace" "$work" > "$work/pmacctd.conf"
  run "pmacctd (print plugin, src_host)" /dev/null sh -c "rm -f '$work/pmacct.csv' && pmacctd -f '$work/pmacctd.conf'"
fi

args=("$work" "$label")
[ $md = 1 ] && args+=(--markdown)
python3 benches/compare_report.py "${args[@]}"

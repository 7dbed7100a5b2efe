#!/usr/bin/env bash
# The figures of BENCHMARKS.md in one command, as Markdown: the machine, the
# trace-replay table (generated traces, plus the shared real capture and
# flow export when present) and the side-by-side comparison (generated
# trace, plus the real capture when present).
#
# usage: benches/report.sh [TRACES_DIR [LARGE.pcap]] > report.md
#   TRACES_DIR defaults to ../shared/traces (skipped if missing).
#   LARGE.pcap: also the side-by-side table on it (the trace
#   ../shared/bench/build_large.sh builds).
# Run it on an otherwise idle machine: everything here is wall-clock.
set -euo pipefail
cd "$(dirname "$0")/.."
traces=${1:-../shared/traces}
large=${2:-}
real=$traces/mixed/real-merged.pcap
export_file=$traces/netflow/netflow-softflowd-ipfix-mixed.pcap
cargo build --release -q

echo "## Machine"
echo
echo "- $(nproc) CPUs: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "- $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, Linux $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "- $(rustc --version), netsketch $(git rev-parse --short HEAD 2> /dev/null || echo '(no git)')"
for t in "tshark --version" "nfdump -V" "pmacctd -V"; do
  if command -v "${t%% *}" > /dev/null; then
    echo "- $($t 2> /dev/null | head -1 | cut -c1-60)"
  fi
done
if command -v softflowd > /dev/null; then
  echo "- softflowd $(dpkg-query -W -f '${Version}' softflowd 2> /dev/null || echo '(version unknown)')"
fi
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

echo "## Trace replay, 0-2 workers"
echo
extra=()
[ -f "$real" ] && extra+=("$real")
[ -f "$export_file" ] && extra+=(--flows "$export_file")
echo '`benches/replay_bench.sh --markdown -n 2'" ${extra[*]}"'`'
echo
benches/replay_bench.sh --markdown -n 2 "${extra[@]}"
echo

echo "## Side by side with the tools operators run today"
echo
echo '`benches/compare.sh --markdown`'
echo
status=0
benches/compare.sh --markdown || status=$?
if [ -f "$real" ]; then
  echo
  echo '`benches/compare.sh --markdown '"$real"'`'
  echo
  benches/compare.sh --markdown "$real" || status=$?
fi
if [ -n "$large" ]; then
  echo
  echo '`benches/compare.sh --markdown '"$(basename "$large")"'` (from `../shared/bench/build_large.sh`)'
  echo
  benches/compare.sh --markdown "$large" || status=$?
fi
exit $status

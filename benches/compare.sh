#!/usr/bin/env bash
# Side by side: the same pcap through netsketch and the tools operators run
# today, each one's wall time, packets/s, peak RSS and (where it answers
# that) top 10 sources by bytes, with netsketch's throughput ratio to each.
#
# usage: benches/compare.sh [CAPTURE.pcap]   (default: a generated trace)
# Tools that are not installed are skipped (Debian: tshark nfdump softflowd pmacct).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/netsketch
[ -x "$bin" ] || cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trace=${1:-}
if [ -z "$trace" ]; then
  trace=$work/generated.pcap
  "$bin" gen --scenario baseline,syn-flood -d 10 -r 100000 -o "$trace" 2>/dev/null
fi
packets=$(capinfos -M -c "$trace" 2>/dev/null | awk -F': *' '/Number of packets/ {print $2}' || true)
[ -n "$packets" ] || packets=$("$bin" replay --json --no-detect --no-progress "$trace" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["packets"])')
echo "trace: $trace ($packets packets)"
printf '%-34s %9s %14s %10s\n' tool "wall s" "packets/s" "peak MiB"

# run NAME OUTFILE CMD...: times CMD with /usr/bin/time -v, stdout to OUTFILE.
declare -A wall rss
run() {
  local name=$1 out=$2; shift 2
  /usr/bin/time -v -o "$work/$name.time" "$@" > "$out" 2>/dev/null || { echo "$name failed" >&2; return 1; }
  local w r
  w=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/$name.time")
  r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$name.time")
  wall[$name]=$w; rss[$name]=$r
  printf '%-34s %9.2f %14.0f %10.1f\n' "$name" "$w" "$(python3 -c "print($packets/max($w,1e-3))")" "$(python3 -c "print($r/1024)")"
}

run netsketch "$work/netsketch.json" "$bin" replay --json --no-detect --no-progress --top 10 "$trace"
tops=$work/tops.txt
python3 - "$work/netsketch.json" > "$tops" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("netsketch:", " ".join(f"{t['key']}={t['value']}" for t in s["top"]["src"]["bytes"][:10]))
PY
if command -v tshark >/dev/null; then
  run "tshark -z endpoints,ip" "$work/tshark.txt" tshark -n -q -r "$trace" -z endpoints,ip
  # Endpoints count bytes both ways; report tx bytes (sent by the address).
  python3 - "$work/tshark.txt" >> "$tops" <<'PY'
import sys
rows = []
for l in open(sys.argv[1]):
    f = l.split()
    # address, packets, bytes, tx packets, tx bytes, rx packets, rx bytes
    if len(f) == 7 and f[1].isdigit():
        rows.append((int(f[4]), f[0]))
rows.sort(reverse=True)
print("tshark (IPv4 only, frame bytes = IP bytes + 14 per packet):", " ".join(f"{a}={b}" for b, a in rows[:10]))
PY
fi
if command -v nfpcapd >/dev/null; then
  mkdir -p "$work/nfpcapd"
  run "nfpcapd + nfdump" "$work/nfpcapd.txt" sh -c "nfpcapd -r '$trace' -w '$work/nfpcapd' >/dev/null 2>&1; nfdump -R '$work/nfpcapd' -s srcip/bytes -n 10 -o csv"
  python3 - "$work/nfpcapd.txt" >> "$tops" <<'PY'
import sys
rows = [l.split(",") for l in open(sys.argv[1]).read().split("\n\n")[0].splitlines()[1:]]
print("nfdump:", " ".join(f"{r[4]}={r[9]}" for r in rows[:10] if len(r) > 9))
PY
fi
if command -v softflowd >/dev/null; then
  run "softflowd -r (export to nowhere)" /dev/null softflowd -r "$trace" -n 127.0.0.1:9 -v 9 -d
fi
if command -v pmacctd >/dev/null; then
  printf 'daemonize: false\npcap_savefile: %s\nplugins: print\nprint_output_file: %s/pmacct.csv\nprint_output: csv\naggregate: src_host\n' "$trace" "$work" > "$work/pmacctd.conf"
  run "pmacctd (print src_host)" /dev/null pmacctd -f "$work/pmacctd.conf"
fi
echo
echo "netsketch throughput ratio (their wall time / netsketch's):"
for k in "${!wall[@]}"; do
  [ "$k" = netsketch ] && continue
  printf '  vs %-32s %6.2fx\n' "$k" "$(python3 -c "print(${wall[$k]}/max(${wall[netsketch]},1e-3))")"
done
echo
echo "top 10 sources by bytes:"
cat "$tops"

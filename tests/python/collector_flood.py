"""Issue 17's collector floods at full size: 128 MB of UDP from 64 ports of
127.0.0.1 (empty data sets for unknown templates, or template definitions)
while a good exporter (127.0.0.2) sends to a second listen address; prints
the collector's RSS before and at the end, its records and its accounting.

    python3 tests/python/collector_flood.py empty|templates [target/debug/netsketch]
"""
import socket, struct, subprocess, sys, time, json, re
mode = sys.argv[1]
bin = sys.argv[2] if len(sys.argv) > 2 else "target/debug/netsketch"
p = subprocess.Popen([bin, "collect", "--json", "--no-detect", "-l", "127.0.0.1:0", "-l", "127.0.0.1:0", "--threads", "2"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
line = p.stderr.readline()
ports = [int(x) for x in re.findall(r"127\.0\.0\.1:(\d+)", line)]
time.sleep(0.5)
def rss():
    s = open(f"/proc/{p.pid}/status").read()
    return {k: int(re.search(k + r":\s+(\d+)", s).group(1)) for k in ("VmHWM", "VmRSS")}
base = rss()
now = int(time.time())
def v9(sets):
    body = b"".join(sets)
    return struct.pack(">HHIIII", 9, len(sets), 100000, now, 1, 0) + body
def st(i, b):
    return struct.pack(">HH", i, len(b) + 4) + b
flood = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(64)]
for s in flood: s.bind(("127.0.0.1", 0))
good = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); good.bind(("127.0.0.2", 0))
t = struct.pack(">" + "H" * 10, 300, 4, 8, 4, 12, 4, 1, 4, 2, 4)
d = b"".join(bytes([192, 0, 2, k, 10, 0, 0, 9]) + struct.pack(">II", 1000, 10) for k in (1, 2))
gd = v9([st(0, t), st(300, d)])
sent = 0; n = 0; t0 = time.time()
while sent < 128 << 20:
    if mode == "empty":
        dg = v9([st(256 + (n * 340 + k) % 60000, b"") for k in range(340)])
    else:
        dg = v9([st(0, b"".join(struct.pack(">HHHH", 256 + (n * 170 + k) % 65000, 1, 8, 4) for k in range(170)))])
    flood[n % 64].sendto(dg, ("127.0.0.1", ports[0])); sent += len(dg); n += 1
    if n % 1860 == 0:
        good.sendto(gd, ("127.0.0.1", ports[1]))
time.sleep(2)
peak = rss()
p.terminate(); out, _ = p.communicate()
s = json.loads(out.strip().splitlines()[-1])
print(json.dumps({"mode": mode, "flood_MB": sent >> 20, "datagrams": n, "send_s": round(time.time() - t0, 1),
  "base_kB": base, "peak_kB": peak, "records": s["flow_records"], "kernel_drops": s["kernel_drops"],
  "good_errors": s["flow_errors_by_exporter"].get("127.0.0.2"), "flow_state": s["flow_state"],
  "errors": s["errors"]}))

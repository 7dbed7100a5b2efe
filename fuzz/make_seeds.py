#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ from short slices of
../shared/traces (a few KiB each, never whole traces). Run from the
repository root: python3 fuzz/make_seeds.py ../shared/traces"""
import os
import struct
import sys

traces = sys.argv[1] if len(sys.argv) > 1 else "../shared/traces"
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
MAX = 4096


def write(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data[:MAX])


def frames(path):
    """(linktype, frame) of a classic pcap file."""
    b = open(path, "rb").read()
    magic = b[:4]
    end = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    lt = struct.unpack(end + "I", b[20:24])[0]
    at = 24
    while at + 16 <= len(b):
        incl = struct.unpack(end + "I", b[at + 8:at + 12])[0]
        yield lt, b[at + 16:at + 16 + incl]
        at += 16 + incl


def udp_payload(frame):
    if len(frame) < 14:
        return None
    et = struct.unpack(">H", frame[12:14])[0]
    ip = frame[14:]
    if et == 0x0800 and len(ip) >= 20 and ip[9] == 17:
        ihl = (ip[0] & 15) * 4
        return ip[ihl + 8:]
    if et == 0x86DD and len(ip) >= 40 and ip[6] == 17:
        return ip[48:]
    return None


def rel(*p):
    return os.path.join(traces, *p)


# pcap: the small flow traces whole (under 1.5 KiB), heads of attack traces.
for sub in ("netflow", "sflow"):
    for f in sorted(os.listdir(rel(sub))):
        if f.endswith(".pcap") and os.path.getsize(rel(sub, f)) <= 2048:
            write("pcap", f, open(rel(sub, f), "rb").read())
for f in ("chrissanders_synscan.pcap", "amp.dns.RRSIG.fragmented.pcap", "zeek_dhcp_flood.pcap"):
    write("pcap", "head-" + f, open(rel("ddos", f), "rb").read()[:3000])

# pcapng: small captures whole, the head of a larger one.
small = rel("small", "chrissanders")
for f in sorted(os.listdir(small)):
    if f.endswith(".pcapng") and os.path.getsize(os.path.join(small, f)) <= 4096:
        write("pcapng", f, open(os.path.join(small, f), "rb").read())
write("pcapng", "head-amp.TCP.syn.pcapng",
      open(rel("ddos", "amp.TCP.syn.optionallyACK.optionallysamePort.pcapng"), "rb").read()[:3000])

# packet: [linktype pick][frame]; pick 0 = Ethernet, 1 = raw IP.
n = 0
for path in (rel("ddos", "chrissanders_synscan.pcap"), rel("ddos", "amp.dns.RRSIG.fragmented.pcap"),
             rel("netflow", "akvorado_netflow_nfv5.pcap"), rel("sflow", "tcpdump_sflow-print-v6.pcap"),
             rel("ddos", "zeek_dhcp_flood.pcap")):
    for i, (lt, fr) in enumerate(frames(path)):
        if i >= 6 or lt != 1:
            break
        write("packet", "eth-%02d" % n, b"\x00" + fr)
        write("packet", "raw-%02d" % n, b"\x01" + fr[14:])
        n += 1


# flows: [exporter][clock step][len u16][datagram]... per seed.
def seq(payloads, exporter=0, step=0):
    return b"".join(bytes([exporter, step]) + struct.pack(">H", len(p)) + p for p in payloads)


def payloads(*names):
    ps = []
    for sub, f in names:
        for _, fr in frames(rel(sub, f)):
            p = udp_payload(fr)
            if p:
                ps.append(p)
    return ps


pairs = [
    ("template", "data"), ("icmp-template", "icmp-data"), ("ipfixprobe-templates", "ipfixprobe-data"),
    ("options-template", "options-data"), ("samplingrate-template", "samplingrate-data"),
    ("juniper-cpid-template", "juniper-cpid-data"), ("ipfix-srv6-template", "ipfix-srv6-data"),
    ("datalink-template", "datalink-data"),
]
for t, d in pairs:
    ps = payloads(("netflow", "akvorado_netflow_%s.pcap" % t), ("netflow", "akvorado_netflow_%s.pcap" % d))
    write("flows", "nf-" + t, seq(ps))
    # Data first: held until its template comes.
    write("flows", "nf-held-" + t, seq(ps[::-1]))
for f in ("nfv5", "data+templates", "mpls", "nat", "physicalinterfaces"):
    write("flows", "nf-" + f, seq(payloads(("netflow", "akvorado_netflow_%s.pcap" % f))))
for f in sorted(os.listdir(rel("sflow"))):
    if f.endswith(".pcap"):
        write("flows", "sflow-" + f[:-5], seq(payloads(("sflow", f))[:3]))

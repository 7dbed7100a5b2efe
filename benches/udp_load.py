#!/usr/bin/env python3
"""Sends an IPFIX export to a collector over UDP as fast as it can.

Reads the IPFIX (or NetFlow v9) datagrams out of a capture of an export
(tshark not needed: pcap parsing is done here), then sends them round and
round to ADDR:PORT for SECONDS, with the template first. Prints datagrams
sent. Used by BENCHMARKS.md for the loopback figure of `netsketch collect`.

usage: udp_load.py CAPTURE.pcap HOST PORT SECONDS
"""
import socket
import struct
import sys
import time


def udp_payloads(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    at = 24
    out = []
    while at + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[at:at + 16])
        frame = data[at + 16:at + 16 + incl]
        at += 16 + incl
        if linktype == 1:
            if len(frame) < 14 or frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
        elif linktype in (101, 228):
            ip = frame
        else:
            continue
        if len(ip) < 28 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        out.append(ip[ihl + 8:])
    return out


def main():
    path, host, port, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    payloads = udp_payloads(path)
    if not payloads:
        sys.exit("no UDP payloads in " + path)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dest = (host, port)
    sent = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for p in payloads:
            s.sendto(p, dest)
        sent += len(payloads)
    print(sent)


if __name__ == "__main__":
    main()

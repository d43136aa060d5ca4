#!/usr/bin/env python3
"""Raw DNS packets that dig and kdig will not send, for the integration tests.

usage: dnsraw.py HOST PORT PROTO(udp|tcp) CASE [ARGS...]
  opcode NAME OPCODE   a query for NAME/SOA with the given opcode
  twoq NAME            a query with two questions (QDCOUNT=2)
  selfptr              a query whose QNAME is a compression pointer to itself
  garbage LEN          LEN bytes of noise (over TCP: once raw on the stream, once length-prefixed)
Prints one line per reply: "id=.. qr=.. opcode=.. aa=.. tc=.. rd=.. z=.. rcode=.. qd=.. an=..
ns=.. ar=..", or "noreply" when none came (or the server closed the connection).
"""
import random
import socket
import struct
import sys

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(qid, opcode=0, qdcount=1):
    flags = (opcode & 0xF) << 11
    return struct.pack("!HHHHHH", qid, flags, qdcount, 0, 0, 0)


def question(name, qtype=6):
    return wire_name(name) + struct.pack("!HH", qtype, 1)


def summary(reply):
    if len(reply) < 12:
        return "short reply of %d bytes" % len(reply)
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", reply[:12])
    rcode = flags & 0xF
    return "id=%d qr=%d opcode=%d aa=%d tc=%d rd=%d z=%d rcode=%s qd=%d an=%d ns=%d ar=%d" % (
        qid, flags >> 15, (flags >> 11) & 0xF, (flags >> 10) & 1, (flags >> 9) & 1,
        (flags >> 8) & 1, (flags >> 6) & 1, RCODES.get(rcode, str(rcode)), qd, an, ns, ar)


def exchange_udp(host, port, payload, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(payload, (host, port))
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def exchange_tcp(host, port, stream, timeout):
    """Sends `stream` as is, half-closes, and reads one length-prefixed reply."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(stream)
        s.shutdown(socket.SHUT_WR)
        prefix = recv_exact(s, 2)
        if prefix is None:
            return None
        return recv_exact(s, struct.unpack("!H", prefix)[0])
    except (socket.timeout, ConnectionResetError):
        return None
    finally:
        s.close()


def send(host, port, proto, message, timeout=2.0):
    if proto == "udp":
        reply = exchange_udp(host, port, message, timeout)
    else:
        reply = exchange_tcp(host, port, struct.pack("!H", len(message)) + message, timeout)
    print("noreply" if reply is None else summary(reply))


def main(argv):
    host, port, proto, case = argv[1], int(argv[2]), argv[3], argv[4]
    args = argv[5:]
    if case == "opcode":
        send(host, port, proto, header(0x1234, int(args[1])) + question(args[0]))
    elif case == "twoq":
        send(host, port, proto,
             header(0x2345, qdcount=2) + question(args[0]) + question(args[0], 1))
    elif case == "selfptr":
        # The QNAME starts at offset 12 and is a pointer to offset 12.
        send(host, port, proto, header(0x3456) + b"\xc0\x0c" + struct.pack("!HH", 1, 1))
    elif case == "garbage":
        n = int(args[0])
        noise = bytes(random.Random(n).getrandbits(8) for _ in range(n))
        if proto == "udp":
            reply = exchange_udp(host, port, noise, 0.2)
            print("noreply" if reply is None else summary(reply))
        else:
            for stream in (noise, struct.pack("!H", n) + noise):
                reply = exchange_tcp(host, port, stream, 0.5)
                print("noreply" if reply is None else summary(reply))
    else:
        sys.exit("unknown case " + case)


if __name__ == "__main__":
    main(sys.argv)

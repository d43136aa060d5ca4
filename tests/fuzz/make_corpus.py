#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: raw DNS requests, one per file.

Run it again after changing it (python3 tests/fuzz/make_corpus.py); it replaces each target's
corpus directory whole, and the same script always writes the same bytes. The seeds ask for the
names of tests/fuzz/fuzz_zone.cpp (nsec.example. and nsec3.example.) so that fuzzing starts from
every kind of answer, and include the malformed requests the parser must refuse.
"""

import os
import shutil
import struct
import sys

A, NS, CNAME, SOA, MX, TXT, AAAA, SRV = 1, 2, 5, 6, 15, 16, 28, 33
OPT, DS, RRSIG, NSEC, DNSKEY, NSEC3, NSEC3PARAM, TLSA = 41, 43, 46, 47, 48, 50, 51, 52
CDS, CDNSKEY, TKEY, TSIG, IXFR, AXFR, ANY, CAA = 59, 60, 249, 250, 251, 252, 255, 257
IN, CH, CLASS_ANY = 1, 3, 255
DO = 0x8000

HERE = os.path.dirname(os.path.abspath(__file__))


def name(text):
    """Uncompressed wire form of a name ("." is the root)."""
    out = b""
    for label in text.rstrip(".").split(".") if text != "." else []:
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(qid, qd=1, an=0, ns=0, ar=0, opcode=0, rd=True, cd=False, qr=False):
    flags = (0x8000 if qr else 0) | (opcode << 11) | (0x0100 if rd else 0) | (0x0010 if cd else 0)
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(qname, qtype, qclass=IN):
    return name(qname) + struct.pack("!HH", qtype, qclass)


def rr(owner_wire, rtype, rclass, ttl, rdata):
    return owner_wire + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def opt(udp=1232, flags=0, version=0, ext_rcode=0, options=()):
    rdata = b"".join(struct.pack("!HH", code, len(data)) + data for code, data in options)
    ttl = (ext_rcode << 24) | (version << 16) | flags
    return rr(b"\0", OPT, udp, ttl, rdata)


def tsig(owner_wire, qid):
    """A TSIG record as a signed request ends with (its MAC is not valid; nothing checks yet)."""
    rdata = (name("hmac-sha256.") + struct.pack("!HI", 0, 1_800_000_000) +
             struct.pack("!HH", 300, 32) + bytes(range(32)) + struct.pack("!HHH", qid, 0, 0))
    return rr(owner_wire, TSIG, CLASS_ANY, 0, rdata)


def query(qid, qname, qtype, qclass=IN, edns=True, do=True, udp=1232, options=(), **flags):
    ar = 1 if edns else 0
    msg = header(qid, ar=ar, **flags) + question(qname, qtype, qclass)
    if edns:
        msg += opt(udp=udp, flags=DO if do else 0, options=options)
    return msg


def fuzz_query_seeds():
    seeds = {}
    n = iter(range(0x1000, 0x2000))

    def q(label, qname, qtype, **kw):
        seeds[label] = query(next(n), qname, qtype, **kw)

    # Every kind of answer from the NSEC zone; those with a denial of existence (or a signed
    # referral) from the NSEC3 zone too.
    for zone in ("nsec", "nsec3"):
        z = zone + ".example."
        q(f"{zone}-apex-mx", z, MX)
        q(f"{zone}-apex-dnskey", z, DNSKEY)
        q(f"{zone}-tlsa", "_25._tcp.mx1." + z, TLSA)
        q(f"{zone}-nodata", "mx1." + z, TXT)
        q(f"{zone}-empty-non-terminal", "b.deep." + z, A)
        q(f"{zone}-nxdomain", "nope." + z, A)
        q(f"{zone}-wildcard", "anything.wild." + z, TXT)
        q(f"{zone}-wildcard-nodata", "anything.wild." + z, AAAA)
        q(f"{zone}-wildcard-cname", "x.wcname." + z, A)
        q(f"{zone}-cname-loop", "loop1." + z, A)
        q(f"{zone}-referral-signed", "host.secure." + z, A)
        q(f"{zone}-referral-unsigned", "host.insecure." + z, AAAA)
        q(f"{zone}-ds-at-cut", "secure." + z, DS)
        q(f"{zone}-big-udp-512", "big." + z, TXT, udp=512)
    z = "nsec.example."
    q("nsec-apex-mx-no-edns", z, MX, edns=False)
    q("nsec-apex-mx-no-do", z, MX, do=False)
    q("nsec-apex-soa", z, SOA)
    q("nsec-apex-ns", z, NS)
    q("nsec-apex-txt", z, TXT)
    q("nsec-apex-cds", z, CDS)
    q("nsec-apex-any", z, ANY, do=False)
    q("nsec-mx1-aaaa", "mx1." + z, AAAA)
    q("nsec-srv", "_submission._tcp." + z, SRV)
    q("nsec-srv-target-missing", "_imaps._tcp." + z, SRV)
    q("nsec-tlsa-any", "_25._tcp.mx1." + z, ANY)
    q("nsec-wildcard-any", "anything.wild." + z, ANY)
    q("nsec-wildcard-cname-out-of-zone", "x.wout." + z, A)
    q("nsec-dmarc-txt", "_dmarc." + z, TXT)
    q("nsec-nxdomain-no-do", "nope." + z, A, do=False)
    q("nsec-cname", "www." + z, A)
    q("nsec-cname-out-of-zone", "out." + z, A)
    q("nsec-big-tcp-size", "big." + z, TXT, udp=65535)
    q("nsec3-nsec3param", "nsec3.example.", NSEC3PARAM)
    q("nsec-rrsig", "nsec.example.", RRSIG)
    q("nsec-caa-nodata", "nsec.example.", CAA)
    q("mixed-case", "MtA-sTs.NsEc.ExAmPlE.", A)
    q("cd-no-rd", "nsec.example.", MX, cd=True, rd=False)
    q("big-no-edns", "big.nsec.example.", TXT, edns=False)
    q("small-udp-size", "nsec.example.", DNSKEY, udp=100)
    q("root", ".", NS)

    # Refused, not implemented, or a format error for the query itself.
    q("outside-zones", "example.org.", A)
    q("chaos-version-bind", "version.bind.", TXT, qclass=CH, edns=False)
    q("axfr", "nsec.example.", AXFR, edns=False)
    q("qtype-opt", "nsec.example.", OPT)
    q("qtype-tsig", "nsec.example.", TSIG)
    q("qtype-tkey", "nsec.example.", TKEY)
    soa = rr(b"\xc0\x0c", SOA, IN, 0, name("ns1.nsec3.example.") +
             name("hostmaster.nsec3.example.") + struct.pack("!IIIII", 2026010100, 1, 1, 1, 1))
    seeds["ixfr"] = header(next(n), ns=1) + question("nsec3.example.", IXFR) + soa
    seeds["notify"] = header(next(n), opcode=4, rd=False) + question("nsec.example.", SOA)
    seeds["update"] = (header(next(n), opcode=5, rd=False, ns=1) + question("nsec.example.", SOA) +
                       rr(name("new.nsec.example."), A, IN, 300, bytes([192, 0, 2, 7])))

    # EDNS: options, versions, misplaced and malformed OPT records.
    q("edns-nsid", "nsec.example.", MX, options=[(3, b"")])
    q("edns-cookie", "nsec.example.", MX, options=[(10, bytes(range(1, 9)))])
    q("edns-cookie-server", "nsec3.example.", MX, options=[(10, bytes(range(1, 25)))])
    q("edns-subnet-padding", "mx1.nsec.example.", A,
      options=[(8, bytes([0, 1, 24, 0, 192, 0, 2])), (12, bytes(16))])
    seeds["edns-version-1"] = (header(next(n), ar=1) + question("nsec.example.", A) +
                               opt(version=1, flags=DO))
    seeds["edns-option-overrun"] = (header(next(n), ar=1) + question("nsec.example.", A) +
                                    rr(b"\0", OPT, 1232, DO, struct.pack("!HH", 10, 40) + bytes(8)))
    seeds["edns-two-opt"] = (header(next(n), ar=2) + question("nsec.example.", A) + opt() + opt())
    seeds["edns-opt-not-root"] = (header(next(n), ar=1) + question("nsec.example.", A) +
                                  rr(b"\xc0\x0c", OPT, 1232, DO, b""))

    # TSIG at the end, alone and after an OPT; the key name compressed against the question.
    qid = next(n)
    seeds["tsig"] = (header(qid, ar=1) + question("mx1.nsec.example.", A) +
                     tsig(name("key.nsec.example."), qid))
    qid = next(n)
    seeds["edns-then-tsig-compressed"] = (header(qid, ar=2) + question("nsec.example.", SOA) +
                                          opt(flags=DO) + tsig(b"\x03key\xc0\x0c", qid))

    # Malformed requests.
    good = question("nsec.example.", A)
    seeds["short"] = header(next(n))[:7]
    seeds["header-only"] = header(next(n), qd=0)
    seeds["response"] = header(next(n), qr=True) + good
    seeds["two-questions"] = header(next(n), qd=2) + good + good
    seeds["question-truncated"] = header(next(n)) + good[:-3]
    seeds["question-compressed"] = header(next(n)) + b"\x03www\xc0\x0c" + struct.pack("!HH", A, IN)
    seeds["label-type-01"] = header(next(n)) + b"\x43abc\x00" + struct.pack("!HH", A, IN)
    seeds["name-too-long"] = (header(next(n)) + b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 +
                              b"\x3f" + b"c" * 63 + b"\x3f" + b"d" * 63 + b"\x04nsec\x07example\x00" +
                              struct.pack("!HH", A, IN))
    seeds["trailing-garbage"] = header(next(n)) + good + b"\xde\xad"
    seeds["answer-section"] = (header(next(n), an=1) + good +
                               rr(b"\xc0\x0c", A, IN, 60, bytes([192, 0, 2, 1])))
    loop = struct.pack("!H", 0xC000 | (12 + len(good)))  # a pointer to itself
    seeds["additional-pointer-loop"] = (header(next(n), ar=1) + good + loop +
                                        struct.pack("!HHIH", A, IN, 0, 0))
    return seeds


def write(target, seeds):
    directory = os.path.join(HERE, "corpus", target)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    for label, data in sorted(seeds.items()):
        with open(os.path.join(directory, label), "wb") as f:
            f.write(data)
    print(f"make_corpus: {len(seeds)} seeds in {os.path.relpath(directory)}", file=sys.stderr)


if __name__ == "__main__":
    write("fuzz_query", fuzz_query_seeds())

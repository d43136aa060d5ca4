#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets, one input per file: raw DNS requests; TLS reports for fuzz_tlsrpt and fuzz_report_mail; policy files and PEM for fuzz_policy_pem.

Run it again after changing it (python3 tests/fuzz/make_corpus.py); it replaces each target's
corpus directory whole, and the same script always writes the same bytes. The seeds ask for the
names of tests/fuzz/fuzz_zone.cpp (nsec.example. and nsec3.example.) so that fuzzing starts from
every kind of answer, and include the malformed requests the parser must refuse.
"""

import hashlib
import hmac
import os
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


# fuzz_request.cpp's set-up: its keys (name, algorithm, secret), the time it serves at (that of
# fuzz_zone.hpp's kSignTime) and the serials of nsec.example.'s versions (kZoneSerial + 0..2);
# nsec3.example. and bulk.example. are at kZoneSerial.
KEYS = {
    "xfr-key.": ("hmac-sha256", b"secret of xfr-key. for fuzzing"),
    "acme-key.": ("hmac-sha256", b"secret of acme-key. for fuzzing"),
    "sha1-key.": ("hmac-sha1", b"secret of sha1-key. for fuzzing"),
}
DIGESTS = {"hmac-sha256": hashlib.sha256, "hmac-sha1": hashlib.sha1}
NOW = 1_800_000_000
SERIAL = 2026010101
CLASS_NONE = 254


def signed(msg, key, alg=None, secret=None, time=NOW, fudge=300, original_id=None, error=0,
           other=b"", mac_size=None, corrupt=False, owner=None):
    """`msg` with a TSIG record appended, its MAC computed as RFC 8945 §4.3.3 says: the message
    as it is before the record, then the TSIG variables (key and algorithm names in canonical
    form, class ANY, TTL 0, time signed, fudge, error, other data)."""
    default_alg, default_secret = KEYS.get(key.lower(), ("hmac-sha256", b"a key moat lacks"))
    alg = alg or default_alg
    secret = default_secret if secret is None else secret
    original_id = struct.unpack("!H", msg[:2])[0] if original_id is None else original_id
    time48 = struct.pack("!HI", time >> 32, time & 0xFFFFFFFF)
    unsigned = struct.pack("!H", original_id) + msg[2:]
    variables = (name(key.lower()) + struct.pack("!HI", CLASS_ANY, 0) + name(alg + ".") + time48 +
                 struct.pack("!HHH", fudge, error, len(other)) + other)
    mac = hmac.new(secret, unsigned + variables, DIGESTS.get(alg, hashlib.sha256)).digest()
    if mac_size is not None:
        mac = mac[:mac_size]
    if corrupt:
        mac = bytes([mac[0] ^ 1]) + mac[1:]
    rdata = (name(alg + ".") + time48 + struct.pack("!HH", fudge, len(mac)) + mac +
             struct.pack("!HHH", original_id, error, len(other)) + other)
    arcount = struct.unpack("!H", msg[10:12])[0] + 1
    return (msg[:10] + struct.pack("!H", arcount) + msg[12:] +
            rr(owner if owner is not None else name(key), TSIG, CLASS_ANY, 0, rdata))


def soa_rr(owner_wire, serial):
    rdata = (name("ns1.nsec.example.") + name("hostmaster.nsec.example.") +
             struct.pack("!IIIII", serial, 14400, 3600, 1209600, 300))
    return rr(owner_wire, SOA, IN, 0, rdata)


def txt(*strings):
    return b"".join(bytes([len(s)]) + s.encode() for s in strings)


def fuzz_request_seeds():
    """Requests for serve_request(): signed queries, transfers and UPDATEs, the TSIG failures.
    The header ID also sets the time of fuzz_request.cpp's extra call: time signed + ID as a
    signed 16-bit number (so 0x3xxx is BADTIME there); bit 8 fills the transfer slots."""
    seeds = {}
    n = iter(range(0x3000, 0x4000))
    z, z3, bulk = "nsec.example.", "nsec3.example.", "bulk.example."

    def plain(qname, qtype, qid=None, edns=False, **kw):
        return query(next(n) if qid is None else qid, qname, qtype, edns=edns, **kw)

    def ixfr(serial, qid=None, zone=z):
        return (header(next(n) if qid is None else qid, ns=1, rd=False) + question(zone, IXFR) +
                soa_rr(b"\xc0\x0c", serial))

    def update(records, zone=z, prerequisites=()):
        body = b"".join(prerequisites) + b"".join(records)
        return (header(next(n), opcode=5, rd=False, an=len(prerequisites), ns=len(records)) +
                question(zone, SOA) + body)

    # Signed queries: answered by answer() and signed (the sha1 key; EDNS; no EDNS and too big
    # for UDP; a key name in upper case, canonical in the MAC; the ID changed on the way, as
    # a forwarder may: the MAC covers the original ID).
    seeds["soa-signed"] = signed(plain(z, SOA), "xfr-key.")
    seeds["soa-signed-sha1"] = signed(plain(z, SOA), "sha1-key.")
    seeds["soa-signed-edns"] = signed(plain(z, SOA, edns=True), "acme-key.")
    seeds["big-signed-udp"] = signed(plain("big." + z, TXT), "xfr-key.")
    seeds["nxdomain-signed-edns"] = signed(plain("nope." + z3, A, edns=True), "xfr-key.")
    seeds["soa-signed-key-upper-case"] = signed(plain(z, SOA), "xfr-key.", owner=name("XFR-KEY."))
    seeds["soa-signed-forwarded"] = signed(plain(z, SOA, qid=0x0042), "xfr-key.",
                                           original_id=0x4242)
    edns1 = header(next(n), ar=1) + question(z, SOA) + opt(version=1)
    seeds["badvers-signed"] = signed(edns1, "xfr-key.")

    # Transfers: AXFR signed (with each key), with EDNS, unsigned, of the NSEC3 zone, of a zone
    # not served; IXFR from each serial of the journal, the current one, one past it, and one
    # it does not reach. ID 0x0100: the extra call is within the fudge with the slots full.
    seeds["axfr-signed"] = signed(plain(z, AXFR), "xfr-key.")
    seeds["axfr-signed-busy"] = signed(plain(z, AXFR, qid=0x0100), "xfr-key.")
    seeds["axfr-signed-edns"] = signed(plain(z, AXFR, edns=True), "xfr-key.")
    seeds["axfr-signed-sha1"] = signed(plain(z, AXFR), "sha1-key.")
    seeds["axfr-unsigned"] = plain(z, AXFR)
    seeds["axfr-unsigned-busy"] = plain(z, AXFR, qid=0x3100)
    seeds["axfr-nsec3-signed"] = signed(plain(z3, AXFR), "xfr-key.")
    seeds["axfr-not-served-signed"] = signed(plain("example.org.", AXFR), "xfr-key.")
    for label, serial in (("first", SERIAL), ("second", SERIAL + 1), ("current", SERIAL + 2),
                          ("newer", SERIAL + 100), ("unknown", SERIAL - 1)):
        seeds[f"ixfr-signed-from-{label}"] = signed(ixfr(serial), "xfr-key.")
    seeds["ixfr-unsigned-from-first"] = ixfr(SERIAL)
    seeds["ixfr-nsec3-signed"] = signed(ixfr(SERIAL, zone=z3), "xfr-key.")
    # bulk.example. (300 names, no journal) takes two messages, the second signed with the
    # timers only (RFC 8945 §5.3.1).
    seeds["axfr-bulk-signed"] = signed(plain(bulk, AXFR), "xfr-key.")
    seeds["axfr-bulk-signed-sha1-edns"] = signed(plain(bulk, AXFR, edns=True), "sha1-key.")
    seeds["ixfr-bulk-unsigned"] = ixfr(SERIAL - 1, zone=bulk)

    # UPDATEs: what ACME needs, signed with acme-key.; then each refusal.
    at = "_acme-challenge." + z
    add = rr(name(at), TXT, IN, 60, txt("token-one"))
    seeds["update-add-txt"] = signed(update([add]), "acme-key.")
    seeds["update-add-txt-long-ttl"] = signed(
        update([rr(name("_acme-challenge.www." + z), TXT, IN, 86400, txt("token", "two"))]),
        "acme-key.")
    seeds["update-delete-txt"] = signed(update([rr(name(at), TXT, CLASS_ANY, 0, b"")]),
                                        "acme-key.")
    seeds["update-delete-one-txt"] = signed(update([rr(name(at), TXT, CLASS_NONE, 0,
                                                       txt("token-one"))]), "acme-key.")
    seeds["update-delete-all-and-add"] = signed(
        update([rr(b"\x0f_acme-challenge\xc0\x0c", ANY, CLASS_ANY, 0, b""), add]), "acme-key.")
    seeds["update-add-a"] = signed(update([rr(name("new." + z), A, IN, 300,
                                              bytes([192, 0, 2, 7]))]), "acme-key.")
    seeds["update-not-challenge-name"] = signed(update([rr(name("www." + z), TXT, IN, 60,
                                                           txt("x"))]), "acme-key.")
    seeds["update-outside-zone"] = signed(update([rr(name("_acme-challenge.example.org."), TXT,
                                                     IN, 60, txt("x"))]), "acme-key.")
    seeds["update-prerequisite"] = signed(
        update([add], prerequisites=[rr(name(at), TXT, CLASS_ANY, 0, b"")]), "acme-key.")
    seeds["update-bad-txt"] = signed(update([rr(name(at), TXT, IN, 60, b"\x05abc")]),
                                     "acme-key.")
    seeds["update-at-apex"] = signed(update([rr(b"\xc0\x0c", TXT, IN, 60, txt("x"))]),
                                     "acme-key.")
    seeds["update-too-many"] = signed(update([add] * 33), "acme-key.")
    seeds["update-store-fails"] = signed(update([rr(name(at), TXT, IN, 60, txt("fail"))]),
                                         "acme-key.")
    seeds["update-unsigned"] = update([add])
    seeds["update-signed-xfr-key"] = signed(update([add]), "xfr-key.")
    seeds["update-nsec3"] = signed(update([rr(name("_acme-challenge." + z3), TXT, IN, 60,
                                              txt("x"))], zone=z3), "acme-key.")
    seeds["update-not-served"] = signed(update([add], zone="example.org."), "acme-key.")

    # TSIG failures: a MAC that does not verify, an unknown key, a known key with another
    # algorithm, a MAC cut to 16 octets (BADTRUNC) and to 8 (FORMERR), a time past the fudge,
    # and a TSIG record that is not the last record (FORMERR from the parser).
    seeds["badsig"] = signed(plain(z, AXFR), "xfr-key.", corrupt=True)
    seeds["badsig-secret"] = signed(plain(z, SOA), "acme-key.", secret=b"not the secret")
    seeds["badkey"] = signed(plain(z, AXFR), "no-such-key.")
    seeds["badkey-algorithm"] = signed(plain(z, SOA), "xfr-key.", alg="hmac-sha1")
    # A long question, and key and algorithm names compressed against it: the BADKEY answer
    # repeats them whole (within the EDNS buffer here).
    long_name = ".".join(["a" * 62] * 4) + "."
    rdata = (b"\xc0\x0c" + struct.pack("!HI", 0, NOW) + struct.pack("!HH", 300, 0) +
             struct.pack("!HHH", 0x3000, 0, 0))
    q = query(next(n), long_name, SOA, edns=True)
    seeds["badkey-compressed-names-edns"] = (q[:10] + struct.pack("!H", 2) + q[12:] +
                                             rr(b"\xc0\x0c", TSIG, CLASS_ANY, 0, rdata))
    seeds["badtrunc"] = signed(plain(z, SOA), "xfr-key.", mac_size=16)
    seeds["mac-too-short"] = signed(plain(z, SOA), "xfr-key.", mac_size=8)
    seeds["badtime"] = signed(plain(z, AXFR), "xfr-key.", time=NOW - 1000)
    not_last = signed(header(next(n)) + question(z, SOA), "xfr-key.")
    seeds["tsig-not-last"] = not_last[:10] + struct.pack("!H", 2) + not_last[12:] + opt()
    return seeds


def fuzz_tlsrpt_seeds():
    """TLS reports (RFC 8460 §4): the RFC's example, each policy type, and broken ones."""
    import json
    example = {
        "organization-name": "Company-X",
        "date-range": {"start-datetime": "2016-04-01T00:00:00Z",
                       "end-datetime": "2016-04-01T23:59:59Z"},
        "contact-info": "sts-reporting@company-x.example",
        "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
        "policies": [{
            "policy": {"policy-type": "sts",
                       "policy-string": ["version: STSv1", "mode: testing",
                                         "mx: *.mail.company-y.example", "max_age: 86400"],
                       "policy-domain": "company-y.example",
                       "mx-host": ["*.mail.company-y.example"]},
            "summary": {"total-successful-session-count": 5326,
                        "total-failure-session-count": 303},
            "failure-details": [
                {"result-type": "certificate-expired", "sending-mta-ip": "2001:db8:abcd:0012::1",
                 "receiving-mx-hostname": "mx1.mail.company-y.example",
                 "failed-session-count": 100},
                {"result-type": "starttls-not-supported", "sending-mta-ip": "2001:db8:abcd:0013::1",
                 "receiving-mx-hostname": "mx2.mail.company-y.example",
                 "receiving-ip": "203.0.113.56", "failed-session-count": 200,
                 "additional-information": "https://reports.company-x.example/x"},
                {"result-type": "validation-failure", "sending-mta-ip": "198.51.100.62",
                 "receiving-ip": "203.0.113.58",
                 "receiving-mx-hostname": "mx-backup.mail.company-y.example",
                 "failed-session-count": 3,
                 "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"}]}]}
    seeds = {"rfc8460-example": json.dumps(example, indent=2).encode()}
    tlsa = json.loads(json.dumps(example))
    tlsa["policies"][0]["policy"] = {"policy-type": "tlsa", "policy-domain": "mail.example",
                                     "policy-string": ["3 1 1 0102030405060708"]}
    seeds["tlsa"] = json.dumps(tlsa).encode()
    none = json.loads(json.dumps(example))
    none["policies"][0]["policy"] = {"policy-type": "no-policy-found",
                                     "policy-domain": "example.net"}
    del none["policies"][0]["failure-details"]
    seeds["no-policy-found"] = json.dumps(none).encode()
    offsets = json.loads(json.dumps(example))
    offsets["date-range"] = {"start-datetime": "2016-04-01T02:00:00.5+02:00",
                             "end-datetime": "2016-04-01t23:59:60z"}
    seeds["date-offsets"] = json.dumps(offsets).encode()
    backwards = json.loads(json.dumps(example))
    backwards["date-range"]["end-datetime"] = "2016-03-01T00:00:00Z"
    seeds["date-range-backwards"] = json.dumps(backwards).encode()
    seeds["not-an-object"] = b"[1, 2, 3]"
    seeds["truncated"] = json.dumps(example).encode()[:300]
    seeds["deep"] = b"[" * 40 + b"]" * 40
    return seeds


def fuzz_report_mail_seeds():
    """Reports as they arrive: mail messages (base64 gzip, 7bit JSON, nested), gzip, JSON."""
    import base64
    import gzip
    report = fuzz_tlsrpt_seeds()["rfc8460-example"]
    packed = gzip.compress(report, mtime=0)
    b64 = base64.encodebytes(packed)
    seeds = {"json": report, "gzip": packed}
    seeds["mail-base64-gzip"] = (
        b"From: reporter@company-x.example\r\nTo: tlsrpt@company-y.example\r\n"
        b"Subject: Report Domain: company-y.example\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n\tboundary=\"b1\"\r\n\r\n"
        b"--b1\r\nContent-Type: text/plain\r\n\r\nA TLS report.\r\n"
        b"--b1\r\nContent-Type: application/tlsrpt+gzip; name=\"r.json.gz\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64.replace(b"\n", b"\r\n") +
        b"--b1--\r\n")
    seeds["mail-nested-json"] = (
        b"Content-Type: multipart/mixed; boundary=outer\n\n--outer\n"
        b"Content-Type: multipart/report; boundary=inner\n\n--inner\n"
        b"Content-Type: application/tlsrpt+json\nContent-Transfer-Encoding: 7bit\n\n" + report +
        b"\n--inner--\n--outer--\n")
    seeds["mail-no-report"] = b"Subject: hello\r\n\r\nno report here\r\n"
    seeds["bomb"] = gzip.compress(b"\0" * (5 << 20), mtime=0)
    return seeds


def fuzz_policy_pem_seeds():
    """Byte 0 even: an MTA-STS policy file; odd: a PEM chain and key (made with openssl)."""
    import subprocess
    import tempfile
    seeds = {
        "policy-enforce": b"\0version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\n"
                          b"mx: *.example.net\r\nmax_age: 604800\r\n",
        "policy-lf-unknown-key": b"\0version: STSv1\nmode: testing\nmx: mx.example.test\n"
                                 b"max_age: 86400\nextension: ignored\n",
        "policy-none": b"\0version: STSv1\r\nmode: none\r\nmax_age: 0\r\n",
        "policy-bad-version": b"\0version: STSv2\r\nmode: enforce\r\n",
    }
    with tempfile.TemporaryDirectory() as d:
        # A CA and a leaf valid for ten years from when this runs (the target checks at
        # 2027-01-15). Keys are new each run: these are the only seeds that differ per run.
        def run(*args):
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=seed-ca", "-days", "3650")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=mail.example.test")
        with open(os.path.join(d, "ext"), "w") as f:
            f.write("subjectAltName=DNS:mail.example.test,DNS:*.example.test\n")
        run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", "7", "-out", "leaf.pem", "-extfile", "ext", "-days", "3650")
        read = lambda n: open(os.path.join(d, n), "rb").read()
        seeds["pem-chain-and-key"] = b"\1" + read("leaf.pem") + read("ca.pem") + read("leaf.key")
        seeds["pem-leaf-only"] = b"\1" + read("leaf.pem") + read("leaf.key")
        seeds["pem-wrong-order"] = b"\1" + read("ca.pem") + read("leaf.pem") + read("leaf.key")
        seeds["pem-truncated"] = b"\1" + read("leaf.pem")[:200]
    return seeds


def write(target, seeds):
    directory = os.path.join(HERE, "corpus", target)
    # Inputs the fuzzer found (regression-*) are kept; every generated seed is rewritten.
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if not name.startswith("regression-"):
            os.remove(os.path.join(directory, name))
    for label, data in sorted(seeds.items()):
        with open(os.path.join(directory, label), "wb") as f:
            f.write(data)
    print(f"make_corpus: {len(seeds)} seeds in {os.path.relpath(directory)}", file=sys.stderr)


if __name__ == "__main__":
    write("fuzz_query", fuzz_query_seeds())
    write("fuzz_request", fuzz_request_seeds())
    write("fuzz_tlsrpt", fuzz_tlsrpt_seeds())
    write("fuzz_report_mail", fuzz_report_mail_seeds())
    write("fuzz_policy_pem", fuzz_policy_pem_seeds())

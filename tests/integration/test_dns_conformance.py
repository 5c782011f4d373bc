"""DNS conformance: meshkv against Knot DNS serving the same zone.

One zone file (dns_conformance/example.test.zone) is loaded by Knot (started
here on a free loopback port with its own config and temp dirs) and imported
into a fresh meshkv node with `meshkv zone import`. A deterministic list of a
few hundred queries (generate_cases below) is sent to both, byte for byte the
same, over UDP and TCP, and the responses are compared field by field:

- "no response" (dropped) vs a response;
- id, opcode, rcode (extended rcode included), flags QR AA TC RD RA AD CD Z;
- the question (names compared exactly: case included);
- answer, authority and additional as multisets of RRs: owner (exact case),
  class, type, TTL, rdata in presentation form (names in exact case);
- EDNS: present or not, version, payload size, DO, options.

Knot is the reference. A difference passes only when an entry of ALLOWED (the
explicit allow-list below, each with its reason; also in docs/dns.md
"Conformance") accounts for it; anything else fails that query's test with a
readable diff (query, Knot's answer, meshkv's answer).

Run:  /usr/bin/python3 -m pytest tests/integration/test_dns_conformance.py -q -s
(-s prints the summary; the full report, every query with its verdict and
diff, is written to $MESHKV_DNS_CONFORMANCE_REPORT, default
$TMPDIR/meshkv-dns-conformance.txt). Needs knotd (Debian package `knot`);
the module is skipped with the reason when it is missing.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

dns = pytest.importorskip("dns", reason="dnspython missing (Debian package python3-dnspython)")
import dns.edns  # noqa: E402
import dns.exception  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.opcode  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.zone  # noqa: E402

import harness  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE / "dns_conformance"
ZONE_FILE = DATA / "example.test.zone"
ORIGIN = "example.test."
REPORT = os.environ.get("MESHKV_DNS_CONFORMANCE_REPORT") or os.path.join(
    tempfile.gettempdir(), "meshkv-dns-conformance.txt")

UDP_TIMEOUT = 2.0        # a query that normally gets an answer
DROP_TIMEOUT = 1.0       # a query one of the servers may drop (malformed, QR=1, ...)


def _find_knotd() -> str | None:
    """$MESHKV_KNOTD (a knotd binary to compare with), else knotd on PATH or in sbin."""
    if os.environ.get("MESHKV_KNOTD"):
        p = os.environ["MESHKV_KNOTD"]
        return p if os.access(p, os.X_OK) else None
    return shutil.which("knotd") or shutil.which("knotd", path="/usr/sbin:/usr/local/sbin:/sbin")


KNOTD = _find_knotd()

pytestmark = pytest.mark.skipif(
    KNOTD is None,
    reason="knotd not installed (or $MESHKV_KNOTD not executable): the conformance reference is "
           "Knot DNS (Debian: apt-get install -y knot)")


# ==========================================================================
# query cases


@dataclass
class Case:
    id: str
    wire: bytes
    transport: str = "udp"          # "udp" | "tcp"
    group: str = ""
    timeout: float = UDP_TIMEOUT
    text: str = ""                  # human-readable query


def _query(name, rdtype, rdclass="IN", *, edns=1232, do=False, rd=True, cd=False, ad=False,
           z=False, options=None, edns_version=0, opcode=None, qid=0):
    """Query wire. edns=None: no OPT; else the advertised UDP payload size."""
    m = dns.message.make_query(
        dns.name.from_text(name) if isinstance(name, str) else name,
        dns.rdatatype.from_text(rdtype) if isinstance(rdtype, str) else rdtype,
        dns.rdataclass.from_text(rdclass) if isinstance(rdclass, str) else rdclass,
        use_edns=False, want_dnssec=False)
    if edns is not None:
        m.use_edns(edns_version, dns.flags.DO if do else 0, edns, options=options)
    m.id = qid
    flags = 0
    if rd:
        flags |= dns.flags.RD
    if cd:
        flags |= dns.flags.CD
    if ad:
        flags |= dns.flags.AD
    m.flags = flags
    if opcode is not None:
        m.set_opcode(opcode)
    wire = bytearray(m.to_wire())
    if z:
        wire[3] |= 0x40
    return bytes(wire)


def _case_id(parts) -> str:
    s = "-".join(str(p) for p in parts if p not in (None, ""))
    return re.sub(r"[^A-Za-z0-9_.*@-]", "_", s)


def _mixcase(name: str, rng: random.Random) -> str:
    """0x20 encoding: random case on every letter (seeded)."""
    return "".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c.lower() for c in name)


def _zone_rrsets():
    """(owner text as written, rdtype text) of every RRset in the zone file."""
    z = dns.zone.from_file(str(ZONE_FILE), origin=ORIGIN, relativize=False, check_origin=True)
    out = []
    for name, node in z.nodes.items():
        for rds in node.rdatasets:
            out.append((name.to_text(), dns.rdatatype.to_text(rds.rdtype)))
    return sorted(out)


def _raw_header(qid, flags, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def _raw_name(name: str) -> bytes:
    return dns.name.from_text(name).to_wire()


def _raw_question(name="www.example.test.", qtype=1, qclass=1):
    return _raw_name(name) + struct.pack("!HH", qtype, qclass)


def _opt(payload=1232, ext_rcode=0, version=0, flags=0, rdata=b"", owner=b"\x00"):
    return owner + struct.pack("!HHBBHH", 41, payload, ext_rcode, version, flags, len(rdata)) + rdata


def _malformed_cases():
    """(name, wire, note): messages a well-behaved client does not send."""
    rd = 0x0100
    q = _raw_question()
    a_rr = _raw_name("www.example.test.") + struct.pack("!HHIH", 1, 1, 300, 4) + bytes([192, 0, 2, 1])
    return [
        ("short-11-octets", _raw_header(1, rd)[:11], "11 octets: shorter than a header"),
        ("header-only-qd0", _raw_header(2, rd, qd=0), "QDCOUNT=0, nothing else"),
        ("qd2", _raw_header(3, rd, qd=2) + q + _raw_question("mail.example.test."), "two questions"),
        ("qd1-missing", _raw_header(4, rd), "QDCOUNT=1 but no question"),
        ("truncated-label", _raw_header(5, rd) + b"\x0awww", "label length 10, 3 octets follow"),
        ("truncated-qtype", _raw_header(6, rd) + _raw_name("www.example.test.") + b"\x00",
         "question cut inside QTYPE"),
        ("no-qclass", _raw_header(7, rd) + _raw_name("www.example.test.") + b"\x00\x01",
         "question without QCLASS"),
        ("label-type-0x40", _raw_header(8, rd) + b"\x41" + b"a" * 1 + b"\x00\x00\x01\x00\x01",
         "extended label type 0x40 (RFC 6891 obsoleted)"),
        ("label-type-0x80", _raw_header(9, rd) + b"\x81a\x00\x00\x01\x00\x01", "reserved label type 0x80"),
        ("pointer-loop", _raw_header(10, rd) + b"\xc0\x0c\x00\x01\x00\x01", "qname is a pointer to itself"),
        ("pointer-forward", _raw_header(11, rd) + b"\xc0\x20\x00\x01\x00\x01" + b"\x00" * 20,
         "qname pointer forward into garbage"),
        ("name-too-long", _raw_header(12, rd) + b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) +
         b"\x00\x00\x01\x00\x01", "qname of 257 octets"),
        ("trailing-garbage", _raw_header(13, rd) + q + b"\xde\xad\xbe\xef", "4 octets after the question"),
        ("arcount1-missing", _raw_header(14, rd, ar=1) + q, "ARCOUNT=1, no record"),
        ("two-opt", _raw_header(15, rd, ar=2) + q + _opt() + _opt(), "two OPT records"),
        ("opt-nonroot-owner", _raw_header(16, rd, ar=1) + q + _opt(owner=_raw_name("www.example.test.")),
         "OPT owner is not the root"),
        ("opt-option-overrun", _raw_header(17, rd, ar=1) + q + _opt(rdata=b"\x00\x0a\x00\x10abc"),
         "EDNS option length beyond RDLENGTH"),
        ("opt-in-answer", _raw_header(18, rd, an=1) + q + _opt(), "OPT in the answer section"),
        ("answer-in-query", _raw_header(19, rd, an=1) + q + a_rr, "a query with an answer record"),
        ("qr-set", _raw_header(20, 0x8000 | rd) + q, "QR=1: a response, not a query"),
        ("tc-set", _raw_header(21, 0x0200 | rd) + q, "TC=1 in a query"),
        ("opt-rdlen-overrun", _raw_header(22, rd, ar=1) + q + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x20",
         "OPT RDLENGTH 32, no RDATA"),
        ("all-counts-ffff", struct.pack("!HHHHHH", 23, rd, 0xffff, 0xffff, 0xffff, 0xffff) + q,
         "every count 65535"),
    ]


def generate_cases() -> list[Case]:
    """The deterministic query list (the same on every run)."""
    rng = random.Random(20240601)
    cases: list[Case] = []
    seen: set[str] = set()

    def add(group, name, rdtype, rdclass="IN", transport="udp", timeout=UDP_TIMEOUT, tag="", **kw):
        edns = kw.get("edns", 1232)
        eds = "noedns" if edns is None else f"edns{edns}"
        cid = _case_id([group, transport, name.rstrip(".") or ".", str(rdtype), rdclass if rdclass != "IN" else "",
                        eds, tag])
        base, n = cid, 2
        while cid in seen:
            cid, n = f"{base}-{n}", n + 1
        seen.add(cid)
        qid = zlib.crc32(cid.encode()) & 0xFFFF
        wire = _query(name, rdtype, rdclass, qid=qid, **kw)
        text = f"{name} {rdclass} {rdtype} over {transport}, {eds}" + (f", {tag}" if tag else "")
        cases.append(Case(cid, wire, transport, group, timeout, text))

    def add_raw(group, tag, wire, transport="udp", note=""):
        cid = _case_id([group, transport, tag])
        assert cid not in seen
        seen.add(cid)
        cases.append(Case(cid, wire, transport, group, DROP_TIMEOUT, f"raw {tag}: {note} ({wire.hex()})"))

    rrsets = _zone_rrsets()
    names = sorted({n for n, _ in rrsets})
    types_at = {}
    for n, t in rrsets:
        types_at.setdefault(n, set()).add(t)
    probe_types = ["A", "AAAA", "TXT", "MX", "NS", "SOA", "SRV", "PTR", "CAA", "CNAME"]

    # 1. every RRset of the zone, by its own type
    for n, t in rrsets:
        add("exist", n, t)
    # 2. NODATA: each name with a type it does not have
    for i, n in enumerate(names):
        absent = [t for t in probe_types if t not in types_at[n]]
        add("nodata", n, absent[i % len(absent)])
        if "CNAME" not in types_at[n]:
            add("nodata", n, "HINFO")
    # 3. NXDOMAIN
    for n in ["nx.example.test.", "ww.example.test.", "www1.example.test.", "x.www.example.test.",
              "a.b.c.d.e.example.test.", "zz.ent.example.test.", "a.a.b.ent.example.test.",
              "_foo._tcp.example.test.", "_sip._udp.example.test.", "nothere.example.test.",
              "3.ptr.example.test.", "*.example.test.", "\\*.www.example.test.", "sp\\032ace.example.test.",
              "bin\\000ary.example.test.", "dot\\.ted.example.test.", "xn--caf-dma.example.test.",
              "-.example.test.", "mixedcase.mixedcase.example.test.",
              ".".join(["l" * 60] * 3) + "." + "l" * 50 + ".example.test."]:
        add("nxdomain", n, "A")
    for n in ["nx.example.test.", "deep.nx.example.test."]:
        for t in ["AAAA", "TXT", "MX", "SOA", "NS", "ANY", "CNAME"]:
            add("nxdomain", n, t)
    # 4. CNAME chains (inside the zone, out of it, dangling, loops, to ENT / apex / delegation)
    cnames = [n for n, t in rrsets if t == "CNAME"]
    for n in cnames:
        for t in ["A", "AAAA", "TXT", "MX", "CNAME", "SOA"]:
            add("cname", n, t)
    # 5. empty non-terminals and names under them
    for n in ["ent.example.test.", "b.ent.example.test.", "Sub2.example.test.", "sub2.example.test.",
              "ptr.example.test.", "_tcp.example.test.", "_udp.example.test."]:
        for t in ["A", "TXT", "ANY", "NS", "SOA", "DS"]:
            add("ent", n, t)
    for n in ["a.b.ent.example.test.", "c.ent.example.test.", "UPPER.Sub2.example.test.",
              "upper.sub2.example.test.", "x.b.ent.example.test."]:
        add("ent", n, "A")
        add("ent", n, "AAAA")
    # 6. zone cut: referrals, DS at the cut, glue names
    for n in ["child.example.test.", "ns1.child.example.test.", "x.y.child.example.test.",
              "child2.example.test.", "deep.child2.example.test.", "host.child.example.test."]:
        for t in ["A", "NS", "DS", "ANY", "SOA", "TXT"]:
            add("delegation", n, t)
    # 7. mixed case (0x20) of existing, absent and CNAME names
    mixed_pool = rrsets[:] + [(n, "A") for n in ["nx.example.test.", "ent.example.test.",
                                                 "x.child.example.test.", "alias3.example.test.",
                                                 "casealias.example.test.", "dangling.example.test."]]
    for n, t in mixed_pool:
        add("case", _mixcase(n, rng), t, tag="0x20")
    for n in ["EXAMPLE.TEST.", "Example.Test.", "eXaMpLe.TeSt."]:
        for t in ["SOA", "NS", "MX", "TXT", "CAA", "A", "AAAA"]:
            add("case", n, t)
    # 8. ANY (RFC 8482 minimal), UDP and TCP
    for n in ["example.test.", "www.example.test.", "mail.example.test.", "txt.example.test.",
              "alias.example.test.", "ext.example.test.", "_sip._tcp.example.test.", "1.ptr.example.test.",
              "multi.example.test.", "bigtxt.example.test.", "MixedCase.example.test."]:
        add("any", n, "ANY")
        add("any", n, "ANY", transport="tcp")
    # 9. EDNS sizes and flags
    for n, t in [("example.test.", "NS"), ("example.test.", "MX"), ("_sip._tcp.example.test.", "SRV"),
                 ("www.example.test.", "A"), ("medtxt.example.test.", "TXT"), ("bigtxt.example.test.", "TXT"),
                 ("nx.example.test.", "A"), ("txt-long.example.test.", "TXT"), ("alias3.example.test.", "A"),
                 ("child.example.test.", "A")]:
        for edns in [None, 100, 512, 1232, 1400, 4096, 65535]:
            add("edns", n, t, edns=edns)
        add("edns", n, t, edns=4096, do=True, tag="do")
        add("edns", n, t, edns=None, rd=False, tag="nord")
    # 10. large answers: TC over UDP, full over TCP
    for n in ["bigtxt.example.test.", "medtxt.example.test.", "BigTxt.Example.Test."]:
        for edns in [None, 512, 1232, 4096]:
            add("trunc", n, "TXT", edns=edns)
            add("trunc", n, "TXT", transport="tcp", edns=edns)
        add("trunc", n, "ANY", edns=None)
    # 11. not ours: REFUSED
    for n in ["outside.test.", "www.outside.test.", "test.", ".", "example.com.", "example.testx.",
              "xexample.test.", "test.example.", "localhost."]:
        add("refused", n, "A")
        add("refused", n, "SOA", edns=None)
    add("refused", "www.outside.test.", "A", transport="tcp")
    # 12. classes other than IN
    for cls in ["CH", "HS", "NONE", "ANY", "CLASS2", "CLASS1000"]:
        add("class", "www.example.test.", "A", cls)
        add("class", "example.test.", "SOA", cls, edns=None)
    for n in ["version.bind.", "id.server.", "hostname.bind.", "version.server."]:
        add("class", n, "TXT", "CH")
    # 13. header flags and opcodes
    for n, t in [("www.example.test.", "A"), ("nx.example.test.", "A"), ("outside.test.", "A")]:
        add("flags", n, t, rd=False, tag="nord")
        add("flags", n, t, cd=True, tag="cd")
        add("flags", n, t, ad=True, tag="ad")
        add("flags", n, t, do=True, ad=True, cd=True, tag="do-ad-cd")
        add("flags", n, t, z=True, tag="z")
    for op in [1, 2, 3, 4, 5, 6, 15]:
        add("opcode", "example.test.", "SOA", opcode=op, tag=f"opcode{op}", timeout=DROP_TIMEOUT)
    # 14. special and meta types
    for t in ["TYPE0", "OPT", "AXFR", "IXFR", "MAILA", "MAILB", "RRSIG", "DNSKEY", "NSEC", "NSEC3PARAM",
              "DS", "TYPE65535", "TYPE1234", "TLSA", "SVCB", "HTTPS", "NULL", "TKEY", "TSIG"]:
        add("types", "example.test.", t, timeout=DROP_TIMEOUT)
    for t in ["RRSIG", "NSEC", "TYPE1234", "DS"]:
        add("types", "www.example.test.", t)
    add("types", "example.test.", "AXFR", transport="tcp", tag="not-allowed")
    add("types", "www.example.test.", "AXFR", transport="tcp", tag="not-apex")
    add("types", "example.test.", "IXFR", transport="tcp", tag="no-soa")
    # 15. EDNS options and versions
    ed = dns.edns
    for tag, opts, ver in [
        ("badvers1", None, 1), ("badvers255", None, 255),
        ("nsid", [ed.GenericOption(ed.NSID, b"")], 0),
        ("cookie-client", [ed.GenericOption(ed.COOKIE, bytes.fromhex("0102030405060708"))], 0),
        ("cookie-bad-len", [ed.GenericOption(ed.COOKIE, b"\x01\x02\x03")], 0),
        ("ecs", [ed.ECSOption("192.0.2.0", 24)], 0),
        ("padding", [ed.GenericOption(ed.PADDING, b"\x00" * 16)], 0),
        ("unknown-option", [ed.GenericOption(65001, b"hello")], 0),
        ("keepalive", [ed.GenericOption(ed.KEEPALIVE, b"")], 0),
    ]:
        for n, t in [("www.example.test.", "A"), ("nx.example.test.", "A"), ("outside.test.", "A")]:
            add("ednsopt", n, t, options=opts, edns_version=ver, tag=tag)
        if tag in ("badvers1", "keepalive", "nsid"):
            add("ednsopt", "www.example.test.", "A", transport="tcp", options=opts, edns_version=ver, tag=tag)
    # 16. TCP repeats of a sample of the above
    sample = [c for c in cases if c.transport == "udp" and c.group in ("exist", "nodata", "nxdomain", "cname",
                                                                       "ent", "delegation", "case")]
    for c in sample[::5]:
        cid = c.id.replace("-udp-", "-tcp-", 1)
        if cid not in seen:
            seen.add(cid)
            cases.append(Case(cid, c.wire, "tcp", c.group, c.timeout, c.text.replace("over udp", "over tcp")))
    # 17. malformed messages
    for tag, wire, note in _malformed_cases():
        add_raw("malformed", tag, wire, note=note)
    for tag, wire, note in _malformed_cases():
        if tag in ("qd2", "truncated-label", "pointer-loop", "trailing-garbage", "header-only-qd0", "two-opt"):
            add_raw("malformed", tag, wire, transport="tcp", note=note)
    return cases


CASES = generate_cases()


# ==========================================================================
# transports


def exchange(port: int, case: Case) -> list[bytes] | str:
    """Sends the case's bytes; returns the response messages, or a string
    saying why there are none ("no response", "connection closed", ...)."""
    if case.transport == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(case.timeout)
            s.connect(("127.0.0.1", port))
            s.send(case.wire)
            try:
                return [s.recv(65535)]
            except socket.timeout:
                return "no response"
            except ConnectionRefusedError:
                return "ICMP port unreachable"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(case.timeout if case.timeout != UDP_TIMEOUT else 5.0)
        s.sendall(struct.pack("!H", len(case.wire)) + case.wire)
        msgs, buf = [], b""
        try:
            while True:
                while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                    chunk = s.recv(65535)
                    if not chunk:
                        if msgs:
                            return msgs
                        return "connection closed" + (f" after {len(buf)} octets" if buf else "")
                    buf += chunk
                n = struct.unpack("!H", buf[:2])[0]
                msgs.append(buf[2:2 + n])
                buf = buf[2 + n:]
                # a zone transfer goes on until the closing SOA; anything else is one message
                if not _is_axfr_in_progress(case, msgs):
                    return msgs
        except socket.timeout:
            return msgs if msgs else "no response"
        except ConnectionResetError:
            return msgs if msgs else "connection reset"


def _exchange_retry(port: int, case: Case):
    """exchange(), retried twice when a query that is always answered gets
    no answer (a UDP datagram lost on a loaded machine is not a difference)."""
    out = exchange(port, case)
    for _ in range(2):
        if out != "no response" or case.timeout != UDP_TIMEOUT:
            break
        out = exchange(port, case)
    return out


def _is_axfr_in_progress(case: Case, msgs: list[bytes]) -> bool:
    try:
        q = dns.message.from_wire(case.wire)
        if q.question[0].rdtype not in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
            return False
        r = dns.message.from_wire(msgs[-1], one_rr_per_rrset=True)
        if r.rcode() != dns.rcode.NOERROR:
            return False
        soas = sum(1 for m in msgs for rr in dns.message.from_wire(m, one_rr_per_rrset=True).answer
                   if rr.rdtype == dns.rdatatype.SOA)
        return soas < 2 and len(msgs) < 100
    except Exception:
        return False


# ==========================================================================
# describing and comparing responses

FLAG_NAMES = [("QR", 0x8000), ("AA", 0x0400), ("TC", 0x0200), ("RD", 0x0100), ("RA", 0x0080),
              ("Z", 0x0040), ("AD", 0x0020), ("CD", 0x0010)]


def _rr_text(rrset) -> str:
    rd = rrset[0]
    return (f"{rrset.name.to_text()} {rrset.ttl} {dns.rdataclass.to_text(rrset.rdclass)} "
            f"{dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text(relativize=False)}")


def describe_message(raw: bytes) -> dict:
    d: dict = {}
    if len(raw) < 12:
        return {"response": f"short message ({len(raw)} octets): {raw.hex()}"}
    qid, flags = struct.unpack("!HH", raw[:4])
    d["id"] = qid
    d["opcode"] = dns.opcode.to_text((flags >> 11) & 0xF)
    d["flags"] = " ".join(n for n, bit in FLAG_NAMES if flags & bit) or "-"
    try:
        m = dns.message.from_wire(raw, one_rr_per_rrset=True, question_only=False)
    except Exception as e:  # noqa: BLE001 - any parse error is part of the description
        d["rcode"] = dns.rcode.to_text(flags & 0xF)
        d["parse"] = f"unparseable ({type(e).__name__}: {e}): {raw.hex()}"
        return d
    d["rcode"] = dns.rcode.to_text(m.rcode())
    d["question"] = [f"{q.name.to_text()} {dns.rdataclass.to_text(q.rdclass)} {dns.rdatatype.to_text(q.rdtype)}"
                     for q in m.question]
    for sec, rrsets in (("answer", m.answer), ("authority", m.authority), ("additional", m.additional)):
        d[sec] = sorted(_rr_text(r) for r in rrsets)
    if m.edns < 0:
        d["edns"] = "none"
    else:
        d["edns"] = (f"version={m.edns} payload={m.payload} "
                     f"do={1 if m.ednsflags & dns.flags.DO else 0} flags={m.ednsflags & 0x7FFF:#x}")
        opts = []
        for o in m.options:
            try:
                txt = o.to_text()
            except Exception:  # noqa: BLE001
                txt = ""
            opts.append(f"{o.otype}:{o.to_wire().hex()}" + (f" ({txt})" if txt else ""))
        d["edns_options"] = opts
    return d


def describe(outcome) -> dict:
    if isinstance(outcome, str):
        return {"response": outcome}
    if len(outcome) == 1:
        return describe_message(outcome[0])
    # several TCP messages (zone transfer): describe each, merge the RR lists
    parts = [describe_message(m) for m in outcome]
    d = dict(parts[0])
    d["messages"] = len(parts)
    for sec in ("answer", "authority", "additional"):
        d[sec] = sorted(x for p in parts for x in p.get(sec, []))
    return d


def diff_keys(a: dict, b: dict) -> list[str]:
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def render(d: dict, indent="    ") -> str:
    lines = []
    for k in ("response", "id", "opcode", "rcode", "flags", "question", "edns", "edns_options", "parse", "messages",
              "answer", "authority", "additional"):
        if k not in d:
            continue
        v = d[k]
        if isinstance(v, list):
            lines.append(f"{indent}{k}:" + ("" if v else " (empty)"))
            lines.extend(f"{indent}  {x}" for x in v)
        else:
            lines.append(f"{indent}{k}: {v}")
    return "\n".join(lines)


def render_diff(case: Case, k: dict, m: dict, keys: list[str]) -> str:
    out = [f"query {case.id}: {case.text}", f"  query wire: {case.wire.hex()}",
           f"  differing: {', '.join(keys)}"]
    for key in keys:
        kv, mv = k.get(key), m.get(key)
        if isinstance(kv, list) or isinstance(mv, list):
            kv, mv = kv or [], mv or []
            only_k = [x for x in kv if x not in mv]
            only_m = [x for x in mv if x not in kv]
            out.append(f"  {key}: only in knot: {only_k or '-'}")
            out.append(f"  {key}: only in meshkv: {only_m or '-'}")
        else:
            out.append(f"  {key}: knot={kv!r} meshkv={mv!r}")
    out += ["  knot answer:", render(k), "  meshkv answer:", render(m)]
    return "\n".join(out)


# ==========================================================================
# the allow-list of intentional differences


_NAME_IN_RDATA = {"CNAME", "NS", "PTR", "MX", "SRV", "SOA", "DNAME"}


def _fold_rr(rr: str, qname: str, keep_qname_owner: bool) -> str:
    """Lower-cases the names of one RR text line: the owner (except, in the
    answer section, an owner equal to the query name: its case must always be
    the query's) and the names in the rdata of the types that carry names."""
    owner, ttl, cls, rtype, *rdata = rr.split(" ")
    if not (keep_qname_owner and owner.lower() == qname.lower()):
        owner = owner.lower()
    if rtype in _NAME_IN_RDATA:
        rdata = [x.lower() if ("." in x and not x.isdigit()) else x for x in rdata]
    return " ".join([owner, ttl, cls, rtype, *rdata])


def _fold_case(case: Case, d: dict) -> dict:
    if not d.get("question"):
        return d
    qname = d["question"][0].split(" ")[0]
    out = dict(d)
    for sec in ("answer", "authority", "additional"):
        if sec in out:
            out[sec] = sorted(_fold_rr(rr, qname, sec == "answer") for rr in out[sec])
    return out


def _ttlmix(case: Case, d: dict) -> dict:
    out = dict(d)
    for sec in ("answer", "authority", "additional"):
        if sec in out:
            out[sec] = sorted(re.sub(r"^(ttlmix\.example\.test\. )\d+ ", r"\1<ttl> ", rr, flags=re.I)
                              for rr in out[sec])
    return out


@dataclass
class Allowance:
    name: str
    reason: str
    applies: object                  # (case) -> bool
    normalize: object                # (case, knot description, meshkv description) -> (knot', meshkv')


def _both(f):
    """A normalizer applied to each side alone."""
    return lambda c, k, m: (f(c, k), f(c, m))


def _token_if(knot_pred, meshkv_pred, token):
    """Both sides replaced by `token` when Knot's answer matches knot_pred
    and meshkv's matches meshkv_pred (a difference of exactly that shape)."""
    def normalize(c, k, m):
        if knot_pred(k) and meshkv_pred(m):
            return {"response": token}, {"response": token}
        return k, m
    return normalize


def _dropped(d):
    return d.get("response") in ("no response", "connection closed")


def _formerr_only(d):
    return d.get("rcode") == "FORMERR" and not d.get("answer") and not d.get("authority")


def _without_nsid(c, k, m):
    if k.get("edns_options"):
        k = dict(k)
        k["edns_options"] = [o for o in k["edns_options"] if not o.startswith("3:")]
    return k, m


ALLOWED: list[Allowance] = [
    Allowance(
        "name-case-from-zone-data",
        "Knot lower-cases every name of a zone when it loads it and then compresses names against the "
        "question, so the case of names in its answers (SOA MNAME/RNAME, CNAME/MX/NS/SRV/PTR targets, "
        "owners other than the query name) depends on how the client spelled the query. meshkv keeps the "
        "case the records were written with (RFC 4343 2.1 / 4.1: case-insensitive comparison, case "
        "preserved). Only the case differs; the query name itself must always come back exactly as asked.",
        lambda c: True,
        _both(_fold_case)),
    Allowance(
        "ttl-mismatch-in-rrset",
        "ttlmix.example.test has two A records with TTL 100 and 200 in the zone file. Knot keeps one TTL "
        "for the RRset (200 here; its loader logs 'TTL mismatch ... TTL set to 200'); meshkv stores each "
        "value with its own TTL and serves the RRset with the smallest (100), as RFC 2181 5.2 tells a "
        "receiver of such an RRset to do.",
        lambda c: "ttlmix" in c.id.lower(),
        _both(_ttlmix)),
    Allowance(
        "formerr-instead-of-drop",
        "A message whose question cannot be parsed (QDCOUNT 0 or 2, a cut or looping name, a bad label type, "
        "a name over 255 octets): Knot drops it silently; meshkv answers FORMERR with the id echoed "
        "(RFC 1035 4.1.1; DESIGN.md: FORMERR on garbage), which spares the client a timeout.",
        lambda c: c.group == "malformed",
        _token_if(_dropped, _formerr_only, "knot drops / meshkv FORMERR")),
    Allowance(
        "chaos-identity",
        "CH TXT version.bind / version.server: Knot reveals its version; meshkv does not answer server "
        "identity queries and refuses CH class (REFUSED).",
        lambda c: c.group == "class" and any(x in c.id for x in ("version.bind", "version.server",
                                                                  "id.server", "hostname.bind")),
        _token_if(lambda k: k.get("rcode") == "NOERROR" and bool(k.get("answer")),
                  lambda m: m.get("rcode") == "REFUSED" and not m.get("answer"),
                  "knot answers CH TXT / meshkv REFUSED")),
    Allowance(
        "nsid-not-echoed",
        "NSID (RFC 5001) requested: Knot, with no nsid configured, answers with its host name as the NSID; "
        "meshkv sends no NSID option, which RFC 5001 allows (a server that does not want to identify "
        "itself leaves the option out).",
        lambda c: "nsid" in c.id,
        _without_nsid),
]


@dataclass
class Verdict:
    case: Case
    knot: dict
    meshkv: dict
    kind: str                         # identical | allowed | different
    allowances: list = field(default_factory=list)
    diff: str = ""


def judge(case: Case, k: dict, m: dict) -> Verdict:
    keys = diff_keys(k, m)
    if not keys:
        return Verdict(case, k, m, "identical")
    nk, nm, used = k, m, []
    for a in ALLOWED:
        if not a.applies(case):
            continue
        ak, am = a.normalize(case, nk, nm)
        if (diff_keys(ak, am), _section_distance(ak, am)) != (diff_keys(nk, nm), _section_distance(nk, nm)):
            used.append(a.name)
        nk, nm = ak, am
    if not diff_keys(nk, nm):
        return Verdict(case, k, m, "allowed", used)
    return Verdict(case, k, m, "different", [], render_diff(case, k, m, keys))


def _section_distance(a: dict, b: dict) -> int:
    n = 0
    for sec in ("answer", "authority", "additional"):
        x, y = a.get(sec) or [], b.get(sec) or []
        n += len([r for r in x if r not in y]) + len([r for r in y if r not in x])
    return n


# ==========================================================================
# servers


def _soa_serial(port: int) -> int | None:
    q = dns.message.make_query(ORIGIN, "SOA")
    try:
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
    except (dns.exception.Timeout, OSError):
        return None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


def _zone_serial() -> int:
    z = dns.zone.from_file(str(ZONE_FILE), origin=ORIGIN, relativize=False)
    return z.find_rdataset(ORIGIN, "SOA")[0].serial


class Knot:
    """knotd on a free loopback port, its own config, rundir and storage."""

    def __init__(self):
        self.dir = harness.make_tmpdir("meshkv-it-knot-")
        self.proc: subprocess.Popen | None = None
        self.port = None

    def config(self) -> str:
        return f"""server:
    rundir: "{self.dir}"
    listen: 127.0.0.1@{self.port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: notice
database:
    storage: "{self.dir}/db"
template:
  - id: default
    storage: "{self.dir}"
    journal-content: none
    zonefile-sync: -1
    zonefile-load: whole
zone:
  - domain: {ORIGIN}
    file: "{self.dir}/example.test.zone"
"""

    def start(self):
        shutil.copy(ZONE_FILE, os.path.join(self.dir, "example.test.zone"))
        os.makedirs(os.path.join(self.dir, "db"), exist_ok=True)
        want = _zone_serial()
        for attempt in range(3):
            self.port = harness.free_dns_port()
            conf = os.path.join(self.dir, "knot.conf")
            Path(conf).write_text(self.config())
            self.log_path = os.path.join(self.dir, f"knotd.{attempt}.log")
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen([KNOTD, "-c", conf], stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
            harness._LIVE.append(self.proc)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if _soa_serial(self.port) == want:
                    return self
                time.sleep(0.05)
            log_text = self.log()
            harness.stop_process(self.proc)
            if "address already in use" not in log_text.lower():
                raise RuntimeError(f"knotd did not serve {ORIGIN} serial {want} within 15 s:\n{log_text[-3000:]}")
        raise RuntimeError("knotd: no free port in 3 attempts")

    def log(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None:
            harness.stop_process(self.proc, sig=signal.SIGTERM)
        harness.remove_tmpdir(self.dir)


def _dns_config(port: int) -> str:
    return harness.standard_config(f"""
[dns]
zones = ["example.test"]
listen = "127.0.0.1:{port}"
""")


def _python_import(node) -> int:
    """Fallback when `meshkv zone import` is unavailable: POST every record."""
    z = dns.zone.from_file(str(ZONE_FILE), origin=ORIGIN, relativize=False)
    c = node.client()
    n = 0
    for name, rdnode in z.nodes.items():
        for rds in sorted(rdnode.rdatasets, key=lambda r: r.rdtype != dns.rdatatype.SOA):
            for rd in rds:
                r = c.request("POST", "/v1/records/" + name.to_text(),
                              json={"type": dns.rdatatype.to_text(rds.rdtype),
                                    "value": rd.to_text(relativize=False), "ttl": rds.ttl})
                assert r.status_code == 200, f"{name} {rds.rdtype} {rd}: {r.status_code} {r.text}"
                n += 1
    return n


@dataclass
class Meshkv:
    node: object
    port: int
    import_result: subprocess.CompletedProcess | None
    imported_with: str


@pytest.fixture(scope="module")
def knot():
    k = Knot()
    try:
        k.start()
        yield k
    finally:
        k.stop()


@pytest.fixture(scope="module")
def meshkv(module_node_factory):
    node, port = None, None
    for _ in range(3):
        port = harness.free_dns_port()
        try:
            node = module_node_factory(config=_dns_config(port))
            break
        except harness.NodeStartError as e:
            if "in use" not in str(e).lower():
                raise
    assert node is not None, "could not start meshkv with a free DNS port"
    assert f"dns: listening on 127.0.0.1:{port}" in node.stderr(), node.stderr()[-2000:]
    res = harness.run_cli("zone", "import", str(ZONE_FILE), "--addr", node.addr,
                          "--token", harness.TOKENS["admin"].secret, timeout=120)
    how = "meshkv zone import"
    if res.returncode != 0:
        how = "python fallback (meshkv zone import failed)"
        _python_import(node)
    deadline = time.monotonic() + 10
    while _soa_serial(port) != _zone_serial() and time.monotonic() < deadline:
        time.sleep(0.05)
    return Meshkv(node, port, res, how)


@pytest.fixture(scope="module")
def verdicts(knot, meshkv) -> dict[str, Verdict]:
    out: dict[str, Verdict] = {}
    died_after = None
    for case in CASES:
        k = describe(_exchange_retry(knot.port, case))
        if died_after is None:
            m = describe(_exchange_retry(meshkv.port, case))
            if not meshkv.node.alive():
                died_after = case.id
                m = {"response": f"meshkv process died (exit {meshkv.node.proc.poll()}) on this query"}
        else:
            m = {"response": f"meshkv process died earlier, on query {died_after}"}
        out[case.id] = judge(case, k, m)
    _write_report(out, knot, meshkv)
    return out


def _summary(verdicts: dict[str, Verdict]) -> str:
    n = len(verdicts)
    ident = sum(v.kind == "identical" for v in verdicts.values())
    allowed = [v for v in verdicts.values() if v.kind == "allowed"]
    diff = [v for v in verdicts.values() if v.kind == "different"]
    by_allow: dict[str, int] = {}
    for v in allowed:
        for a in v.allowances:
            by_allow[a] = by_allow.get(a, 0) + 1
    by_transport = {t: sum(1 for v in verdicts.values() if v.case.transport == t) for t in ("udp", "tcp")}
    lines = [f"DNS conformance vs Knot: {n} queries ({by_transport['udp']} UDP, {by_transport['tcp']} TCP): "
             f"{ident} identical, {len(allowed)} allowed differences, {len(diff)} unexplained differences"]
    for a in ALLOWED:
        lines.append(f"  allowed {a.name}: {by_allow.get(a.name, 0)} queries")
    groups = sorted({v.case.group for v in verdicts.values()})
    for g in groups:
        vs = [v for v in verdicts.values() if v.case.group == g]
        count = {kind: sum(v.kind == kind for v in vs) for kind in ("identical", "allowed", "different")}
        lines.append(f"  group {g:10s} {len(vs):4d} queries: {count['identical']} identical, "
                     f"{count['allowed']} allowed, {count['different']} different")
    return "\n".join(lines)


def _write_report(verdicts, knot, meshkv):
    try:
        with open(REPORT, "w") as f:
            f.write(_summary(verdicts) + "\n")
            f.write(f"knot: {KNOTD} port {knot.port}; meshkv: {harness.MESHKV_BIN} dns port {meshkv.port}; "
                    f"records imported with {meshkv.imported_with}\n\n")
            for v in verdicts.values():
                f.write(f"{v.kind:9s} {v.case.id}" + (f"  [{', '.join(v.allowances)}]" if v.allowances else "")
                        + "\n")
            f.write("\n")
            for v in verdicts.values():
                if v.kind != "identical":
                    f.write(f"--- {v.kind} [{', '.join(v.allowances)}]\n")
                    keys = diff_keys(v.knot, v.meshkv)
                    f.write(render_diff(v.case, v.knot, v.meshkv, keys) + "\n\n")
    except OSError:
        pass


# ==========================================================================
# tests


def test_zone_file_is_sane():
    """Knot and dnspython both accept the zone; the list covers every group."""
    z = dns.zone.from_file(str(ZONE_FILE), origin=ORIGIN, relativize=False)
    assert z.find_rdataset(ORIGIN, "SOA")
    groups = {c.group for c in CASES}
    assert {"exist", "nodata", "nxdomain", "cname", "ent", "case", "any", "edns", "trunc", "refused",
            "class", "malformed"} <= groups
    assert len(CASES) >= 300, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES)


def test_zone_import_cli(meshkv):
    """`meshkv zone import` takes the whole conformance zone."""
    r = meshkv.import_result
    assert r.returncode == 0, f"zone import failed ({r.returncode}): {r.stderr.decode(errors='replace')}"
    assert re.match(rb"imported \d+ records into example\.test\.", r.stdout), r.stdout


def test_both_serve_the_zone(knot, meshkv):
    assert _soa_serial(knot.port) == _zone_serial(), knot.log()[-2000:]
    assert _soa_serial(meshkv.port) == _zone_serial(), "meshkv does not serve the imported SOA"


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_same_answer_as_knot(verdicts, case_id):
    v = verdicts[case_id]
    if v.kind == "different":
        pytest.fail("meshkv and Knot differ:\n" + v.diff, pytrace=False)


def test_summary(verdicts, meshkv):
    """Prints the counts (run with -s) and checks the allow-list is not stale."""
    text = _summary(verdicts)
    print("\n" + text + f"\n  report: {REPORT}")
    assert meshkv.node.alive(), "meshkv exited during the conformance run:\n" + meshkv.node.stderr()[-3000:]
    # every allow-list entry must still be needed by at least one query, so
    # that fixed differences are removed from the list and from docs/dns.md
    unused = [a.name for a in ALLOWED
              if not any(a.name in v.allowances for v in verdicts.values() if v.kind == "allowed")]
    assert not unused, f"allow-list entries no longer needed (remove them here and in docs/dns.md): {unused}"

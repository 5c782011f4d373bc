"""The authoritative DNS server, black box: records added and removed over
HTTP (POST/DELETE /v1/records/{name}) are answered over DNS at once, over UDP
and TCP, to dnspython and dig; truncation with TCP retry; SRV discovery;
REFUSED outside the zones; AXFR to allowed clients; DNS metrics.

Each module gets one node serving `example.test` with DNS on a free port
(fixture `dns_node`, defined here rather than in conftest.py).
"""
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest

import harness

ZONE = "example.test"
TIMEOUT = 5


def dns_config(port: int, extra: str = "") -> str:
    return harness.standard_config(f"""
[dns]
listen = "127.0.0.1:{port}"
zones = ["{ZONE}"]
axfr_allow = ["127.0.0.1"]
{extra}
""")


class DnsNode:
    """A node plus its DNS port and helpers."""

    def __init__(self, node: harness.Node, port: int):
        self.node = node
        self.port = port
        self.http = node.client()

    def add(self, name, rtype, value, ttl=None):
        body = {"type": rtype, "value": value}
        if ttl is not None:
            body["ttl"] = ttl
        r = self.http.request("POST", f"/v1/records/{name}", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    def remove(self, name, rtype=None, value=None):
        body = {}
        if rtype is not None:
            body["type"] = rtype
        if value is not None:
            body["value"] = value
        r = self.http.request("DELETE", f"/v1/records/{name}", json=body if body else None)
        assert r.status_code in (200, 204), r.text

    def udp(self, name, rtype, **kw):
        q = dns.message.make_query(name, rtype, **kw)
        q.flags &= ~dns.flags.RD
        return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=TIMEOUT)

    def tcp(self, name, rtype, **kw):
        q = dns.message.make_query(name, rtype, **kw)
        q.flags &= ~dns.flags.RD
        return dns.query.tcp(q, "127.0.0.1", port=self.port, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def dns_node(module_node_factory):
    port = harness.free_dns_port()
    node = module_node_factory(config=dns_config(port))
    assert f"dns: listening on 127.0.0.1:{port}" in node.stderr()
    return DnsNode(node, port)


@pytest.fixture
def label():
    """A unique owner label for one test."""
    return "t" + uuid.uuid4().hex[:10]


def answers(response, rtype):
    return sorted(rd.to_text() for rrset in response.answer if rrset.rdtype == rtype for rd in rrset)


def soa_in_authority(response):
    return [rrset for rrset in response.authority if rrset.rdtype == dns.rdatatype.SOA]


# --------------------------------------------------------------------------


def test_added_records_answer_at_once_over_udp_and_tcp(dns_node, label):
    name = f"{label}.{ZONE}"
    dns_node.add(name, "A", "192.0.2.10", ttl=120)
    for ask in (dns_node.udp, dns_node.tcp):
        r = ask(name, "A")
        assert r.rcode() == dns.rcode.NOERROR
        assert r.flags & dns.flags.AA
        assert answers(r, dns.rdatatype.A) == ["192.0.2.10"]
        assert r.answer[0].ttl == 120
    dns_node.add(name, "A", "192.0.2.11", ttl=120)
    dns_node.add(name, "AAAA", "2001:db8::11")
    assert answers(dns_node.udp(name, "A"), dns.rdatatype.A) == ["192.0.2.10", "192.0.2.11"]
    assert answers(dns_node.tcp(name, "AAAA"), dns.rdatatype.AAAA) == ["2001:db8::11"]


def test_every_served_type(dns_node, label):
    base = f"{label}.{ZONE}"
    dns_node.add(f"mail.{base}", "A", "192.0.2.25")
    dns_node.add(base, "MX", f"10 mail.{base}.")
    dns_node.add(base, "TXT", '"hello world" "second string"')
    dns_node.add(base, "CAA", '0 issue "ca.example.net"')
    dns_node.add(f"_sip._tcp.{base}", "SRV", f"0 5 5060 mail.{base}.")
    dns_node.add(f"alias.{base}", "CNAME", f"mail.{base}.")
    dns_node.add(f"ptr.{base}", "PTR", f"mail.{base}.")
    mx = dns_node.udp(base, "MX")
    assert answers(mx, dns.rdatatype.MX) == [f"10 mail.{base}."]
    assert [rr.to_text() for rrset in mx.additional for rr in rrset] == ["192.0.2.25"]  # glue
    assert answers(dns_node.udp(base, "TXT"), dns.rdatatype.TXT) == ['"hello world" "second string"']
    assert answers(dns_node.udp(base, "CAA"), dns.rdatatype.CAA) == ['0 issue "ca.example.net"']
    assert answers(dns_node.udp(f"_sip._tcp.{base}", "SRV"), dns.rdatatype.SRV) == [
        f"0 5 5060 mail.{base}."]
    assert answers(dns_node.udp(f"ptr.{base}", "PTR"), dns.rdatatype.PTR) == [f"mail.{base}."]
    chased = dns_node.udp(f"alias.{base}", "A")
    assert answers(chased, dns.rdatatype.CNAME) == [f"mail.{base}."]
    assert answers(chased, dns.rdatatype.A) == ["192.0.2.25"]


def test_removal_gives_nodata_then_nxdomain(dns_node, label):
    name = f"{label}.{ZONE}"
    dns_node.add(name, "A", "192.0.2.20")
    dns_node.add(name, "TXT", "gone-soon")
    assert dns_node.udp(name, "TXT").answer
    dns_node.remove(name, "TXT", "gone-soon")
    nodata = dns_node.udp(name, "TXT")
    assert nodata.rcode() == dns.rcode.NOERROR
    assert not nodata.answer
    assert soa_in_authority(nodata), nodata.to_text()
    dns_node.remove(name)
    for ask in (dns_node.udp, dns_node.tcp):
        nx = ask(name, "A")
        assert nx.rcode() == dns.rcode.NXDOMAIN
        assert nx.flags & dns.flags.AA
        soa = soa_in_authority(nx)
        assert soa and soa[0].name.to_text() == f"{ZONE}."
        # RFC 2308 3: min(SOA TTL, SOA MINIMUM); both 300 s by default.
        assert soa[0].ttl == 300


def test_empty_non_terminal_is_nodata(dns_node, label):
    dns_node.add(f"leaf.mid.{label}.{ZONE}", "A", "192.0.2.30")
    for name in (f"mid.{label}.{ZONE}", f"{label}.{ZONE}"):
        r = dns_node.udp(name, "A")
        assert r.rcode() == dns.rcode.NOERROR, name
        assert not r.answer and soa_in_authority(r)
    assert dns_node.udp(f"other.mid.{label}.{ZONE}", "A").rcode() == dns.rcode.NXDOMAIN


def test_case_is_preserved(dns_node, label):
    dns_node.add(f"{label}.{ZONE}", "A", "192.0.2.40")
    mixed = f"{label.upper()}.ExAmPlE.TeSt"
    r = dns_node.udp(mixed, "A")
    assert r.answer[0].name.to_text() == mixed + "."


def test_dig(dns_node, label):
    dig = shutil.which("dig")
    if dig is None:
        pytest.skip("dig is not installed (apt-get install dnsutils)")
    name = f"{label}.{ZONE}"
    dns_node.add(name, "A", "192.0.2.50")
    out = subprocess.run([dig, "@127.0.0.1", "-p", str(dns_node.port), name, "A", "+norec",
                          "+time=3", "+tries=1"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "status: NOERROR" in out.stdout
    assert "flags: qr aa;" in out.stdout
    assert "192.0.2.50" in out.stdout
    short = subprocess.run([dig, "@127.0.0.1", "-p", str(dns_node.port), name, "A", "+norec",
                            "+short", "+tcp"], capture_output=True, text=True, timeout=30)
    assert short.stdout.strip() == "192.0.2.50"
    nx = subprocess.run([dig, "@127.0.0.1", "-p", str(dns_node.port), "nope-" + name, "A",
                         "+norec"], capture_output=True, text=True, timeout=30)
    assert "status: NXDOMAIN" in nx.stdout


def test_truncation_and_tcp_retry(dns_node, label):
    name = f"{label}.{ZONE}"
    for i in range(30):
        dns_node.add(name, "TXT", f'"{i:02d}-' + "x" * 100 + '"')
    plain = dns_node.udp(name, "TXT")
    assert plain.flags & dns.flags.TC
    assert not plain.answer  # the question alone, as Knot sends it
    edns = dns_node.udp(name, "TXT", use_edns=0, payload=4096)
    assert edns.flags & dns.flags.TC  # over our 1232-octet limit
    assert edns.payload == 1232
    full, used_tcp = dns.query.udp_with_fallback(
        dns.message.make_query(name, "TXT"), "127.0.0.1", port=dns_node.port, timeout=TIMEOUT)
    assert used_tcp
    assert len(answers(full, dns.rdatatype.TXT)) == 30
    dig = shutil.which("dig")
    if dig:
        out = subprocess.run([dig, "@127.0.0.1", "-p", str(dns_node.port), name, "TXT", "+norec",
                              "+noedns"], capture_output=True, text=True, timeout=30)
        assert "Truncated, retrying in TCP mode" in out.stdout + out.stderr
        assert "ANSWER: 30" in out.stdout


def test_srv_discovery_is_published_only_by_cluster_nodes(dns_node):
    # `_meshkv._tcp` SRV carries cluster (peer RPC) addresses; a node without
    # [cluster] has none. The clustered case is test_cluster_discovery.py.
    node_id = Path(dns_node.node.data_dir, "node_id").read_text().strip()
    r = dns_node.udp(f"_meshkv._tcp.{ZONE}", "SRV")
    assert r.rcode() == dns.rcode.NXDOMAIN
    target = dns_node.tcp(f"{node_id}.nodes.{ZONE}", "A")
    assert target.rcode() == dns.rcode.NXDOMAIN


def test_apex_soa_and_ns_are_synthesized(dns_node):
    soa = dns_node.udp(ZONE, "SOA")
    assert soa.flags & dns.flags.AA
    (record,) = [rd for rrset in soa.answer for rd in rrset]
    assert record.mname.to_text() == f"ns1.{ZONE}."
    assert record.rname.to_text() == f"hostmaster.{ZONE}."
    assert record.serial > 1_600_000_000  # the Unix second of the newest change
    ns = dns_node.udp(ZONE, "NS")
    assert answers(ns, dns.rdatatype.NS) == [f"ns1.{ZONE}."]
    assert [rd.to_text() for rrset in ns.additional for rd in rrset] == ["127.0.0.1"]


def test_serial_grows_with_changes(dns_node, label):
    def serial():
        return [rd for rrset in dns_node.udp(ZONE, "SOA").answer for rd in rrset][0].serial
    before = serial()
    import time
    time.sleep(1.1)  # the serial counts seconds
    dns_node.add(f"{label}.{ZONE}", "A", "192.0.2.60")
    assert serial() > before


def test_outside_our_zones_is_refused(dns_node):
    for ask in (dns_node.udp, dns_node.tcp):
        r = ask("www.example.org", "A")
        assert r.rcode() == dns.rcode.REFUSED
        assert not r.flags & dns.flags.AA


def test_malformed_queries(dns_node):
    q = dns.message.make_query(f"www.{ZONE}", "A")
    q.id = 4242
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.sendto(q.to_wire() + b"\x00\x01garbage", ("127.0.0.1", dns_node.port))
        data = s.recv(4096)
        r = dns.message.from_wire(data)
        assert r.id == 4242 and r.rcode() == dns.rcode.FORMERR
        # Version 1 EDNS: BADVERS.
        bad = bytearray(dns.message.make_query(f"www.{ZONE}", "A", use_edns=0).to_wire())
        bad[-5] = 1  # the OPT's VERSION octet (the OPT is last and has no options)
        s.sendto(bytes(bad), ("127.0.0.1", dns_node.port))
        r = dns.message.from_wire(s.recv(4096))
        assert r.rcode() == dns.rcode.BADVERS
    # The server still answers.
    assert dns_node.udp(ZONE, "SOA").rcode() == dns.rcode.NOERROR


def test_axfr_to_allowed_client(dns_node, label):
    dns_node.add(f"{label}.{ZONE}", "A", "192.0.2.70")
    zone = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", ZONE, port=dns_node.port, timeout=TIMEOUT))
    node = zone.get_node(label)
    assert node is not None
    assert [rd.to_text() for rd in node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.A)] == [
        "192.0.2.70"]
    assert zone.get_rdataset("@", "SOA") is not None
    # Over UDP: NOTIMP, as Knot.
    r = dns_node.udp(ZONE, "AXFR")
    assert r.rcode() == dns.rcode.NOTIMP


def test_metrics(dns_node):
    dns_node.udp(f"nope.{ZONE}", "AAAA")
    samples = harness.parse_metrics(dns_node.http.metrics())
    assert harness.metric_value(samples, "meshkv_dns_queries_total", qtype="AAAA",
                                rcode="NXDOMAIN", transport="udp") >= 1
    assert harness.metric_value(samples, "meshkv_dns_request_duration_seconds_count") >= 1
    assert harness.metric_value(samples, "meshkv_dns_truncated_total") >= 0


def test_dns_port_in_use_fails_start(node_factory, dns_node):
    node = node_factory(config=dns_config(dns_node.port), start=False)
    node.start(wait=False)
    rc = node.proc.wait(timeout=20)
    assert rc != 0
    assert f"127.0.0.1:{dns_node.port}" in node.stderr()


def test_records_survive_restart(node_factory, label):
    port = harness.free_dns_port()
    node = node_factory(config=dns_config(port))
    d = DnsNode(node, port)
    d.add(f"{label}.{ZONE}", "A", "192.0.2.80")
    assert node.restart() == 0  # SIGTERM: DNS stops before the store flush
    d.http = node.client()
    assert answers(d.udp(f"{label}.{ZONE}", "A"), dns.rdatatype.A) == ["192.0.2.80"]

"""Seed discovery by DNS SRV (issue 3, "Joining") and service discovery of the
live members over meshkv's own DNS server (issue 5, "Service discovery").

Node A serves the zone `disc.test` and has no seeds. Node B has no seeds either;
it only knows `srv_domain = "disc.test"` and A's DNS port as its resolver, so it
can find the cluster only through `_meshkv._tcp.disc.test` SRV, which A
publishes from its live member list. Checked with dnspython, a client we did
not write.
"""
from __future__ import annotations

import dns.message
import dns.query
import dns.rdatatype
import pytest

import cluster_harness as ch
from harness import free_dns_port

ZONE = "disc.test"


def srv_targets(dns_port: int) -> dict[str, int]:
    """{target name: port} of _meshkv._tcp.<zone> SRV, asked over UDP."""
    query = dns.message.make_query(f"_meshkv._tcp.{ZONE}", dns.rdatatype.SRV)
    answer = dns.query.udp(query, "127.0.0.1", port=dns_port, timeout=2)
    out = {}
    for rrset in answer.answer:
        for rr in rrset:
            if rr.rdtype == dns.rdatatype.SRV:
                out[rr.target.to_text().lower()] = rr.port
    return out


@pytest.fixture
def nodes():
    name = "disc-" + ch.new_node_id()[:6]
    ca = ch.CertAuthority(name)
    key = ch.keygen()
    dns_port = free_dns_port()
    a = ch.ClusterNode("a", ca, key, name,
                       extra_cluster=f'\n[dns]\nlisten = "127.0.0.1:{dns_port}"\nzones = ["{ZONE}"]\n')
    b = ch.ClusterNode("b", ca, key, name,
                       extra_cluster=(f'srv_domain = "{ZONE}"\n'
                                      f'srv_resolver = "127.0.0.1:{dns_port}"\n'
                                      'srv_refresh = "1s"\n'))
    a.dns_port = dns_port
    yield a, b
    for nd in (b, a):
        if nd.running():
            nd.stop()


def test_a_node_finds_the_cluster_through_srv_and_is_published_there(nodes):
    a, b = nodes
    a.start(seeds=[])
    # A alone publishes itself, at its cluster port.
    assert srv_targets(a.dns_port) == {f"{a.id}.nodes.{ZONE}.": a.cluster_port}
    b.start(seeds=[])

    def both_alive():
        for nd in (a, b):
            states = ch.states_of(nd.members())
            if states.get(a.id) != "alive" or states.get(b.id) != "alive":
                return False
        return True

    ch.wait_until(both_alive, 20, "b joins a through SRV discovery",
                  describe=lambda: f"a: {a.members()}\nb: {b.members()}\nb log:\n{b.log()[-2000:]}")
    srv = b.status()["cluster"]["srv"]
    assert srv["domain"] == ZONE
    assert a.cluster_addr in srv["found"]
    assert srv["last_error"] is None and srv["last_refresh_ms"] is not None
    # The member list changed, so A's cached discovery answer did too.
    ch.wait_until(lambda: len(srv_targets(a.dns_port)) == 2, 10, "a publishes both members")
    assert srv_targets(a.dns_port) == {
        f"{a.id}.nodes.{ZONE}.": a.cluster_port,
        f"{b.id}.nodes.{ZONE}.": b.cluster_port,
    }
    # A member that leaves is no longer published.
    b.stop()
    ch.wait_until(lambda: len(srv_targets(a.dns_port)) == 1, 10, "a stops publishing b")


def test_srv_discovery_errors_show_in_status_and_the_node_keeps_running(nodes):
    a, b = nodes  # a is never started: b's resolver does not answer
    b.start(seeds=[])
    ch.wait_until(lambda: b.status()["cluster"]["srv"]["last_error"] is not None, 15,
                  "b reports the SRV lookup failure")
    status = b.status()["cluster"]
    assert "no answer" in status["srv"]["last_error"]
    assert status["srv"]["found"] == []
    assert status["joined"] is False
    assert b.running()

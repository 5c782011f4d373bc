"""Replication across real nodes on loopback (issue 4, "What must be shown",
black-box tests) and DNS answered from the cluster (issue 5).

Spec under test (DESIGN.md Placement / Request path): any node coordinates;
partition = xxh3(ns, key) mod 1024; replica set = top-RF owners (default
namespace RF 3, `replicas = "all"` everywhere, the `dns` namespace "all");
writes fan out to every replica and answer after W, reads after R
(one = 1, quorum = floor(n/2) + 1, all = n); an unreachable quorum is 503
`unavailable` with the counts; deletes are replicated tombstones; hints for
replicas that missed a write are replayed every 1 s once they are alive;
quorum reads repair stale replicas; `GET /v1/kv?prefix=` merges all owners.
Anti-entropy is not built yet, so a node that was down catches up only by
hints (held by the coordinators) and read repair.

Before each test every node is a `normal` owner and all agree on the
ownership digest (replication_helpers.wait_owners_normal).

Bounds (loopback, `local` preset, busy 2-core machine):
  SETTLE_S         1 s   a write acknowledged at quorum is on the replicas
                         that did not count for the quorum (stragglers finish
                         in the background: milliseconds on loopback). Every
                         read, even at consistency=one, repairs the replicas
                         it read from, so this is checked by ONE read per
                         (replica, key) at consistency=one SETTLE_S after the
                         ack, with meshkv_read_repairs_total unchanged.
  REPLICA_BOUND_S  5 s   on a miss, how much longer reads go on, only to say
                         in the failure whether read repair fixes it.
  DNS_BOUND_S      5 s   a record added through node 1 is answered by node 3's
                         DNS server (the `dns` namespace is on every node;
                         DNS reads the local replica).
  HINT_BOUND_S    15 s   after a restarted node is alive again for everyone,
                         the survivors have replayed the hints they kept for
                         it (meshkv_hints_pending 0, replayed > 0; hints are
                         replayed every 1 s, throttled); then ONE read per
                         owned key at consistency=one on the restarted node
                         (answered from its own replica) must be right.
  RECOVER_BOUND_S 10 s   after SIGCONT of two stopped nodes, a value written
                         at consistency=one on the third is readable at
                         quorum on every node (hints or read repair).
Measured times are printed (run with -s to see them).
"""
from __future__ import annotations

import signal
import time
import uuid

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from cluster_harness import Cluster, wait_until
from harness import assert_error, b64, free_dns_port, unb64
import replication_helpers as rh
from replication_helpers import (batch, delete, drop_sessions, get, list_all, owners_of, put, put_ok, put_op,
                                 replica_nodes, short, value_of, wait_owners_normal)

PRESET = "local"
ZONE = "cluster.test"

REPLICA_BOUND_S = 5.0
DNS_BOUND_S = 5.0
HINT_BOUND_S = 15.0
RECOVER_BOUND_S = 10.0

TIMINGS: dict[str, float] = {}


def note(what: str, seconds: float):
    TIMINGS[what] = seconds
    print(f"[timing] {what}: {seconds:.2f}s")


def uniq() -> str:
    return f"r-{uuid.uuid4().hex[:10]}/"


def wait_timed(predicate, bound: float, what: str, describe=None, interval: float = 0.05) -> float:
    t0 = time.monotonic()
    wait_until(predicate, bound, what, describe, interval=interval)
    took = time.monotonic() - t0
    note(what, took)
    return took


def holders_agree(c: Cluster, key, ns=None) -> list:
    """The replica set of `key` as every node reports it (all must agree)."""
    sets = {nd.name: [r.name for r in replica_nodes(c, nd, key, ns)] for nd in c.nodes}
    first = next(iter(sets.values()))
    assert all(s == first for s in sets.values()), f"nodes disagree on the replicas of {key!r}: {sets}"
    return replica_nodes(c, c.nodes[0], key, ns)


def all_read_one(nodes, key, want: bytes | None, ns=None):
    """Predicate: every node in `nodes` answers `want` at consistency=one."""
    def ok():
        return all(value_of(nd, key, ns=ns, consistency="one") == want for nd in nodes)
    return ok


def describe_reads(nodes, key, ns=None, consistency="one"):
    def d():
        parts = []
        for nd in nodes:
            try:
                parts.append(f"{nd.name}={short(value_of(nd, key, ns=ns, consistency=consistency))}")
            except Exception as e:  # noqa: BLE001
                parts.append(f"{nd.name}=error {e!r}")
        return f"reads of {key!r} at {consistency}: " + " ".join(parts)
    return d


SETTLE_S = 1.0


def read_repairs(c: Cluster) -> float:
    return sum(rh.metric(nd, "meshkv_read_repairs_total") for nd in c.running_nodes())


def check_replicated(c: Cluster, reads: list, what: str):
    """`reads` = [(node, key, ns, want bytes or None)]. Every read at
    consistency=one repairs the replicas it read from, so polling would let
    read repair do replication's work: instead, wait SETTLE_S after the
    acknowledgement (stragglers finish in the background), then read each
    (node, key) once at consistency=one and require `want` with no read
    repair counted meanwhile. On a miss, keep reading up to REPLICA_BOUND_S
    to say whether read repair fixes it."""
    time.sleep(SETTLE_S)
    before = read_repairs(c)
    miss = []
    for nd, key, ns, want in reads:
        got = value_of(nd, key, ns=ns, consistency="one")
        if got != want:
            miss.append((nd.name, key, short(got), short(want)))
    repairs = read_repairs(c) - before
    later = ""
    if miss:
        t0 = time.monotonic()
        try:
            wait_until(lambda: all(value_of(nd, key, ns=ns, consistency="one") == want
                                   for nd, key, ns, want in reads), REPLICA_BOUND_S, "later")
            later = f"; after {time.monotonic() - t0:.1f}s more of reads (read repair) all were right"
        except AssertionError:
            later = f"; still wrong after {REPLICA_BOUND_S}s more of reads"
    assert not miss, (f"{what}: {len(miss)} of {len(reads)} consistency=one reads {SETTLE_S}s after the "
                      f"acknowledgement were wrong (node, key, got, want): {miss[:6]}{later}")
    assert repairs == 0, (f"{what}: every replica had it, but {repairs:.0f} read repairs were counted while "
                          f"reading, so replication alone had not put it on every replica after {SETTLE_S}s")
    print(f"[info] {what}: {len(reads)} consistency=one reads right {SETTLE_S}s after the ack, no read repair")


# ======================================================================
# three nodes: propagation, listing, batch, DNS, quorum errors


def three_node_extra(dns_port: int) -> str:
    return (f'\n[namespaces.everywhere]\nreplicas = "all"\n'
            f'\n[dns]\nlisten = "127.0.0.1:{dns_port}"\nzones = ["{ZONE}"]\n')


@pytest.fixture(scope="class")
def cluster3():
    c = Cluster(3, preset=PRESET)
    try:
        for nd in c.nodes:
            nd.dns_port = free_dns_port()
            nd.extra_cluster = three_node_extra(nd.dns_port)
        t0 = time.monotonic()
        c.start(timeout=40)
        wait_owners_normal(c)
        note("3 nodes started, all alive and normal owners", time.monotonic() - t0)
        yield c
    finally:
        drop_sessions()
        c.cleanup()


@pytest.fixture
def c3(cluster3):
    cluster3.ensure_healthy()
    wait_owners_normal(cluster3)
    return cluster3


class TestThreeNodes:
    # ------------------------------------------------------------ propagation

    def test_binary_and_text_values_reach_every_node_and_a_delete_too(self, c3):
        n1, n2, n3 = c3.nodes
        u = uniq()
        values = {
            u + "binary": bytes(range(256)),
            u + "text with spaces": b"  hello replicated  world, with spaces\tand a tab \xc3\xa9 ",
        }
        versions = {}
        for key, value in values.items():
            versions[key] = put_ok(n1, key, value)["version"]

        # consistency=one on each replica: its own copy (before any quorum read could repair it)
        check_replicated(c3, [(h, key, None, value) for key, value in values.items()
                              for h in replica_nodes(c3, n1, key)], "values written on node1")
        for key, value in values.items():
            holders = holders_agree(c3, key)
            assert len(holders) == 3, f"RF 3 on 3 nodes: {key!r} has replicas {[h.name for h in holders]}"
            doc = owners_of(n2, key)
            assert doc["ns"] == "default" and 0 <= doc["partition"] < 1024, doc
            assert all(r["owner_state"] == "normal" for r in doc["replicas"]), doc
            # quorum (the default) on every node: same bytes, same version, origin node1
            for nd in c3.nodes:
                r = get(nd, key)
                assert r.status_code == 200, f"{nd.name}: GET {key!r} -> {r.status_code} {r.text[:300]}"
                assert r.content == value, f"{nd.name}: {key!r} is {short(r.content)}, want {short(value)}"
                assert r.headers.get("X-Meshkv-Version") == versions[key], (nd.name, dict(r.headers))
                assert r.headers.get("X-Meshkv-Origin") == n1.id, (nd.name, dict(r.headers))

        for key in values:
            r = delete(n2, key)
            assert r.status_code == 200, f"node2: DELETE {key!r} -> {r.status_code} {r.text[:300]}"
        check_replicated(c3, [(nd, key, None, None) for key in values for nd in c3.nodes],
                         "deletes made on node2")
        for key in values:
            for nd in c3.nodes:
                r = get(nd, key)
                assert r.status_code == 404, (f"{nd.name}: GET {key!r} after delete on node2 -> "
                                              f"{r.status_code} {short(r.content)}")

    def test_namespace_with_replicas_all_has_every_key_on_every_node(self, c3):
        u = uniq()
        ns = "everywhere"
        keys = {f"{u}k{i:03d}": f"value {i} of everywhere".encode() + bytes([i]) for i in range(50)}
        for i, (key, value) in enumerate(keys.items()):
            put_ok(c3.nodes[i % 3], key, value, ns=ns)
        sample = next(iter(keys))
        doc = owners_of(c3.nodes[2], sample, ns=ns)
        assert sorted(r["id"] for r in doc["replicas"]) == sorted(c3.ids), (
            f"replicas = \"all\": /v1/owners lists {doc['replicas']}")

        check_replicated(c3, [(nd, k, ns, v) for nd in c3.nodes for k, v in keys.items()],
                         "50 keys of a replicas=all namespace on every node")

    # ------------------------------------------------------------ listing

    def test_prefix_listing_merges_all_owners(self, c3):
        u = uniq()
        prefix = u + "list/"
        keys = [f"{prefix}{i:04d}" for i in range(300)]
        for i, key in enumerate(keys):
            put_ok(c3.nodes[i % 3], key, f"v{i}".encode())
        # neighbours that are not under the prefix
        put_ok(c3.nodes[0], u + "lis", b"x")
        put_ok(c3.nodes[1], u + "list0", b"x")
        put_ok(c3.nodes[2], u + "list", b"x")

        for nd in c3.nodes:
            got, pages = list_all(nd, prefix, limit=50)
            assert len(got) == 300 and got == keys, (
                f"{nd.name}: listing {prefix!r} in pages of 50 gave {len(got)} keys in {pages} pages; "
                f"missing {sorted(set(keys) - set(got))[:10]}, extra {sorted(set(got) - set(keys))[:10]}, "
                f"in order: {got == sorted(got)}")
            assert pages >= 6, (nd.name, pages)

        gone = keys[::10]
        for i, key in enumerate(gone):
            r = delete(c3.nodes[(i + 1) % 3], key)
            assert r.status_code == 200, r.text[:300]
        want = [k for k in keys if k not in set(gone)]
        assert len(want) == 270
        for nd in c3.nodes:
            got, pages = list_all(nd, prefix, limit=50)
            assert got == want, (
                f"{nd.name}: after deleting 30, listing gave {len(got)} keys; "
                f"still there: {sorted(set(got) & set(gone))[:10]}, missing {sorted(set(want) - set(got))[:10]}")

    # ------------------------------------------------------------ batch

    def test_batch_on_node2_is_seen_by_every_node(self, c3):
        n1, n2, n3 = c3.nodes
        u = uniq()
        put_ok(n1, u + "keep", b"old")
        put_ok(n1, u + "gone1", b"1")
        put_ok(n3, u + "gone2", b"2")
        ops = [
            put_op(u + "new1", bytes(range(255, -1, -1))),
            put_op(u + "keep", b"new value"),
            {"op": "delete", "key": u + "gone1"},
            {"op": "delete", "key_b64": b64((u + "gone2").encode())},
            put_op(u + "new 2", b"second new"),
            {"op": "get", "key": u + "keep"},
        ]
        r = batch(n2, ops)
        assert r.status_code == 200, f"node2: POST /v1/kv/batch -> {r.status_code} {r.text[:500]}"
        results = r.json()["results"]
        assert [x["status"] for x in results] == [200] * 6, results
        assert [x["op"] for x in results] == ["put", "put", "delete", "delete", "put", "get"], results
        assert unb64(results[5]["value"]) == b"old", f"a batch get reads the state before the batch: {results[5]}"

        want = {u + "new1": bytes(range(255, -1, -1)), u + "keep": b"new value", u + "gone1": None,
                u + "gone2": None, u + "new 2": b"second new"}
        check_replicated(c3, [(h, k, None, v) for k, v in want.items() for h in replica_nodes(c3, n1, k)],
                         "batch on node2")
        for nd in c3.nodes:
            seen = {k: value_of(nd, k) for k in want}
            assert seen == want, f"{nd.name} (quorum) sees {({k[len(u):]: short(v) for k, v in seen.items()})}"
        # and a batch read through node3 gives the same
        r = batch(n3, [{"op": "get", "key": k} for k in want])
        assert r.status_code == 200, r.text[:300]
        got = {x["key"]: (unb64(x["value"]) if x["status"] == 200 else None) for x in r.json()["results"]}
        assert got == want, got


    # ------------------------------------------------------------ DNS (issue 5)

    def test_record_added_on_node1_is_answered_by_node3(self, c3):
        n1, n2, n3 = c3.nodes
        name = f"www-{uuid.uuid4().hex[:8]}.{ZONE}"

        def ask(nd):
            q = dns.message.make_query(name, dns.rdatatype.A)
            return dns.query.udp(q, "127.0.0.1", port=nd.dns_port, timeout=1)

        def a_values(resp):
            return sorted(rr.address for rrset in resp.answer if rrset.rdtype == dns.rdatatype.A for rr in rrset)

        # before: NXDOMAIN everywhere
        for nd in c3.nodes:
            resp = ask(nd)
            assert resp.rcode() == dns.rcode.NXDOMAIN, f"{nd.name}: {name} before adding: {resp}"

        s1 = rh.session(n1)
        t0 = time.monotonic()
        r = s1.post(f"{n1.url}/v1/records/{name}", json={"type": "A", "value": "192.0.2.7", "ttl": 60}, timeout=15)
        assert r.status_code == 200, f"node1: POST /v1/records/{name} -> {r.status_code} {r.text[:300]}"
        last = {}

        def node3_answers():
            resp = ask(n3)
            last["resp"] = resp
            return resp.rcode() == dns.rcode.NOERROR and a_values(resp) == ["192.0.2.7"]
        wait_until(node3_answers, DNS_BOUND_S, f"node3's DNS answers {name} A 192.0.2.7",
                   lambda: f"last answer from node3:\n{last.get('resp')}", interval=0.02)
        note("record added on node1 answered by node3 over DNS", time.monotonic() - t0)
        resp = last["resp"]
        assert resp.flags & dns.flags.AA, f"node3's answer is not authoritative: {resp}"
        assert [rrset.ttl for rrset in resp.answer] == [60], resp
        for nd in (n1, n2):
            assert a_values(ask(nd)) == ["192.0.2.7"], f"{nd.name} does not answer {name}"
        g = rh.session(n3).get(f"{n3.url}/v1/records/{name}", timeout=15)
        assert g.status_code == 200, g.text[:300]
        assert [(x["type"], x["value"], x["ttl"]) for x in g.json()["records"]] == [("A", "192.0.2.7", 60)], g.json()

        t0 = time.monotonic()
        r = rh.session(n2).delete(f"{n2.url}/v1/records/{name}", timeout=15)
        assert r.status_code == 200, f"node2: DELETE /v1/records/{name} -> {r.status_code} {r.text[:300]}"
        assert r.json().get("removed") == 1, r.json()

        def gone_on(nd):
            def ok():
                resp = ask(nd)
                last[nd.name] = resp
                return resp.rcode() == dns.rcode.NXDOMAIN
            return ok
        for nd in (n1, n3):
            wait_until(gone_on(nd), DNS_BOUND_S, f"{nd.name} answers NXDOMAIN for {name} after removal on node2",
                       lambda nd=nd: f"last answer from {nd.name}:\n{last.get(nd.name)}", interval=0.02)
            soa = [rrset for rrset in last[nd.name].authority if rrset.rdtype == dns.rdatatype.SOA]
            assert soa, f"{nd.name}: NXDOMAIN without the SOA in authority: {last[nd.name]}"
        note("record removed on node2 -> NXDOMAIN on node1 and node3", time.monotonic() - t0)

    # ------------------------------------------------------------ quorum errors

    def test_unreachable_quorum_is_503_with_counts_and_one_still_works(self, c3):
        n1, n2, n3 = c3.nodes
        u = uniq()
        key = u + "q"
        other = u + "q-read"
        put_ok(n3, key, b"before")
        put_ok(n3, other, b"readable")
        stopped = [n1, n2]
        for nd in stopped:
            nd.send_signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            r = put(n3, key, b"at quorum")
            note("quorum PUT with 2 of 3 stopped: 503 after", time.monotonic() - t0)
            doc = assert_error(r, 503, "unavailable")
            assert "got 1 of 2 required" in doc["message"], f"503 message lacks the counts: {doc['message']!r}"
            print(f"[info] quorum PUT 503 message: {doc['message']}")

            t0 = time.monotonic()
            r = get(n3, other)
            note("quorum GET with 2 of 3 stopped: answer after", time.monotonic() - t0)
            doc = assert_error(r, 503, "unavailable")
            msg = doc["message"]
            print(f"[info] quorum GET 503 message: {msg}")
            assert ("got 1 of 2 required" in msg) or ("needs 2 of the 3" in msg and "only 1" in msg), (
                f"quorum-read 503 lacks the counts: {msg!r}")

            t0 = time.monotonic()
            r = put(n3, key, b"written at one", consistency="one")
            note("PUT at consistency=one with 2 of 3 stopped", time.monotonic() - t0)
            assert r.status_code == 200, f"consistency=one PUT -> {r.status_code} {r.text[:400]}"
            assert value_of(n3, key, consistency="one") == b"written at one"
            assert value_of(n3, other, consistency="one") == b"readable"
        finally:
            for nd in stopped:
                if nd.stopped:
                    nd.send_signal(signal.SIGCONT)

        t0 = time.monotonic()
        c3.wait_all_alive(timeout=30, what="after SIGCONT")
        note("after SIGCONT: all alive again", time.monotonic() - t0)

        def quorum_everywhere():
            return all(value_of(nd, key) == b"written at one" for nd in c3.nodes)
        wait_timed(quorum_everywhere, RECOVER_BOUND_S, "value written at one readable at quorum on every node",
                   describe_reads(c3.nodes, key, consistency="quorum"))
        wait_timed(all_read_one(c3.nodes, key, b"written at one"), RECOVER_BOUND_S,
                   "value written at one on every replica (hints / read repair)",
                   describe_reads(c3.nodes, key))
        # quorum and all work again
        put_ok(n1, key, b"after", consistency="quorum")
        put_ok(n2, u + "all", b"all", consistency="all")
        for nd in c3.nodes:
            assert value_of(nd, key) == b"after"
            assert value_of(nd, u + "all", consistency="one") == b"all", f"{nd.name} lacks a write acked at all"


# ======================================================================
# five nodes: resilience


@pytest.fixture
def cluster5():
    c = Cluster(5, preset=PRESET)
    try:
        t0 = time.monotonic()
        c.start(timeout=40)
        wait_owners_normal(c)
        note("5 nodes started, all alive and normal owners", time.monotonic() - t0)
        yield c
    finally:
        drop_sessions()
        c.cleanup()


def test_resilience_kill_one_of_five_write_restart_catch_up(cluster5):
    c = cluster5
    u = uniq()
    batch_a = {f"{u}a/{i:03d}": f"A{i} ".encode() + bytes([i, 0, 255 - i]) for i in range(100)}
    batch_b = {f"{u}b/{i:03d}": f"B{i} ".encode() + bytes([i, 10, 13]) for i in range(100)}
    for i, (key, value) in enumerate(batch_a.items()):
        put_ok(c.nodes[i % 5], key, value)

    victim = c.nodes[3]
    survivors = [nd for nd in c.nodes if nd is not victim]
    victim.kill()

    failed = []
    for i, (key, value) in enumerate(batch_b.items()):
        r = put(survivors[i % 4], key, value)
        if r.status_code != 200:
            failed.append((survivors[i % 4].name, key, r.status_code, r.text[:200]))
    assert not failed, f"{len(failed)} of 100 quorum writes with one of five nodes down failed: {failed[:5]}"

    everything = {**batch_a, **batch_b}
    for nd in survivors:
        wrong = [(k, short(v2)) for k, v in everything.items() if (v2 := value_of(nd, k)) != v]
        assert not wrong, f"{nd.name} (quorum) misses or differs on {len(wrong)} keys, e.g. {wrong[:5]}"

    # which keys the victim holds (asked of a survivor; a dead owner stays an owner)
    owned = []
    for key in everything:
        doc = owners_of(survivors[0], key)
        ids = [r["id"] for r in doc["replicas"]]
        assert len(ids) == 3, f"RF 3 on 5 nodes: {key!r} has {doc['replicas']}"
        if victim.id in ids:
            rep = next(r for r in doc["replicas"] if r["id"] == victim.id)
            assert rep["owner_state"] == "normal", f"a killed owner must stay an owner: {rep}"
            owned.append(key)
    print(f"[info] victim {victim.name} is a replica of {len(owned)} of 200 keys "
          f"({sum(k in batch_a for k in owned)} of A, {sum(k in batch_b for k in owned)} of B)")
    assert owned, "the victim owns none of 200 keys: placement is not spreading"

    t0 = time.monotonic()
    c.restart(victim, wait_alive=True, timeout=30)
    alive_after = time.monotonic() - t0
    note("restarted node alive for everyone", alive_after)
    wait_owners_normal(c)
    # The victim itself routes the same way and holds these keys.
    for key in owned[:10]:
        ids = [r["id"] for r in owners_of(victim, key)["replicas"]]
        assert victim.id in ids, f"{victim.name} does not list itself as a replica of {key!r}: {ids}"

    # Every read, even at consistency=one, repairs the replicas it read from
    # once all have answered, so polling the victim would let read repair do
    # the work of the hints. First wait (without reading the victim) until
    # the survivors have no hints left; then read each owned key once.
    hint_state = {}

    def hints_delivered():
        hint_state["pending"] = {nd.name: rh.metric(nd, "meshkv_hints_pending") for nd in survivors}
        hint_state["replayed"] = {nd.name: rh.metric(nd, "meshkv_hints_replayed_total") for nd in survivors}
        return sum(hint_state["pending"].values()) == 0 and sum(hint_state["replayed"].values()) > 0
    hint_error = None
    try:
        wait_until(hints_delivered, HINT_BOUND_S, "survivors replayed their hints for the victim "
                   "(meshkv_hints_pending == 0 and meshkv_hints_replayed_total > 0)",
                   lambda: f"hint metrics: {hint_state}", interval=0.2)
        note("restart -> survivors' hints replayed", time.monotonic() - t0)
    except AssertionError as e:
        hint_error = str(e)
    print(f"[info] hint metrics on survivors: {hint_state}")

    first_miss = [k for k in owned if value_of(victim, k, consistency="one") != everything[k]]
    note("restart -> first consistency=one pass over the victim's keys done", time.monotonic() - t0)
    later = None
    if first_miss:
        def victim_has_all():
            victim_has_all.missing = [k for k in first_miss
                                      if value_of(victim, k, consistency="one") != everything[k]]
            return not victim_has_all.missing
        victim_has_all.missing = first_miss
        try:
            wait_until(victim_has_all, REPLICA_BOUND_S, "victim repaired by reads")
            later = "all of them appeared afterwards (read repair of the polling reads)"
        except AssertionError:
            later = f"{len(victim_has_all.missing)} still missing after {REPLICA_BOUND_S}s more of reads"
    assert not first_miss, (
        f"{victim.name} restarted: {len(first_miss)} of its {len(owned)} keys "
        f"({sum(k in batch_a for k in first_miss)} of A, {sum(k in batch_b for k in first_miss)} of B) were not "
        f"in its own replica at the first consistency=one read, e.g. {[k[len(u):] for k in first_miss[:8]]}; "
        f"{later}; hint wait: {hint_error or 'ok'}")
    assert hint_error is None, hint_error

    # everything at quorum through the restarted node too
    wrong = [k for k, v in everything.items() if value_of(victim, k) != v]
    assert not wrong, f"{victim.name} (quorum) misses {len(wrong)} keys: {wrong[:5]}"

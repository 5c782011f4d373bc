"""Node roles (issue 4, "Sync policy ... node roles"): a `replica_only` node
owns and serves data but refuses client writes with a clear error; a
`reject_local_writes` node stores nothing and coordinates every request to
the owners."""
from __future__ import annotations

import pytest

import cluster_harness as ch
import replication_helpers as rh


def with_role(nd: ch.ClusterNode, role: str) -> ch.ClusterNode:
    original = nd.config_text
    nd.config_text = lambda: original().replace("[node]\n", f'[node]\nrole = "{role}"\n', 1)
    return nd


@pytest.fixture(scope="module")
def cluster():
    c = ch.Cluster(3)
    with_role(c.nodes[2], "replica_only")
    c.start()
    rh.wait_owners_normal(c)
    yield c
    c.cleanup()


def test_replica_only_refuses_client_writes_but_holds_and_serves_data(cluster):
    writer, _, replica_only = cluster.nodes
    assert rh.status(replica_only)["role"] == "replica_only"
    r = rh.put(replica_only, "ro-key", b"v")
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "conflict"
    assert "replica_only" in r.json()["message"] and "another node" in r.json()["message"]
    r = rh.batch(replica_only, [rh.put_op("ro-batch", b"v")])
    assert r.status_code == 409, r.text
    r = rh.delete(replica_only, "ro-key")
    assert r.status_code == 409, r.text
    # Nothing was written anywhere.
    assert rh.value_of(writer, "ro-key") is None
    # It still owns data and serves reads.
    rh.put_ok(writer, "shared", b"from node1")
    assert rh.value_of(replica_only, "shared") == b"from node1"
    assert rh.ownership(replica_only)["self"] == "normal"
    replicas = {m["id"] for m in rh.owners_of(writer, "shared")["replicas"]}
    assert replica_only.id in replicas or len(replicas) == 3


def test_reject_local_writes_node_stores_nothing_and_coordinates(cluster):
    router = cluster.add_extra("router")
    with_role(router, "reject_local_writes")
    router.start(seeds=[cluster.nodes[0].cluster_addr])
    ch.wait_until(lambda: ch.states_of(cluster.nodes[0].members()).get(router.id) == "alive", 20,
                  "the router joins")
    # It learns the owners (ownership exchange, every 500 ms) but never
    # becomes one, so no key is ever placed on it.
    ch.wait_until(lambda: rh.ownership(router)["nodes"]["normal"] == 3, 10,
                  "the router learns the three owners")
    assert rh.ownership(router)["self"] is None
    for i in range(20):
        key = f"via-router-{i}"
        rh.put_ok(router, key, b"v%d" % i)
        assert rh.value_of(cluster.nodes[1], key) == b"v%d" % i
        assert rh.value_of(router, key) == b"v%d" % i
        owners = rh.owners_of(router, key)
        assert router.id not in {m["id"] for m in owners["replicas"] + owners["pending_replicas"]}
    router.stop()

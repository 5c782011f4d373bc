"""Helpers for the black-box replication tests (issue 4): per-node KV calls
with an explicit consistency level, ownership waits, /v1/owners look-ups,
paged listing, hint metrics.

Every call goes to one node's HTTP port with the admin token; nothing here
retries on its own (a test polls with cluster_harness.wait_until and states
the bound it waits for).
"""
from __future__ import annotations

import json
import time

import requests

from cluster_harness import ADMIN, Cluster, ClusterNode, wait_until
from harness import b64, metric_value, parse_metrics, qkey

# A replica call has a 5 s deadline (coordinator.h request_deadline_ms); a
# client must wait longer than that to see the coordinator's own answer.
HTTP_TIMEOUT = 15.0
# How long ownership may take to settle on an empty cluster ("seconds").
OWNERSHIP_TIMEOUT = 30.0

_SESSIONS: dict[str, requests.Session] = {}


def session(nd: ClusterNode) -> requests.Session:
    s = _SESSIONS.get(nd.url)
    if s is None:
        s = requests.Session()
        s.trust_env = False
        s.headers["Authorization"] = f"Bearer {ADMIN}"
        _SESSIONS[nd.url] = s
    return s


def drop_sessions():
    for s in _SESSIONS.values():
        s.close()
    _SESSIONS.clear()


def _params(ns=None, consistency=None, **extra) -> dict:
    p = {}
    if ns is not None:
        p["ns"] = ns
    if consistency is not None:
        p["consistency"] = consistency
    p.update({k: v for k, v in extra.items() if v is not None})
    return p


def put(nd: ClusterNode, key, value: bytes, ns=None, consistency=None, timeout=HTTP_TIMEOUT) -> requests.Response:
    if isinstance(value, str):
        value = value.encode()
    return session(nd).put(f"{nd.url}/v1/kv/{qkey(key)}", data=value, params=_params(ns, consistency),
                           timeout=timeout)


def get(nd: ClusterNode, key, ns=None, consistency=None, timeout=HTTP_TIMEOUT) -> requests.Response:
    return session(nd).get(f"{nd.url}/v1/kv/{qkey(key)}", params=_params(ns, consistency), timeout=timeout)


def delete(nd: ClusterNode, key, ns=None, consistency=None, timeout=HTTP_TIMEOUT) -> requests.Response:
    return session(nd).delete(f"{nd.url}/v1/kv/{qkey(key)}", params=_params(ns, consistency), timeout=timeout)


def batch(nd: ClusterNode, ops: list, ns=None, consistency=None, timeout=HTTP_TIMEOUT) -> requests.Response:
    body = {"ops": ops}
    if ns is not None:
        body["ns"] = ns
    if consistency is not None:
        body["consistency"] = consistency
    return session(nd).post(f"{nd.url}/v1/kv/batch", json=body, timeout=timeout)


def put_ok(nd, key, value, ns=None, consistency=None):
    r = put(nd, key, value, ns=ns, consistency=consistency)
    assert r.status_code == 200, (f"{nd.name}: PUT {key!r} ns={ns} consistency={consistency} -> "
                                  f"{r.status_code} {r.text[:400]}")
    return r.json()


def value_of(nd, key, ns=None, consistency=None) -> bytes | None:
    """The value `nd` answers for `key` (None for 404); fails on anything else."""
    r = get(nd, key, ns=ns, consistency=consistency)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, (f"{nd.name}: GET {key!r} ns={ns} consistency={consistency} -> "
                                  f"{r.status_code} {r.text[:400]}")
    return r.content


def put_op(key: str, value: bytes) -> dict:
    return {"op": "put", "key": key, "value": b64(value)}


# ------------------------------------------------------------------ listing


def list_all(nd: ClusterNode, prefix: str, ns=None, limit: int = 50, consistency=None,
             max_pages: int = 1000) -> tuple[list[str], int]:
    """Every key under `prefix` as `nd` lists it, following next_cursor with
    pages of `limit`; returns (keys, pages). Each page must hold at most
    `limit` items."""
    keys, cursor, pages = [], None, 0
    while True:
        params = _params(ns, consistency, prefix=prefix, limit=str(limit), cursor=cursor, keys_only="true")
        r = session(nd).get(f"{nd.url}/v1/kv", params=params, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, f"{nd.name}: GET /v1/kv {params} -> {r.status_code} {r.text[:400]}"
        doc = r.json()
        pages += 1
        items = doc["items"]
        assert len(items) <= limit, f"{nd.name}: page {pages} has {len(items)} items, limit {limit}"
        keys += [it["key"] for it in items]
        cursor = doc.get("next_cursor")
        if not cursor:
            return keys, pages
        assert pages < max_pages, f"{nd.name}: listing {prefix!r} did not end after {pages} pages"


# ------------------------------------------------------------------ ownership


def status(nd: ClusterNode, timeout: float = 3.0) -> dict:
    r = session(nd).get(f"{nd.url}/v1/cluster/status", timeout=timeout)
    assert r.status_code == 200, f"{nd.name}: GET /v1/cluster/status -> {r.status_code} {r.text[:300]}"
    return r.json()


def ownership(nd: ClusterNode) -> dict:
    own = status(nd)["cluster"].get("ownership")
    assert own is not None, f"{nd.name}: /v1/cluster/status has no cluster.ownership"
    return own


def describe_ownership(cluster: Cluster, nodes=None) -> str:
    lines = ["ownership per node (self / nodes / digest):"]
    for nd in nodes if nodes is not None else cluster.running_nodes():
        try:
            own = ownership(nd)
            lines.append(f"  {nd.name} ({nd.id}): self={own.get('self')} nodes={own.get('nodes')} "
                         f"digest={own.get('digest')}")
        except Exception as e:  # noqa: BLE001 - describing a failure
            lines.append(f"  {nd.name}: no answer ({e!r})")
    return "\n".join(lines)


def owners_normal(cluster: Cluster, nodes=None) -> bool:
    """Every node answers ownership self == normal, counts `normal` equal to
    the cluster size, all show the same digest, and each is settled (knows
    every live owner routes by it)."""
    nodes = nodes if nodes is not None else cluster.nodes
    digests = set()
    for nd in nodes:
        own = ownership(nd)
        if own.get("self") != "normal":
            return False
        if (own.get("nodes") or {}).get("normal") != len(cluster.nodes):
            return False
        if own.get("settled") is False:
            return False
        digests.add(own.get("digest"))
    return len(digests) == 1


def wait_owners_normal(cluster: Cluster, nodes=None, timeout: float = OWNERSHIP_TIMEOUT) -> float:
    """Waits until every node (default: all of the cluster) is a normal owner
    and all agree on the ownership digest; returns the seconds it took."""
    t0 = time.monotonic()
    wait_until(lambda: owners_normal(cluster, nodes), timeout,
               f"every node a normal owner with one ownership digest ({len(cluster.nodes)} nodes)",
               lambda: describe_ownership(cluster, nodes), interval=0.2)
    return time.monotonic() - t0


def owners_of(nd: ClusterNode, key, ns=None) -> dict:
    r = session(nd).get(f"{nd.url}/v1/owners/{qkey(key)}", params=_params(ns), timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, f"{nd.name}: GET /v1/owners/{key} ns={ns} -> {r.status_code} {r.text[:300]}"
    return r.json()


def replica_nodes(cluster: Cluster, asker: ClusterNode, key, ns=None) -> list[ClusterNode]:
    """The cluster nodes `asker` lists as the key's replicas (rank order)."""
    doc = owners_of(asker, key, ns)
    by_id = {nd.id: nd for nd in cluster.nodes}
    out = []
    for rep in doc["replicas"]:
        assert rep["id"] in by_id, f"/v1/owners/{key} on {asker.name} names unknown replica {rep}: {doc}"
        out.append(by_id[rep["id"]])
    return out


# ------------------------------------------------------------------ metrics


def metric(nd: ClusterNode, name: str, **labels) -> float:
    r = session(nd).get(f"{nd.url}/metrics", timeout=5)
    assert r.status_code == 200, r.text[:300]
    return metric_value(parse_metrics(r.text), name, **labels)


def short(body: bytes | None, n: int = 80) -> str:
    if body is None:
        return "<404>"
    return repr(body[:n]) + ("..." if len(body) > n else "")


def dump_json(doc) -> str:
    return json.dumps(doc, indent=None, sort_keys=True)[:1500]

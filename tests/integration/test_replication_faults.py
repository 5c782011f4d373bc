"""Replication under faults (issue 4, "What must be shown": partitions and a
history check), black box with real processes.

1. test_partition_minority_503_majority_acks_heal_converges (network
   namespaces, root only; the namespace set-up is test_cluster_partition's
   NetLab, imported): 5 nodes, preset `local`, RF 3. node4 and node5 (the
   minority) are cut off from node1..node3 (the majority) with iptables DROP.

   The rule that makes every expectation certain: a quorum write of a key
   (W = 2 of its 3 replicas) coordinated on side S is acknowledged iff at
   least 2 of the key's replicas (GET /v1/owners/{key}, asked before the
   partition) are on S. Since the two sides split the nodes, exactly one side
   holds >= 2 replicas of every key: writes coordinated there get 200, writes
   coordinated on the other side get 503. Keys are chosen by their replica
   sets into groups:
     maj      (>= 2 replicas on the majority): first a minority write (503,
              "maybe applied": it is hinted and spreads after healing), then
              a majority write (200), and after both sides have declared the
              other dead, a second majority write (200). Final: the second
              majority value (it is newer in real time than everything else).
     del      (>= 2 on the majority): a minority write (503), then a
              majority DELETE (200). Final: absent everywhere (the hinted
              older write must not resurrect it).
     min503   (>= 2 on the majority): only a minority write (503). Final:
              the pre-partition value or the 503 write (maybe applied; with
              hints it is expected to win, which is printed, not asserted).
     minok    (2 replicas on the minority): a majority write (503), then a
              minority write (200), later a second minority write (200).
              Final: the second minority value.
     still    (any): written before the partition, untouched. Final: that.

2. test_history_kill_pause_restart_no_acked_write_lost (loopback): 5 nodes;
   4 client threads for WORKLOAD_S doing random PUT (unique values) / DELETE /
   GET at quorum on KEYS keys against random nodes, recording every operation
   (op, key, value, node, start, end, outcome); meanwhile a fault thread
   SIGKILLs a random node and restarts it 2-4 s later, and SIGSTOPs another
   for 1-2 s while the first is down (never more than one down + one paused).

The checker (both tests; sound, i.e. it never flags a correct LWW store):
  - a write is acknowledged when it got 200; 503 and errors are "maybe
    applied". Its version is stamped by the coordinator between the client's
    start and end, so if write B started after write A ended, B's version is
    higher (all nodes share this machine's clock; HLC). For a client timeout
    the end is taken as +inf (a paused coordinator could still stamp it).
  - final value of a key: T = the latest start of any acknowledged write to
    it; the final value must be the value of a write (acked or not; DELETE =
    absent) whose end >= T — i.e. not one that some acknowledged write
    started strictly after. With no acknowledged write, "absent" (never
    written) is also allowed. This contains "the last acknowledged write by
    completion order" and every write that started after it completed.
  - quorum reads during the run (history test): a 200/404 must return a
    value some write to that key produced, and must not be stale: if every
    write that could have produced it was superseded by an acknowledged
    write that ended before the read started, an acknowledged write was lost
    (R + W > N with fixed replica sets).
  - convergence: after the faults end and hints are delivered, every replica
    of every key is read ONCE at consistency=one on that replica's own HTTP
    (a replica answers from its own copy first). Every read repairs the
    replicas it read from once all have answered, so a later read of another
    replica could be "fixed" by an earlier read: the three replicas of a key
    are read concurrently, and meshkv_read_repairs_total of the three
    coordinators must not move (checked 0.15 s after the key's reads, and
    once more for the whole pass after 1 s). Then a quorum read gives the
    final value checked above, and all replicas must hold it.

Bounds (stated, `local` preset, n = 5):
  DEAD_BOUND   cluster_harness dead bound: 3*1 s + 18 s + 0.2 s = 21.2 s
               (+ POLL_SLACK_S) for each side to declare the other dead.
  HEAL_BOUND_S 45 s from flushing the rules until every node sees every
               node alive (rejoin_interval 2 s; as test_cluster_partition).
  ALIVE_BOUND_S 30 s after the last restart until every node sees every node
               alive and all are normal owners with one digest.
  HINT_BOUND_S 15 s after "everyone alive" until meshkv_hints_pending is 0 on
               every node (hints are replayed every 1 s to live targets, 1 MiB
               batches, 16 MiB/s; these tests queue a few KiB).
Measured times and counts are printed (-s).
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests

import harness
from cluster_harness import ADMIN, POLL_SLACK_S, Cluster, ClusterNode, states_of, wait_until
from harness import qkey
import replication_helpers as rh
from replication_helpers import drop_sessions, owners_of, wait_owners_normal

N = 5
PRESET = "local"
HEAL_BOUND_S = 45.0
ALIVE_BOUND_S = 30.0
HINT_BOUND_S = 15.0
# > the coordinator's 5 s replica deadline, so a client sees the coordinator's own answer.
CLIENT_TIMEOUT = 15.0
INF = float("inf")


# ======================================================================
# HTTP with one session per (thread, node)

_tls = threading.local()


def _session(nd: ClusterNode) -> requests.Session:
    cache = getattr(_tls, "sessions", None)
    if cache is None:
        cache = _tls.sessions = {}
    s = cache.get(nd.url)
    if s is None:
        s = requests.Session()
        s.trust_env = False
        s.headers["Authorization"] = f"Bearer {ADMIN}"
        cache[nd.url] = s
    return s


def http(nd: ClusterNode, method: str, key: str, value: bytes | None = None, consistency: str | None = None,
         timeout: float = CLIENT_TIMEOUT) -> requests.Response:
    params = {"consistency": consistency} if consistency else None
    return _session(nd).request(method, f"{nd.url}/v1/kv/{qkey(key)}", data=value, params=params,
                                timeout=timeout)


def repairs_of(nodes) -> float:
    return sum(rh.metric(nd, "meshkv_read_repairs_total") for nd in nodes)


def hints_pending(nodes) -> dict[str, float]:
    return {nd.name: rh.metric(nd, "meshkv_hints_pending") for nd in nodes}


def short(v) -> str:
    if v is None:
        return "<absent>"
    return repr(v[:60]) + ("..." if len(v) > 60 else "")


# ======================================================================
# history and checker


@dataclass
class Op:
    client: str
    kind: str            # put | delete | get
    key: str
    value: bytes | None  # put: the value written; get: the value read (None = 404)
    node: str
    start: float
    end: float = 0.0
    outcome: str = ""    # ok | 404 (get) | 503 | timeout | error:<...> | http <code>
    version: str = ""
    detail: str = ""

    @property
    def acked(self) -> bool:
        return self.kind != "get" and self.outcome == "ok"

    @property
    def write_end(self) -> float:
        """Latest moment the write's version can have been stamped."""
        return INF if self.outcome == "timeout" else self.end

    def line(self, t0: float) -> str:
        end = f"{self.end - t0:8.3f}" if self.end else "     ..."
        val = short(self.value) if self.kind != "delete" else ""
        extra = f" v={self.version}" if self.version else ""
        extra += f" ({self.detail[:120]})" if self.detail and self.outcome != "ok" else ""
        return (f"  [{self.start - t0:8.3f} .. {end}] {self.client:>6} {self.kind:6} via {self.node:5} "
                f"{val:28} -> {self.outcome}{extra}")


def do_op(client: str, nd: ClusterNode, kind: str, key: str, value: bytes | None = None,
          consistency: str | None = None) -> Op:
    op = Op(client, kind, key, value if kind == "put" else None, nd.name, time.monotonic())
    method = {"put": "PUT", "delete": "DELETE", "get": "GET"}[kind]
    try:
        r = http(nd, method, key, value if kind == "put" else None, consistency)
    except requests.Timeout as e:
        op.end, op.outcome, op.detail = time.monotonic(), "timeout", repr(e)
        return op
    except requests.RequestException as e:
        op.end, op.outcome, op.detail = time.monotonic(), "error:" + type(e).__name__, repr(e)[:300]
        return op
    op.end = time.monotonic()
    op.version = r.headers.get("X-Meshkv-Version", "")
    if r.status_code == 200:
        op.outcome = "ok"
        if kind == "get":
            op.value = r.content
    elif r.status_code == 404 and kind == "get":
        op.outcome, op.value = "404", None
    elif r.status_code == 503:
        op.outcome, op.detail = "503", r.text[:300]
    else:
        op.outcome, op.detail = f"http {r.status_code}", r.text[:300]
    return op


class History:
    def __init__(self):
        self.ops: list[Op] = []
        self.events: list[tuple[float, str]] = []  # faults
        self.lock = threading.Lock()
        self.t0 = time.monotonic()

    def add(self, op: Op):
        with self.lock:
            self.ops.append(op)

    def event(self, what: str):
        with self.lock:
            self.events.append((time.monotonic(), what))

    def of(self, key: str) -> list[Op]:
        return sorted((o for o in self.ops if o.key == key), key=lambda o: o.start)

    def writes(self, key: str) -> list[Op]:
        return [o for o in self.of(key) if o.kind != "get"]

    def describe_key(self, key: str, limit: int = 400) -> str:
        ops = self.of(key)
        lines = [f"history of {key!r} ({len(ops)} ops; times in s from the start):"]
        lines += [o.line(self.t0) for o in ops[-limit:]]
        if self.events:
            lines.append("faults: " + "; ".join(f"{t - self.t0:.2f} {w}" for t, w in self.events))
        return "\n".join(lines)

    def counts(self) -> str:
        c = Counter((o.kind, o.outcome) for o in self.ops)
        parts = [f"{k}/{o}={n}" for (k, o), n in sorted(c.items())]
        acks = sum(1 for o in self.ops if o.acked)
        return f"{len(self.ops)} ops, {acks} acknowledged writes; " + " ".join(parts)


def allowed_final(writes: list[Op]) -> tuple[list[Op], bool]:
    """(writes that may be the final state, whether 'never written' may be)."""
    acked = [w for w in writes if w.acked]
    if not acked:
        return list(writes), True
    t = max(w.start for w in acked)
    return [w for w in writes if w.write_end >= t], False


def check_final(hist: History, key: str, final: bytes | None) -> str | None:
    """None if `final` (None = absent) is allowed for `key`, else the anomaly."""
    writes = hist.writes(key)
    candidates, initial_ok = allowed_final(writes)
    if final is None:
        if initial_ok or any(w.kind == "delete" for w in candidates):
            return None
    else:
        if any(w.kind == "put" and w.value == final for w in candidates):
            return None
    producer = [w for w in writes if (w.kind == "put" and w.value == final) or (final is None and w.kind == "delete")]
    acked = [w for w in writes if w.acked]
    last = max(acked, key=lambda w: w.end) if acked else None
    why = "no write ever produced it" if not producer and final is not None else (
        "it was superseded by an acknowledged write that started after it ended")
    return (f"final value of {key!r} is {short(final)}: {why}; the last acknowledged write (completion order) "
            f"is {last.kind + ' ' + short(last.value) if last else 'none'}; allowed: "
            f"{sorted({short(w.value) if w.kind == 'put' else '<absent>' for w in candidates})}"
            f"{' + <absent>' if initial_ok else ''}")


def check_reads(hist: History, key: str) -> list[str]:
    """Quorum reads (200/404) must return a written value that was not
    superseded by an acknowledged write completed before the read started."""
    ops = hist.of(key)
    writes = [o for o in ops if o.kind != "get"]
    acked = [w for w in writes if w.acked]
    out = []
    for r in ops:
        if r.kind != "get" or r.outcome not in ("ok", "404"):
            continue
        if r.value is None:
            sources = [w for w in writes if w.kind == "delete" and w.start < r.end]
            initial = True
        else:
            sources = [w for w in writes if w.kind == "put" and w.value == r.value and w.start < r.end]
            initial = False
            if not sources:
                out.append(f"read via {r.node} at {r.start - hist.t0:.3f} returned {short(r.value)}, "
                           f"which no write to this key had produced")
                continue

        def superseded(src_end: float) -> Op | None:
            for w in acked:
                if w.start > src_end and w.end < r.start:
                    return w
            return None
        blockers = [superseded(-INF)] if initial else []
        blockers += [superseded(s.write_end) for s in sources]
        if all(b is not None for b in blockers):
            b = blockers[0]
            out.append(f"STALE quorum read via {r.node} [{r.start - hist.t0:.3f} .. {r.end - hist.t0:.3f}] "
                       f"returned {short(r.value)} although the acknowledged {b.kind} {short(b.value)} "
                       f"[{b.start - hist.t0:.3f} .. {b.end - hist.t0:.3f}] had superseded it before the read")
    return out


def read_replicas(key: str, replicas: list[ClusterNode]) -> tuple[dict, float]:
    """One consistency=one read per replica (concurrently), and how many read
    repairs their coordinators counted (0.15 s later)."""
    before = repairs_of(replicas)

    def one(nd):
        r = http(nd, "GET", key, consistency="one")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            return f"<HTTP {r.status_code}: {r.text[:200]}>"
        return r.content
    with cf.ThreadPoolExecutor(len(replicas)) as ex:
        values = dict(zip([nd.name for nd in replicas], ex.map(one, replicas)))
    time.sleep(0.15)
    return values, repairs_of(replicas) - before


def check_convergence(c: Cluster, hist: History, replicas_of: dict[str, list[ClusterNode]], rng: random.Random,
                      expect=None) -> tuple[list[str], dict]:
    """Reads every replica of every key once, then a quorum read; returns
    (anomalies, {key: final value}). `expect(key, final)` may add a stricter
    per-key expectation (returns a message or None)."""
    anomalies, finals = [], {}
    total_before = repairs_of(c.nodes)
    per_key_repairs = 0.0
    for key, replicas in replicas_of.items():
        values, repairs = read_replicas(key, replicas)
        per_key_repairs += repairs
        q = http(rng.choice(c.nodes), "GET", key)
        assert q.status_code in (200, 404), f"final quorum GET {key!r} -> {q.status_code} {q.text[:300]}"
        final = q.content if q.status_code == 200 else None
        finals[key] = final
        problems = []
        bad = check_final(hist, key, final)
        if bad:
            problems.append("LOST/WRONG: " + bad)
        if expect is not None and (msg := expect(key, final)):
            problems.append(msg)
        differing = {n: short(v) for n, v in values.items() if v != final}
        if differing or repairs:
            problems.append(f"NOT CONVERGED: replicas at consistency=one (one read each): "
                            f"{ {n: short(v) for n, v in values.items()} }, quorum value {short(final)}, "
                            f"read repairs counted while reading them: {repairs:.0f}")
        if problems:
            anomalies.append("\n".join(problems) + "\n" + hist.describe_key(key))
    time.sleep(1.0)
    total = repairs_of(c.nodes) - total_before
    if total > per_key_repairs:
        anomalies.append(f"{total - per_key_repairs:.0f} read repairs were counted during the convergence pass "
                         f"beyond those attributed to single keys: some replica was stale")
    return anomalies, finals


def wait_hints_delivered(nodes, bound: float) -> float:
    state = {}

    def done():
        state["pending"] = hints_pending(nodes)
        return sum(state["pending"].values()) == 0
    t0 = time.monotonic()
    wait_until(done, bound, f"meshkv_hints_pending == 0 on every node (bound {bound}s)",
               lambda: f"hints pending: {state.get('pending')}", interval=0.2)
    return time.monotonic() - t0


def replayed(nodes) -> float:
    return sum(rh.metric(nd, "meshkv_hints_replayed_total") for nd in nodes)


# ======================================================================
# 1. partition (network namespaces)


@pytest.fixture
def netlab():
    # NetLab / skip_reason come from test_cluster_partition (imported, not copied).
    from test_cluster_partition import NetLab, skip_reason
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    lab = NetLab(N)
    try:
        lab.up()
        lab.wait_reachable()
        yield lab
    finally:
        lab.down()


GROUP_SIZE = 8


@pytest.mark.slow
def test_partition_minority_503_majority_acks_heal_converges(netlab):
    from test_cluster_partition import CLUSTER_PORT, HTTP_PORT
    c = Cluster(N, preset=PRESET, netns=netlab.namespaces, hosts=netlab.ips,
                http_port=HTTP_PORT, cluster_port=CLUSTER_PORT)
    hist = History()
    rng = random.Random()
    try:
        t_start = time.monotonic()
        c.start(timeout=40)
        wait_owners_normal(c)
        print(f"[timing] 5 nodes in namespaces up, normal owners: {time.monotonic() - t_start:.1f}s")
        majority, minority = c.nodes[:3], c.nodes[3:]
        maj_ids, min_ids = {nd.id for nd in majority}, {nd.id for nd in minority}
        by_id = {nd.id: nd for nd in c.nodes}

        # -- choose keys by replica set
        u = f"pf-{uuid.uuid4().hex[:8]}/"
        groups = {g: [] for g in ("maj", "del", "min503", "minok", "still")}
        replicas_of: dict[str, list[ClusterNode]] = {}
        i = 0
        while any(len(v) < GROUP_SIZE for v in groups.values()):
            assert i < 2000, f"could not fill the key groups: { {g: len(v) for g, v in groups.items()} }"
            key = f"{u}{i:04d}"
            i += 1
            ids = [r["id"] for r in owners_of(c.nodes[0], key)["replicas"]]
            assert len(ids) == 3, f"RF 3: {key} has {ids}"
            on_maj = sum(x in maj_ids for x in ids)
            if on_maj >= 2:
                g = next((g for g in ("maj", "del", "min503", "still") if len(groups[g]) < GROUP_SIZE), None)
            else:
                g = "minok" if len(groups["minok"]) < GROUP_SIZE else (
                    "still" if len(groups["still"]) < GROUP_SIZE else None)
            if g is None:
                continue
            groups[g].append(key)
            replicas_of[key] = [by_id[x] for x in ids]
        group_of = {k: g for g, ks in groups.items() for k in ks}
        print(f"[info] rule: a quorum write coordinated on a side is acknowledged iff >= 2 of the key's 3 "
              f"replicas are on that side; {i} candidate keys looked up to fill 5 groups of {GROUP_SIZE}")

        def run(batch, expect_status: str, what: str):
            """batch = [(client, node, kind, key, value)] run in parallel; every
            outcome must be `expect_status`."""
            with cf.ThreadPoolExecutor(len(batch)) as ex:
                ops = list(ex.map(lambda a: do_op(a[0], a[1], a[2], a[3], a[4]), batch))
            for op in ops:
                hist.add(op)
            bad = [op for op in ops if op.outcome != expect_status
                   or (expect_status == "503" and '"unavailable"' not in op.detail)]
            assert not bad, (f"{what}: {len(bad)} of {len(ops)} writes did not get {expect_status}:\n"
                             + "\n".join(op.line(hist.t0) + " " + op.detail[:300] for op in bad[:10]))
            took = max(op.end for op in ops) - min(op.start for op in ops)
            print(f"[timing] {what}: {len(ops)} writes, all {expect_status}, in {took:.2f}s")
            return ops

        def val(tag, key):
            return f"{tag}:{key}:{uuid.uuid4().hex[:6]}".encode()

        # -- before: every key written (acked) and on all its replicas
        run([("pre", rng.choice(c.nodes), "put", k, val("v0", k)) for k in replicas_of], "ok",
            "before the partition: quorum writes of every key")

        # -- partition: node4, node5 | node1..node3
        for a in (3, 4):
            for b in (0, 1, 2):
                netlab.drop_between(a, b)
        t_part = time.monotonic()
        hist.event("partition {node4,node5} | {node1,node2,node3}")

        # phase 1: the side without 2 replicas writes (503 expected, maybe applied)
        phase1 = [("min", rng.choice(minority), "put", k, val("min503", k))
                  for k in groups["maj"] + groups["del"] + groups["min503"]]
        phase1 += [("maj", rng.choice(majority), "put", k, val("maj503", k)) for k in groups["minok"]]
        run(phase1, "503", "phase 1 (right after the cut): quorum writes on the side with < 2 replicas")

        # phase 2: the side with 2 replicas writes / deletes (200 expected)
        phase2 = [("maj", rng.choice(majority), "put", k, val("maj1", k)) for k in groups["maj"]]
        phase2 += [("maj", rng.choice(majority), "delete", k, None) for k in groups["del"]]
        phase2 += [("min", rng.choice(minority), "put", k, val("min1", k)) for k in groups["minok"]]
        run(phase2, "ok", "phase 2: quorum writes/deletes on the side with >= 2 replicas")

        # both sides declare the other dead
        bound = c.preset.dead_bound_ms(N) / 1000.0

        def sides_dead():
            for side, other in ((majority, minority), (minority, majority)):
                for name, view in c.views(side).items():
                    if view is None:
                        return False
                    st = states_of(view)
                    if any(st.get(o.id) != "dead" for o in other):
                        return False
            return True
        wait_until(sides_dead, bound + POLL_SLACK_S, f"each side to see the other dead (bound {bound:.1f}s)",
                   c.describe, interval=0.5)
        print(f"[timing] both sides see the other dead {time.monotonic() - t_part:.1f}s after the cut "
              f"(bound {bound:.1f}s)")

        # phase 3: with the other side known dead
        r = do_op("min", minority[0], "put", groups["min503"][0], val("min503b", groups["min503"][0]))
        hist.add(r)
        assert r.outcome == "503", f"minority write with the majority dead: {r.line(hist.t0)} {r.detail}"
        print(f"[timing] minority quorum write with the majority known dead: 503 in {r.end - r.start:.2f}s")
        phase3 = [("maj", rng.choice(majority), "put", k, val("maj2", k)) for k in groups["maj"]]
        phase3 += [("min", rng.choice(minority), "put", k, val("min2", k)) for k in groups["minok"]]
        run(phase3, "ok", "phase 3 (other side dead): quorum writes on the side with >= 2 replicas")
        # majority quorum reads see the majority's values
        for k in groups["maj"][:3] + groups["del"][:3]:
            op = do_op("maj", rng.choice(majority), "get", k)
            hist.add(op)
            last = [w for w in hist.writes(k) if w.acked][-1]
            assert op.outcome in ("ok", "404") and op.value == last.value, (
                f"majority quorum read during the partition: {op.line(hist.t0)}\n{hist.describe_key(k)}")

        # -- heal
        replayed_before = replayed(c.nodes)
        netlab.heal()
        t_heal = time.monotonic()
        hist.event("heal")
        c.wait_all_alive(timeout=HEAL_BOUND_S, what=f"healed partition (bound {HEAL_BOUND_S}s)")
        took_alive = time.monotonic() - t_heal
        wait_owners_normal(c)
        took_hints = wait_hints_delivered(c.nodes, HINT_BOUND_S)
        print(f"[timing] heal -> everyone alive {took_alive:.1f}s (bound {HEAL_BOUND_S}s); -> hints delivered "
              f"{took_hints:.1f}s more (bound {HINT_BOUND_S}s); hints replayed: "
              f"{replayed(c.nodes) - replayed_before:.0f}")

        # -- convergence
        def expect(key, final):
            g = group_of[key]
            acked = [w for w in hist.writes(key) if w.acked]
            if g in ("maj", "minok", "still", "del"):
                want = acked[-1].value  # None for a delete
                if final != want:
                    return f"EXPECTED ({g}): {short(want)}, the last acknowledged write"
            return None
        anomalies, finals = check_convergence(c, hist, replicas_of, rng, expect)
        won = Counter("503 write" if (v or b"").startswith(b"min503") else "pre-partition value"
                      for k, v in finals.items() if group_of[k] == "min503")
        print(f"[info] min503 keys (only a 503 write on the minority): final = {dict(won)}")
        print(f"[info] {hist.counts()}")
        assert not anomalies, (f"{len(anomalies)} of {len(replicas_of)} keys wrong after healing:\n\n"
                               + "\n\n".join(anomalies[:8]))
        print(f"[timing] partition test total {time.monotonic() - t_start:.1f}s")
    finally:
        drop_sessions()
        c.cleanup()


# ======================================================================
# 2. history check (loopback)

KEYS = 40
CLIENTS = 4
WORKLOAD_S = float(os.environ.get("MESHKV_HISTORY_SECONDS", "20"))


@pytest.mark.slow
def test_history_kill_pause_restart_no_acked_write_lost():
    c = Cluster(N, preset=PRESET)
    hist = History()
    seed = int(os.environ.get("MESHKV_HISTORY_SEED", str(random.randrange(1 << 30))))
    print(f"[info] seed {seed} (MESHKV_HISTORY_SEED to replay the same choices)")
    try:
        t_start = time.monotonic()
        c.start(timeout=40)
        wait_owners_normal(c)
        print(f"[timing] 5 nodes up, normal owners: {time.monotonic() - t_start:.1f}s")
        u = f"hf-{uuid.uuid4().hex[:8]}/"
        keys = [f"{u}k{i:02d}" for i in range(KEYS)]
        replicas_of = {k: rh.replica_nodes(c, c.nodes[0], k) for k in keys}

        stop = threading.Event()
        errors: list[BaseException] = []
        hist.t0 = time.monotonic()
        deadline = hist.t0 + WORKLOAD_S

        def client(cid: int):
            rng = random.Random(seed * 31 + cid)
            n = 0
            name = f"c{cid}"
            try:
                while time.monotonic() < deadline:
                    key = rng.choice(keys)
                    nd = rng.choice(c.nodes)
                    x = rng.random()
                    if x < 0.45:
                        n += 1
                        hist.add(do_op(name, nd, "put", key, f"{name}-{n}".encode()))
                    elif x < 0.60:
                        hist.add(do_op(name, nd, "delete", key))
                    else:
                        hist.add(do_op(name, nd, "get", key))
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)

        def faults():
            rng = random.Random(seed)
            try:
                while time.monotonic() < deadline - 4.5 and not stop.is_set():
                    victim = rng.choice(c.nodes)
                    down_for = rng.uniform(2, 4)
                    t_kill = time.monotonic()
                    victim.kill()
                    hist.event(f"SIGKILL {victim.name}")
                    time.sleep(rng.uniform(0.2, 0.6))
                    paused = rng.choice([nd for nd in c.nodes if nd is not victim])
                    paused.send_signal(signal.SIGSTOP)
                    hist.event(f"SIGSTOP {paused.name}")
                    try:
                        time.sleep(rng.uniform(1, 2))
                    finally:
                        paused.send_signal(signal.SIGCONT)
                        hist.event(f"SIGCONT {paused.name}")
                    time.sleep(max(0.0, t_kill + down_for - time.monotonic()))
                    victim.start(seeds=c.seeds_except(victim), wait=True)
                    hist.event(f"restarted {victim.name} (healthy)")
                    time.sleep(rng.uniform(0.5, 1.5))
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
        threads.append(threading.Thread(target=faults, daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=WORKLOAD_S + 60)
        stop.set()
        assert not any(t.is_alive() for t in threads), "a client or the fault thread did not finish"
        assert not errors, f"client/fault thread failed: {errors[0]!r}"
        print(f"[timing] workload {time.monotonic() - hist.t0:.1f}s; faults: "
              + "; ".join(f"{t - hist.t0:.1f} {w}" for t, w in hist.events))
        print(f"[info] {hist.counts()}")

        # -- faults over: all running, alive, normal; hints delivered
        for nd in c.nodes:
            if nd.stopped and nd.running():
                nd.send_signal(signal.SIGCONT)
            if not nd.running():
                nd.start(seeds=c.seeds_except(nd))
        t_end = time.monotonic()
        c.wait_all_alive(timeout=ALIVE_BOUND_S, what=f"after the faults (bound {ALIVE_BOUND_S}s)")
        wait_owners_normal(c)
        took_alive = time.monotonic() - t_end
        took_hints = wait_hints_delivered(c.nodes, HINT_BOUND_S)
        print(f"[timing] faults over -> everyone alive, normal owners {took_alive:.1f}s (bound {ALIVE_BOUND_S}s)"
              f"; -> hints delivered {took_hints:.1f}s more (bound {HINT_BOUND_S}s); hints replayed in total "
              f"(since last restarts): {replayed(c.nodes):.0f}")

        # -- unexpected responses during the run
        unexpected = [o for o in hist.ops if o.outcome.startswith("http ")]
        # -- reads during the run
        read_anomalies = []
        for k in keys:
            for msg in check_reads(hist, k):
                read_anomalies.append(msg + "\n" + hist.describe_key(k))
        # -- final state and convergence
        anomalies, finals = check_convergence(c, hist, replicas_of, random.Random(seed))
        acked_keys = sum(1 for k in keys if any(w.acked for w in hist.writes(k)))
        print(f"[info] final: {sum(v is not None for v in finals.values())} keys present, "
              f"{sum(v is None for v in finals.values())} absent; {acked_keys} keys had acknowledged writes")
        report = []
        if anomalies:
            report.append(f"{len(anomalies)} of {KEYS} keys wrong after the faults (final value / convergence):\n\n"
                          + "\n\n".join(anomalies[:6]))
        if read_anomalies:
            report.append(f"{len(read_anomalies)} quorum reads during the run were wrong:\n\n"
                          + "\n\n".join(read_anomalies[:4]))
        if unexpected:
            report.append(f"{len(unexpected)} responses other than 200/404/503:\n"
                          + "\n".join(o.line(hist.t0) + " " + o.detail for o in unexpected[:10]))
        assert not report, f"seed {seed}; {hist.counts()}\n" + "\n\n".join(report)
        print(f"[timing] history test total {time.monotonic() - t_start:.1f}s")
    finally:
        drop_sessions()
        c.cleanup()

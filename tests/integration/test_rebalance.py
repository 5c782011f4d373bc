"""Rebalancing under load (issue 4: "join and decommission under a continuous
reader/writer: no quorum read misses an acknowledged key, partitions end up
on their new owners"), black box with real processes on loopback.

Spec under test (docs/design/0004-replication.md, Joining / Decommission):
keys map to 1024 partitions, replica sets are rendezvous-hashed over the
owners (RF 3 for `default`). A node joining a cluster that has owners is
`pending` (gets the writes of the partitions it will own, streams the rest in
through CatchUp, does not count for quorum), then `normal`. A decommissioned
node is `leaving` (writes of its partitions also go to their future
replicas), streams every entry it holds to the nodes that gain it, becomes
`removed` and exits. R + W > N on the replica sets throughout, so a quorum
read never misses an acknowledged write.

1. test_join_under_load[node4] and [node4+node5]: 3 nodes, PRELOAD keys at
   quorum; CLIENTS threads write new keys / overwrite / delete at quorum and
   read at quorum (half of the reads pick one of the 64 keys acknowledged
   last, and READ_BACK = 80 % of the acknowledged puts are read back at once
   through another node) through random nodes; then node4 alone, or node4 and node5
   together (the harder case: a partition can move to both joiners, so its
   old and new replica sets share one node), are started seeding node1. A
   joiner gets client traffic once it knows the owners. Load runs until the
   joiners are normal owners with one digest everywhere, then TAIL_S more.
2. test_decommission_one_of_five_under_load: 5 nodes, the same preload and
   load; `meshkv decommission` (the CLI) on one node chosen by the seed; the
   load goes on until its process has exited, then TAIL_S more (clients
   stop sending to it once it has exited).

Checks (both):
  - every response is 200/404 (reads) or 200 (writes), except requests sent
    to the decommissioned node after the decommission started (it drains and
    exits: errors and 503 are allowed there, and such writes count as "maybe
    applied");
  - quorum reads during the run (test_replication_faults.check_reads, which
    is sound for concurrent writers: values are unique per write, "<client>-
    <sequence>:<key>", and a read is stale only if EVERY write that could
    have produced what it returned (404 = never written / a delete) was
    superseded by an acknowledged write that ENDED before the read STARTED);
  - final state: every key with a history is read at quorum through EVERY
    remaining node and must be an allowed final value
    (test_replication_faults.check_final: the newest acknowledged write by
    completion order or one that started after it completed; absent after a
    delete);
  - placement: SAMPLE keys looked up with GET /v1/owners/{key} on every
    remaining node: three `normal` replicas, nothing pending, the same set
    everywhere. Join: each new node replicates RF/n of them (0.75 with 4
    nodes, 0.60 with 5), +- 0.2. Decommission: the removed node is nowhere,
    and every key that had it gained exactly one new replica.
  - the data is on the new owners: for every sampled key, each replica is
    read ONCE at consistency=one on that replica's own HTTP port (a
    coordinator asks R replicas, itself first, so a `one` read on a replica
    is its own copy; src/replication/coordinator.cc Read) and must hold the
    final quorum value; meshkv_read_repairs_total of the cluster must not
    move during this pass (a read-repaired replica would have passed only
    thanks to the read; with older binaries that asked every replica, a
    `one` read could repair the others). This pass comes before the quorum
    pass, which repairs what it reads. The
    new owners (joiners; the replica that replaced the removed node) are
    reported apart from the others. Anti-entropy (default config, every
    ~1 s) runs meanwhile, so this is an end-state check; the streaming itself
    shows in the joiners' cluster.ownership.rebalance (phase `done`, entries
    > 0) and meshkv_rebalance_entries_total > 0 (asserted last), and in the
    leaving node's status while it streams (`leaving` must be seen; the
    entries it reports are printed).
Bounds (stated, `local` preset, 2-core machine):
  JOIN_BOUND_S    30 s  from starting the joiner(s) until every node reports
                        them as `normal` with one ownership digest (join
                        after ~3 ownership ticks of 500 ms, catch-up of a
                        few hundred entries, ownership gossip every 500 ms).
  DECOM_EXIT_S    30 s  from `meshkv decommission` until the process exits
                        (1.5 s leaving delay, stream, removed pushed, drain).
  DECOM_SETTLE_S  15 s  after the exit until every remaining node is normal,
                        counts 4 normal + 1 removed, one digest.
MESHKV_REBALANCE_SEED replays the random choices (printed; timing is not
replayed). MESHKV_REBALANCE_EXTRA adds [replication] settings to every node
(e.g. 'anti_entropy_interval = "0s"' to see what the rebalancing alone does).
Measured times, counts and the wall-clock time of t = 0 (to match the node
logs, kept with MESHKV_KEEP_TMP=1) are printed (-s).
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict, deque

import pytest

from cluster_harness import ADMIN, Cluster, ClusterNode, run_ok, wait_until
import replication_helpers as rh
from replication_helpers import drop_sessions, ownership, wait_owners_normal
# The history checker of the fault tests (imported, not copied).
from test_replication_faults import History, check_final, check_reads, do_op, http, short

PRESET = "local"
PRELOAD = int(os.environ.get("MESHKV_REBALANCE_PRELOAD", "500"))
CLIENTS = 3
TAIL_S = 3.0
SAMPLE = 200
JOIN_BOUND_S = 30.0
DECOM_EXIT_S = 30.0
DECOM_SETTLE_S = 15.0
RF = 3
# Share of acknowledged puts read back at once (quorum) through another node.
READ_BACK = 0.8
# Optional extra [replication] settings for every node (e.g. to run with
# anti-entropy off: MESHKV_REBALANCE_EXTRA='anti_entropy_interval = "0s"').
EXTRA_REPLICATION = os.environ.get("MESHKV_REBALANCE_EXTRA", "")


def seed_of() -> int:
    seed = int(os.environ.get("MESHKV_REBALANCE_SEED", str(random.randrange(1 << 30))))
    print(f"[info] seed {seed} (MESHKV_REBALANCE_SEED to replay the same choices)")
    return seed


def configure(nd: ClusterNode) -> ClusterNode:
    if EXTRA_REPLICATION:
        nd.extra_cluster += f"\n[replication]\n{EXTRA_REPLICATION}\n"
    return nd


def new_cluster(n: int) -> Cluster:
    c = Cluster(n, preset=PRESET)
    for nd in c.nodes:
        configure(nd)
    return c


def add_member(c: Cluster, name: str) -> ClusterNode:
    """A new node of the cluster (same CA, key, preset), not started yet."""
    nd = configure(c.add_extra(name))
    c.extras.remove(nd)
    c.nodes.append(nd)
    return nd


# ======================================================================
# history and load


class KeyedHistory(History):
    """History with a per-key index (the checker asks for one key at a time)."""

    def __init__(self):
        super().__init__()
        self.by_key: dict[str, list] = defaultdict(list)

    def add(self, op):
        with self.lock:
            self.ops.append(op)
            self.by_key[op.key].append(op)

    def of(self, key):
        with self.lock:
            ops = list(self.by_key.get(key, ()))
        return sorted(ops, key=lambda o: o.start)

    def keys(self) -> list[str]:
        with self.lock:
            return list(self.by_key)


class Load:
    """CLIENTS threads of quorum traffic through random nodes of `targets`
    (replaced, never mutated, by the main thread)."""

    def __init__(self, hist: KeyedHistory, prefix: str, keys: list[str], targets: list[ClusterNode], seed: int):
        self.hist, self.prefix, self.seed = hist, prefix, seed
        self.keys = list(keys)                  # every key ever written (or about to be)
        self.recent: deque[str] = deque(maxlen=64)  # keys acknowledged last
        self.targets = list(targets)
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self.new_keys = 0

    def set_targets(self, targets: list[ClusterNode]):
        self.targets = list(targets)

    def _client(self, cid: int):
        rng = random.Random(self.seed * 7919 + cid)
        name, seq = f"c{cid}", 0
        try:
            while not self.stop_event.is_set():
                nd = rng.choice(self.targets)
                x = rng.random()
                if x < 0.55:
                    seq += 1
                    with self.lock:
                        if x < 0.25:
                            self.new_keys += 1
                            key = f"{self.prefix}n{cid}-{seq:06d}"
                            self.keys.append(key)
                        else:
                            key = rng.choice(self.keys)
                    op = do_op(name, nd, "put", key, f"{name}-{seq}:{key}".encode(), consistency="quorum")
                elif x < 0.60:
                    with self.lock:
                        key = rng.choice(self.keys)
                    op = do_op(name, nd, "delete", key, consistency="quorum")
                else:
                    with self.lock:
                        key = rng.choice(self.recent) if self.recent and rng.random() < 0.5 else rng.choice(self.keys)
                    op = do_op(name, nd, "get", key, consistency="quorum")
                self.hist.add(op)
                if op.acked:
                    with self.lock:
                        self.recent.append(op.key)
                    if op.kind == "put" and rng.random() < READ_BACK:
                        # read-your-write through another coordinator, at once
                        others = [o for o in self.targets if o.name != nd.name]
                        self.hist.add(do_op(name, rng.choice(others), "get", op.key, consistency="quorum"))
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            self.errors.append(e)

    def start(self):
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(CLIENTS)]
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=40)
        assert not any(t.is_alive() for t in self.threads), "a client thread did not finish"
        assert not self.errors, f"a client thread failed: {self.errors[0]!r}"


def preload(hist: KeyedHistory, nodes: list[ClusterNode], prefix: str, rng: random.Random) -> list[str]:
    keys = [f"{prefix}p{i:04d}" for i in range(PRELOAD)]
    picks = [(k, rng.choice(nodes)) for k in keys]
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(4) as ex:
        ops = list(ex.map(lambda a: do_op("pre", a[1], "put", a[0], f"pre-0:{a[0]}".encode(), "quorum"), picks))
    for op in ops:
        hist.add(op)
    bad = [op for op in ops if not op.acked]
    assert not bad, f"{len(bad)} of {PRELOAD} preload writes failed:\n" + "\n".join(
        op.line(hist.t0) + " " + op.detail[:200] for op in bad[:5])
    print(f"[timing] preload of {PRELOAD} keys at quorum: {time.monotonic() - t0:.1f}s")
    return keys


# ======================================================================
# checks


def unexpected_outcomes(hist: KeyedHistory, excused) -> list[str]:
    """Responses other than 200 / 404 (get) / 200 (writes), minus `excused(op)`."""
    bad = [o for o in hist.ops if o.outcome not in ("ok", "404") or (o.kind != "get" and o.outcome == "404")]
    return [o.line(hist.t0) + " " + o.detail[:300] for o in bad if not excused(o)]


def stale_reads(hist: KeyedHistory, c: Cluster) -> list[str]:
    """check_reads over every key; each anomaly with the key's replica set
    now (asked of the first running node) to show how the sets moved."""
    out = []
    names = {nd.id: nd.name for nd in c.nodes}
    asker = next(nd for nd in c.nodes if nd.running())
    for key in hist.keys():
        msgs = check_reads(hist, key)
        if not msgs:
            continue
        try:
            doc = rh.owners_of(asker, key)
            now = f"partition {doc['partition']}, replicas now " + str([names.get(r["id"], r["id"])
                                                                       for r in doc["replicas"]])
        except Exception as e:  # noqa: BLE001 - describing a failure
            now = f"replicas now: unknown ({e!r})"
        for msg in msgs:
            out.append(msg + f"\n{key!r}: {now}\n" + hist.describe_key(key, limit=40))
    return out


def print_run(hist: KeyedHistory, load: Load):
    t0_wall = time.time() - (time.monotonic() - hist.t0)
    wall = time.strftime("%H:%M:%S", time.gmtime(t0_wall)) + f".{int(t0_wall * 1000) % 1000:03d}"
    print(f"[timing] load {time.monotonic() - hist.t0:.1f}s (t = 0 is {wall} UTC in the node logs); events: "
          + "; ".join(f"{t - hist.t0:.2f} {w}" for t, w in hist.events))
    print(f"[info] {hist.counts()}; {load.new_keys} new keys")


def placements(nodes: list[ClusterNode], keys: list[str]) -> tuple[dict, list[str]]:
    """{key: [replica ids]} as every node in `nodes` reports it, and the
    problems: not RF normal replicas, something pending, nodes disagree."""
    out, problems = {}, []
    for key in keys:
        seen = {}
        for nd in nodes:
            doc = rh.owners_of(nd, key)
            reps = doc["replicas"]
            if len(reps) != RF or any(r["owner_state"] != "normal" for r in reps) or doc["pending_replicas"]:
                problems.append(f"{nd.name}: /v1/owners/{key}: {rh.dump_json(doc)}")
            seen[nd.name] = [r["id"] for r in reps]
        if len({tuple(v) for v in seen.values()}) != 1:
            problems.append(f"nodes disagree on the replicas of {key!r}: {seen}")
        out[key] = next(iter(seen.values()))
    return out, problems


def repairs_total(nodes) -> float:
    return sum(rh.metric(nd, "meshkv_read_repairs_total") for nd in nodes)


def replicas_hold(c: Cluster, nodes: list[ClusterNode], replicas_of: dict[str, list[str]]) -> dict:
    """One consistency=one read of every sampled key on each of its replicas,
    on the replica's own HTTP port (three at a time, the replicas of a key
    together); returns {key: {node name: value or None}}. A read may repair
    another replica of its key before that one is read: the caller checks
    that meshkv_read_repairs_total did not move."""
    by_id = {nd.id: nd for nd in nodes}

    def one(args):
        key, nd = args
        r = http(nd, "GET", key, consistency="one")
        if r.status_code == 404:
            return key, nd.name, None
        if r.status_code != 200:
            return key, nd.name, f"<HTTP {r.status_code}: {r.text[:200]}>".encode()
        return key, nd.name, r.content
    jobs = [(key, by_id[i]) for key, ids in replicas_of.items() for i in ids]
    values: dict[str, dict] = defaultdict(dict)
    with cf.ThreadPoolExecutor(RF) as ex:
        for key, name, value in ex.map(one, jobs):
            values[key][name] = value
    return values


def final_values(hist: KeyedHistory, nodes: list[ClusterNode], keys: list[str]) -> tuple[dict, list[str]]:
    """Every key read at quorum through every node in `nodes`: {key: value}
    (from the first node) and the problems (an error, nodes answering
    differently, a value check_final does not allow)."""
    def read(args):
        key, nd = args
        r = http(nd, "GET", key, consistency="quorum")
        return key, nd.name, r.status_code, (r.content if r.status_code == 200 else None), r.text[:200]
    answers: dict[str, dict] = defaultdict(dict)
    problems = []
    with cf.ThreadPoolExecutor(4) as ex:
        for key, name, code, value, text in ex.map(read, [(k, nd) for k in keys for nd in nodes]):
            if code not in (200, 404):
                problems.append(f"quorum GET {key!r} via {name} -> {code} {text}")
            answers[key][name] = value
    finals = {}
    for key in keys:
        got = answers[key]
        first = got[nodes[0].name]
        finals[key] = first
        if len(set(got.values())) != 1:
            problems.append(f"quorum reads of {key!r} differ between nodes: "
                            f"{ {n: short(v) for n, v in got.items()} }\n" + hist.describe_key(key, limit=20))
            continue
        bad = check_final(hist, key, first)
        if bad:
            problems.append("LOST/WRONG: " + bad + "\n" + hist.describe_key(key, limit=20))
    return finals, problems


def check_new_owners(c: Cluster, hist: KeyedHistory, nodes: list[ClusterNode], replicas_of: dict,
                     interesting: dict[str, set[str]], what: str) -> dict:
    """The end-state check of the docstring: every replica of every sampled
    key holds the final quorum value (one read each, no read repair during the
    pass), `interesting[key]` (node names) reported separately. Returns
    {key: final value} of the sampled keys."""
    before = repairs_total(nodes)
    held = replicas_hold(c, nodes, replicas_of)
    time.sleep(0.3)  # a read repair is counted after the last replica answered
    repairs = repairs_total(nodes) - before
    finals, problems = final_values(hist, nodes, list(replicas_of))
    missing_new, stale_old = [], []
    for key, values in held.items():
        for name, v in values.items():
            if v != finals[key]:
                (missing_new if name in interesting.get(key, ()) else stale_old).append(
                    f"{name} holds {short(v)} of {key!r}, the quorum value is {short(finals[key])}")
    n_new = sum(len(v) for v in interesting.values())
    print(f"[info] {what}: {len(held)} sampled keys, {n_new} (key, new owner) pairs read at one; "
          f"read repairs during the pass: {repairs:.0f}")
    report = []
    if missing_new:
        report.append(f"{len(missing_new)} of {n_new} (key, new owner) pairs: the new owner does not hold the "
                      f"newest value in its own replica:\n  " + "\n  ".join(missing_new[:10]))
    if stale_old:
        report.append(f"{len(stale_old)} other replicas do not hold the newest value:\n  "
                      + "\n  ".join(stale_old[:10]))
    if repairs:
        report.append(f"{repairs:.0f} read repairs were counted during the consistency=one pass: some replica "
                      f"was stale (and was fixed by the read, not by rebalancing)")
    if problems:
        report.append(f"{len(problems)} final quorum reads of the sampled keys were wrong:\n\n"
                      + "\n\n".join(problems[:5]))
    assert not report, f"{what}:\n" + "\n\n".join(report)
    return finals


def cluster_metric(nodes, name) -> dict[str, float]:
    return {nd.name: rh.metric(nd, name) for nd in nodes}


def ae_summary(nodes) -> str:
    pulled = sum(cluster_metric(nodes, "meshkv_ae_keys_pulled_total").values())
    pushed = sum(cluster_metric(nodes, "meshkv_ae_keys_pushed_total").values())
    return f"anti-entropy keys pulled {pulled:.0f}, pushed {pushed:.0f}"


# ======================================================================
# 1. join


@pytest.mark.slow
@pytest.mark.parametrize("joining", [1, 2], ids=["node4", "node4+node5"])
def test_join_under_load(joining):
    seed = seed_of()
    rng = random.Random(seed)
    c = new_cluster(3)
    hist = KeyedHistory()
    load = None
    try:
        t_start = time.monotonic()
        c.start(timeout=40)
        wait_owners_normal(c)
        original = list(c.nodes)
        n = 3 + joining
        print(f"[timing] 3 nodes up, normal owners: {time.monotonic() - t_start:.1f}s")
        prefix = f"rj-{uuid.uuid4().hex[:8]}/"
        hist.t0 = time.monotonic()  # times in the history: from the preload on
        keys = preload(hist, original, prefix, rng)

        load = Load(hist, prefix, keys, original, seed)
        load.start()
        time.sleep(1.0)

        joiners = [add_member(c, f"node{4 + i}") for i in range(joining)]
        names_joining = " and ".join(nd.name for nd in joiners)
        seeds = [original[0].cluster_addr]
        t_join = time.monotonic()
        hist.event(f"start {names_joining}")
        for nd in joiners:
            nd.start(seeds=seeds, wait=False)
        for nd in joiners:
            nd.wait_healthy()

        # A joiner coordinates client requests once it knows the owners.
        phases: dict[str, list] = {nd.name: [] for nd in joiners}
        targets = list(original)

        def joined():
            done = True
            for nd in joiners:
                own = ownership(nd)
                state = (own.get("self"), (own.get("rebalance") or {}).get("phase"))
                if not phases[nd.name] or phases[nd.name][-1][1:] != state:
                    phases[nd.name].append((round(time.monotonic() - hist.t0, 2),) + state)
                if nd not in targets and (own.get("nodes") or {}).get("normal", 0) >= 3:
                    targets.append(nd)
                    load.set_targets(targets)
                    hist.event(f"{nd.name} gets client traffic")
                if own.get("self") != "normal":
                    done = False
            return done and rh.owners_normal(c)
        wait_until(joined, JOIN_BOUND_S, f"{names_joining} normal owners, one digest on all {n} "
                   f"(bound {JOIN_BOUND_S}s)",
                   lambda: rh.describe_ownership(c) + f"\njoiner phases: {phases}", interval=0.1)
        took = time.monotonic() - t_join
        hist.event(f"all {n} normal, one digest")
        for nd in joiners:
            if nd not in targets:
                targets.append(nd)
        load.set_targets(targets)
        print(f"[timing] {names_joining} started -> all {n} normal with one digest: {took:.1f}s "
              f"(bound {JOIN_BOUND_S}s); joiner (t, self, rebalance phase): {phases}")
        time.sleep(TAIL_S)
        load.stop()
        hist.event("load stopped")
        print_run(hist, load)

        # -- responses and reads during the run
        unexpected = unexpected_outcomes(hist, excused=lambda o: False)
        stale = stale_reads(hist, c)

        # -- placement of a sample
        all_keys = hist.keys()
        sample = rng.sample(all_keys, min(SAMPLE, len(all_keys)))
        replicas_of, placement_problems = placements(c.nodes, sample)
        share = {nd.name: sum(nd.id in ids for ids in replicas_of.values()) / len(sample) for nd in c.nodes}
        print(f"[info] share of the {len(sample)} sampled keys each node replicates (expected {RF}/{n} = "
              f"{RF / n:.2f}): " + " ".join(f"{k}={s:.2f}" for k, s in share.items()))
        names = {nd.id: nd.name for nd in c.nodes}
        interesting = {k: {names[i] for i in ids} & {nd.name for nd in joiners} for k, ids in replicas_of.items()}

        report = []
        if unexpected:
            report.append(f"{len(unexpected)} responses other than 200 (writes) / 200-404 (reads):\n"
                          + "\n".join(unexpected[:10]))
        if stale:
            report.append(f"{len(stale)} quorum reads during the join missed an acknowledged write:\n\n"
                          + "\n\n".join(stale[:4]))
        if placement_problems:
            report.append(f"{len(placement_problems)} placement problems:\n" + "\n".join(placement_problems[:10]))
        for nd in joiners:
            if abs(share[nd.name] - RF / n) > 0.2:
                report.append(f"{nd.name} replicates {share[nd.name]:.2f} of the sampled keys, expected about "
                              f"{RF}/{n} = {RF / n:.2f}")
        assert not report, f"seed {seed}; {hist.counts()}\n" + "\n\n".join(report)

        # -- the data is on the new owners; then every key at quorum via every node
        check_new_owners(c, hist, c.nodes, replicas_of, interesting, "after the join")
        finals, problems = final_values(hist, c.nodes, all_keys)
        assert not problems, (f"seed {seed}: {len(problems)} of {len(all_keys)} keys wrong at quorum after the join "
                              f"(read through each of the {n} nodes):\n\n" + "\n\n".join(problems[:5]))
        print(f"[info] {len(all_keys)} keys read at quorum through each of {n} nodes: "
              f"{sum(v is not None for v in finals.values())} present, {sum(v is None for v in finals.values())} "
              f"deleted/absent, all as allowed; {ae_summary(c.nodes)}")

        # -- catch-up progress is reported (status and metric)
        progress = {nd.name: ownership(nd).get("rebalance") for nd in joiners}
        streamed = cluster_metric(joiners, "meshkv_rebalance_entries_total")
        print(f"[info] joiners' rebalance progress {progress}; meshkv_rebalance_entries_total {streamed}")
        for nd in joiners:
            assert progress[nd.name].get("phase") == "done", f"{nd.name}: rebalance {progress[nd.name]}"
        # A joiner owns ~RF/n of the PRELOAD keys, which existed before it started.
        wrong = {k: (progress[k], streamed[k]) for k in progress
                 if not (progress[k].get("entries", 0) > 0 and streamed[k] > 0)}
        assert not wrong, (f"a joiner streamed in the entries it owns (it holds them, checked above; its log says "
                           f"'caught up, N entries streamed in') but reports 0 entries in "
                           f"cluster.ownership.rebalance.entries / meshkv_rebalance_entries_total: {wrong}")
        print(f"[timing] join test total {time.monotonic() - t_start:.1f}s")
    finally:
        if load is not None:
            load.stop_event.set()
            for t in load.threads:
                t.join(timeout=30)
        drop_sessions()
        c.cleanup()


# ======================================================================
# 2. decommission


def decommissioned(remaining: list[ClusterNode], n_removed: int) -> bool:
    digests = set()
    for nd in remaining:
        own = ownership(nd)
        counts = own.get("nodes") or {}
        if own.get("self") != "normal" or counts.get("normal") != len(remaining) or \
                counts.get("removed") != n_removed or counts.get("leaving") or counts.get("pending"):
            return False
        digests.add(own.get("digest"))
    return len(digests) == 1


@pytest.mark.slow
def test_decommission_one_of_five_under_load():
    seed = seed_of()
    rng = random.Random(seed)
    c = new_cluster(5)
    hist = KeyedHistory()
    load = None
    try:
        t_start = time.monotonic()
        c.start(timeout=40)
        wait_owners_normal(c)
        print(f"[timing] 5 nodes up, normal owners: {time.monotonic() - t_start:.1f}s")
        prefix = f"rd-{uuid.uuid4().hex[:8]}/"
        hist.t0 = time.monotonic()  # times in the history: from the preload on
        keys = preload(hist, c.nodes, prefix, rng)
        victim = rng.choice(c.nodes)
        remaining = [nd for nd in c.nodes if nd is not victim]
        print(f"[info] decommissioning {victim.name} ({victim.id})")

        # Replica sets before, for a sample of the preloaded keys.
        sample = rng.sample(keys, min(SAMPLE, len(keys)))
        before, problems = placements(c.nodes[:1], sample)
        assert not problems, "\n".join(problems[:5])
        had_victim = sum(victim.id in ids for ids in before.values())

        load = Load(hist, prefix, keys, c.nodes, seed)
        load.start()
        time.sleep(1.0)

        t_decom = time.monotonic()
        hist.event(f"meshkv decommission {victim.name}")
        p = run_ok("decommission", "--addr", victim.url, "--token", ADMIN)
        print(f"[info] meshkv decommission: {p.stdout.decode(errors='replace').strip()}")
        # Watch the leaving node stream out until it exits.
        seen = []

        def gone():
            if not victim.running():
                return True
            try:
                own = ownership(victim)
                state = (own.get("self"), (own.get("rebalance") or {}).get("phase"),
                         (own.get("rebalance") or {}).get("entries"))
                if not seen or seen[-1][1:] != state:
                    seen.append((round(time.monotonic() - t_decom, 2),) + state)
            except Exception:  # noqa: BLE001 - it is draining
                pass
            return False
        wait_until(gone, DECOM_EXIT_S, f"{victim.name} exits after the decommission (bound {DECOM_EXIT_S}s)",
                   lambda: rh.describe_ownership(c, remaining) + f"\n{victim.name} (t, self, phase, entries): {seen}"
                   + f"\nits log:\n{victim.log()[-3000:]}", interval=0.05)
        rc = victim.wait_exit(timeout=5)
        t_exit = time.monotonic()
        load.set_targets(remaining)
        hist.event(f"{victim.name} exited ({rc})")
        print(f"[timing] decommission -> {victim.name} exited with {rc}: {t_exit - t_decom:.1f}s "
              f"(bound {DECOM_EXIT_S}s); it went through (t, self, rebalance phase, entries): {seen}")
        assert rc == 0, f"{victim.name} exited with {rc} after the decommission\n{victim.log()[-3000:]}"
        wait_until(lambda: decommissioned(remaining, 1), DECOM_SETTLE_S,
                   f"the other 4 all normal, 1 removed, one digest (bound {DECOM_SETTLE_S}s)",
                   lambda: rh.describe_ownership(c, remaining), interval=0.1)
        print(f"[timing] exit -> remaining 4 agree (4 normal, 1 removed): {time.monotonic() - t_exit:.1f}s")
        time.sleep(TAIL_S)
        load.stop()
        hist.event("load stopped")
        print_run(hist, load)

        # Requests sent to the leaving node after the decommission started
        # may fail (it drains and exits); its writes are "maybe applied".
        excused = lambda o: o.node == victim.name and o.start >= t_decom  # noqa: E731
        unexpected = unexpected_outcomes(hist, excused)
        by_victim = Counter(o.outcome for o in hist.ops if excused(o))
        print(f"[info] requests to {victim.name} after the decommission started: {dict(by_victim)}")
        stale = stale_reads(hist, c)
        after, placement_problems = placements(remaining, sample)
        still = [k for k, ids in after.items() if victim.id in ids]
        interesting = {}
        for key, ids in after.items():
            gained = set(ids) - set(before[key])
            if victim.id in before[key]:
                if len(gained) != 1:
                    placement_problems.append(f"{key!r} lost {victim.name} but gained {gained} "
                                              f"(before {before[key]}, after {ids})")
            elif gained:
                print(f"[info] {key!r} moved without {victim.name} being a replica: {before[key]} -> {ids}")
            names = {nd.id: nd.name for nd in remaining}
            interesting[key] = {names[i] for i in gained}
        report = []
        if unexpected:
            report.append(f"{len(unexpected)} responses other than 200 (writes) / 200-404 (reads):\n"
                          + "\n".join(unexpected[:10]))
        if stale:
            report.append(f"{len(stale)} quorum reads during the decommission missed an acknowledged write:\n\n"
                          + "\n\n".join(stale[:4]))
        if still:
            report.append(f"{len(still)} sampled keys still list the removed {victim.name}: {still[:5]}")
        if placement_problems:
            report.append(f"{len(placement_problems)} placement problems:\n" + "\n".join(placement_problems[:10]))
        assert not report, f"seed {seed}; {hist.counts()}\n" + "\n\n".join(report)
        print(f"[info] {had_victim} of {len(sample)} sampled keys had {victim.name} as a replica; each got exactly "
              f"one new replica")

        check_new_owners(c, hist, remaining, after, interesting, "after the decommission")
        all_keys = hist.keys()
        finals, problems = final_values(hist, remaining, all_keys)
        assert not problems, (f"seed {seed}: {len(problems)} of {len(all_keys)} keys wrong at quorum after the "
                              f"decommission (read through each remaining node):\n\n" + "\n\n".join(problems[:5]))
        print(f"[info] {len(all_keys)} keys read at quorum through each of 4 nodes: "
              f"{sum(v is not None for v in finals.values())} present, {sum(v is None for v in finals.values())} "
              f"deleted/absent, all as allowed; {ae_summary(remaining)}")
        streamed_out = [s for s in seen if s[1] in ("leaving", "removed") and (s[3] or 0) > 0]
        print(f"[info] {victim.name} reported streaming entries: {streamed_out[-1:] or 'not observed'}")
        assert any(s[1] == "leaving" for s in seen), (
            f"{victim.name} was never seen `leaving` in its status (polled every 50 ms; it is leaving for "
            f">= 1.5 s before it streams): {seen}")
        print(f"[timing] decommission test total {time.monotonic() - t_start:.1f}s")
    finally:
        if load is not None:
            load.stop_event.set()
            for t in load.threads:
                t.join(timeout=30)
        drop_sessions()
        c.cleanup()

"""Helpers for black-box tests of meshkv clusters (issue 3): several real
`meshkv serve` processes with a cluster CA, node certificates, a gossip key
and seeds, all made through the `meshkv` CLI.

- ClusterNode: one node: its node id (written into <data_dir>/node_id before
  the first start, so the certificate matches), certificate, config file and
  process. Its stdout and stderr are appended to <workdir>/node.log. It can
  run inside a network namespace (`ip netns exec NS meshkv serve ...`).
- Cluster: a CA, a gossip key and N nodes; starting, views of the member
  lists, waits with a failure message that shows the last views, cleanup.
- wait_until(): the one polling loop every test uses.
- Bounds: the failure detector timings of a preset, mirroring
  src/membership/config.cc (memberlist's formulas), so a test states the
  bound it checks.

Every process is registered in harness._LIVE (so the session finalizer stops
it by PID whatever happens) and every temp dir comes from harness.make_tmpdir.
"""
from __future__ import annotations

import base64
import json
import math
import os
import secrets
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

import harness
from harness import MESHKV_BIN, TOKENS, clean_env, free_dns_port, free_port, make_tmpdir, run_cli

ADMIN = TOKENS["admin"].secret
READER = TOKENS["reader"].secret
# How long a node may take to answer /health after it is started.
START_TIMEOUT = float(os.environ.get("MESHKV_READY_TIMEOUT", "20"))
# Slack added to computed bounds for HTTP polling and scheduling on a busy
# 2-core CI machine (the bound itself is what the design promises).
POLL_SLACK_S = 3.0


# --------------------------------------------------------------------------
# failure detector bounds


@dataclass(frozen=True)
class Preset:
    """The timing knobs of src/membership/config.cc (memberlist presets)."""
    name: str
    probe_interval_ms: int
    probe_timeout_ms: int
    suspicion_mult: int
    suspicion_max_timeout_mult: int
    gossip_interval_ms: int
    retransmit_mult: int
    push_pull_interval_ms: int

    def suspicion_min_ms(self, n: int) -> int:
        return int(self.suspicion_mult * max(1.0, math.log10(max(1, n))) * self.probe_interval_ms)

    def suspicion_max_ms(self, n: int) -> int:
        return self.suspicion_max_timeout_mult * self.suspicion_min_ms(n)

    def retransmit_limit(self, n: int) -> int:
        return self.retransmit_mult * math.ceil(math.log10(n + 1))

    def dead_bound_ms(self, n: int) -> int:
        """MembershipConfig::DeadDetectionBoundMillis: from a crash until every
        live member has the node as dead (no loss, healthy detector):
        3 probe intervals + suspicion_max + gossip_interval * retransmit limit."""
        return (3 * self.probe_interval_ms + self.suspicion_max_ms(n)
                + self.gossip_interval_ms * self.retransmit_limit(n))


PRESETS = {
    "local": Preset("local", probe_interval_ms=1000, probe_timeout_ms=200, suspicion_mult=3,
                    suspicion_max_timeout_mult=6, gossip_interval_ms=100, retransmit_mult=2,
                    push_pull_interval_ms=15_000),
    "lan": Preset("lan", probe_interval_ms=1000, probe_timeout_ms=500, suspicion_mult=4,
                  suspicion_max_timeout_mult=6, gossip_interval_ms=200, retransmit_mult=4,
                  push_pull_interval_ms=30_000),
}


# --------------------------------------------------------------------------
# waiting


def wait_until(predicate, timeout: float, what: str, describe=None, interval: float = 0.1):
    """Polls `predicate` until it returns a truthy value (returned) or
    `timeout` seconds pass; then fails saying `what` was awaited and showing
    `describe()` (e.g. the last member views) and the last exception."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            result = predicate()
            last_error = None
        except Exception as e:  # a node restarting, a refused connection...
            result, last_error = None, e
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = describe() if describe else ""
            extra = f"\nlast error: {last_error!r}" if last_error is not None else ""
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}{extra}\n{detail}")
        time.sleep(interval)


def run_ok(*args, env=None, timeout=60) -> subprocess.CompletedProcess:
    p = run_cli(*args, env=env, timeout=timeout)
    assert p.returncode == 0, (
        f"`meshkv {' '.join(args)}` exited {p.returncode}\nstderr: {p.stderr.decode(errors='replace')[-2000:]}"
        f"\nstdout: {p.stdout.decode(errors='replace')[-1000:]}")
    return p


def keygen() -> str:
    """A new gossip key from `meshkv keygen` (checked: base64 of 32 bytes)."""
    key = run_ok("keygen").stdout.decode().strip()
    assert len(base64.b64decode(key, validate=True)) == 32, f"keygen printed {len(key)} chars, not a 32-byte key"
    return key


def key_fingerprint(key_b64: str) -> str:
    """What the node shows for a key: hex of the first 8 bytes of BLAKE2b-256."""
    import hashlib
    return hashlib.blake2b(base64.b64decode(key_b64), digest_size=32).hexdigest()[:16]


def new_node_id() -> str:
    while True:
        node_id = secrets.token_hex(8)
        if int(node_id, 16) != 0:
            return node_id


def pid_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (for processes that are
    not our children, e.g. nodes started by `meshkv cluster up --detach`)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # state is the field after the parenthesised command name
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def kill_pid(pid: int, sig=signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class CertAuthority:
    """A cluster CA made with `meshkv tls ca create`."""

    def __init__(self, cluster_name: str, directory: str | None = None):
        self.dir = directory or os.path.join(make_tmpdir("meshkv-ca-"), "ca")
        self.cluster_name = cluster_name
        run_ok("tls", "ca", "create", "--dir", self.dir, "--cluster", cluster_name)
        for f in ("ca.crt", "ca.key"):
            assert os.path.isfile(os.path.join(self.dir, f)), f"`meshkv tls ca create` wrote no {f}"

    @property
    def cert(self) -> str:
        return os.path.join(self.dir, "ca.crt")

    def issue(self, node_id: str, out_dir: str, ips=("127.0.0.1",), dns=("localhost",)) -> tuple[str, str]:
        args = ["tls", "cert", "create", "--ca-dir", self.dir, "--node-id", node_id, "--out", out_dir]
        for ip in ips:
            args += ["--ip", ip]
        for name in dns:
            args += ["--dns", name]
        run_ok(*args)
        crt, key = os.path.join(out_dir, "node.crt"), os.path.join(out_dir, "node.key")
        assert os.path.isfile(crt) and os.path.isfile(key), f"`meshkv tls cert create` wrote no node.crt/node.key in {out_dir}"
        return crt, key


def toml_str(s: str) -> str:
    return json.dumps(s)


def toml_list(items) -> str:
    return "[" + ", ".join(toml_str(i) for i in items) + "]"


# --------------------------------------------------------------------------
# one node


class ClusterNode:
    """One `meshkv serve --config F` process of a cluster. The config holds
    [node] data_dir, [http] listen, [cluster] and the admin/reader tokens."""

    def __init__(self, name: str, ca: CertAuthority, gossip_key: str, cluster_name: str,
                 preset: str = "local", host: str = "127.0.0.1", http_port: int | None = None,
                 cluster_port: int | None = None, node_id: str | None = None, netns: str | None = None,
                 rejoin_interval: str = "2s", tls_ca: str | None = None, extra_cluster: str = ""):
        self.name = name
        self.id = node_id or new_node_id()
        self.host = host
        self.netns = netns
        self.http_port = http_port or free_port()
        self.cluster_port = cluster_port or free_dns_port()  # TCP RPC + UDP gossip
        self.workdir = make_tmpdir(f"meshkv-{name}-")
        self.data_dir = os.path.join(self.workdir, "data")
        self.config_path = os.path.join(self.workdir, "meshkv.toml")
        self.log_path = os.path.join(self.workdir, "node.log")
        self.ca = ca
        self.tls_ca = tls_ca or ca.cert
        self.gossip_key = gossip_key
        self.cluster_name = cluster_name
        self.preset = preset
        self.rejoin_interval = rejoin_interval
        self.extra_cluster = extra_cluster
        self.seeds: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.runs = 0
        self.stopped = False  # SIGSTOPped
        self.last_rc = None
        os.makedirs(self.data_dir, exist_ok=True)
        Path(self.data_dir, "node_id").write_text(self.id + "\n")
        ips = (host,) if host == "127.0.0.1" else (host, "127.0.0.1")
        self.cert, self.key = ca.issue(self.id, self.workdir, ips=ips)

    # -- addresses
    @property
    def cluster_addr(self) -> str:
        return f"{self.host}:{self.cluster_port}"

    @property
    def http_addr(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def url(self) -> str:
        return f"http://{self.http_addr}"

    # -- config and process
    def config_text(self) -> str:
        tokens = "".join(TOKENS[t].toml() + "\n" for t in ("admin", "reader"))
        return tokens + f"""\
[node]
data_dir = {toml_str(self.data_dir)}

[http]
listen = {toml_str(self.http_addr)}
threads = {int(harness.THREADS)}

[cluster]
name = {toml_str(self.cluster_name)}
listen = {toml_str(self.cluster_addr)}
seeds = {toml_list(self.seeds)}
preset = {toml_str(self.preset)}
gossip_key = {toml_str(self.gossip_key)}
tls_ca = {toml_str(self.tls_ca)}
tls_cert = {toml_str(self.cert)}
tls_key = {toml_str(self.key)}
rejoin_interval = {toml_str(self.rejoin_interval)}
tags = {toml_list(["suite=it", "name=" + self.name])}
{self.extra_cluster}
"""

    def write_config(self):
        tmp = self.config_path + ".new"
        Path(tmp).write_text(self.config_text())
        os.replace(tmp, self.config_path)

    def command(self) -> list[str]:
        cmd = [MESHKV_BIN, "serve", "--config", self.config_path]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        return cmd

    def start(self, seeds: list[str] | None = None, wait: bool = True):
        """Starts the process (appending to node.log); with `wait`, until
        GET /health answers 200."""
        assert not self.running(), f"{self.name} is already running"
        if seeds is not None:
            self.seeds = list(seeds)
        self.write_config()
        self.runs += 1
        with open(self.log_path, "ab") as log:
            log.write(f"==== start {self.runs}: {' '.join(self.command())}\n".encode())
            log.flush()
            # `ip netns exec` execs meshkv, so the PID is the node's either way.
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=clean_env())
        harness._LIVE.append(self.proc)
        self.stopped = False
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = START_TIMEOUT):
        def healthy():
            rc = self.proc.poll()
            if rc is not None:
                raise harness.NodeStartError(
                    f"{self.name}: meshkv serve exited with {rc} during start-up\n"
                    f"command: {' '.join(self.command())}\nlog:\n{self.log()[-4000:]}")
            return requests.get(self.url + "/health", timeout=2).status_code == 200

        deadline = time.monotonic() + timeout
        while True:
            try:
                if healthy():
                    return
            except harness.NodeStartError:
                raise
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise harness.NodeStartError(
                    f"{self.name}: /health not 200 within {timeout}s\nlog:\n{self.log()[-4000:]}")
            time.sleep(0.05)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send_signal(self, sig):
        assert self.running(), f"{self.name} is not running"
        os.kill(self.proc.pid, sig)
        if sig == signal.SIGSTOP:
            self.stopped = True
        elif sig == signal.SIGCONT:
            self.stopped = False

    def stop(self, sig=signal.SIGTERM, timeout: float = harness.STOP_TIMEOUT):
        """Sends `sig` by PID and waits (SIGKILL after `timeout`); returns the
        exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.stopped and self.running():
            kill_pid(self.proc.pid, signal.SIGCONT)
            self.stopped = False
        self.last_rc = harness.stop_process(self.proc, sig=sig, timeout=timeout)
        return self.last_rc

    def kill(self):
        return self.stop(sig=signal.SIGKILL, timeout=30)

    def wait_exit(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout}s\nlog:\n{self.log()[-3000:]}")
        if self.proc in harness._LIVE:
            harness._LIVE.remove(self.proc)
        self.last_rc = rc
        return rc

    def log(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""

    # -- HTTP
    def client(self, token: str = ADMIN, timeout: float = 3.0) -> "NodeClient":
        return NodeClient(self.url, token, timeout)

    def members(self, timeout: float = 2.0) -> dict:
        r = requests.get(self.url + "/v1/cluster/members", headers={"Authorization": f"Bearer {READER}"},
                         timeout=timeout)
        assert r.status_code == 200, f"{self.name}: GET /v1/cluster/members -> {r.status_code} {r.text[:300]}"
        return r.json()

    def status(self, timeout: float = 3.0) -> dict:
        r = requests.get(self.url + "/v1/cluster/status", headers={"Authorization": f"Bearer {READER}"},
                         timeout=timeout)
        assert r.status_code == 200, f"{self.name}: GET /v1/cluster/status -> {r.status_code} {r.text[:300]}"
        return r.json()

    def metrics(self) -> list:
        r = requests.get(self.url + "/metrics", headers={"Authorization": f"Bearer {READER}"}, timeout=3)
        assert r.status_code == 200, r.text[:300]
        return harness.parse_metrics(r.text)

    def __repr__(self):
        return f"<{self.name} {self.id} http={self.http_addr} cluster={self.cluster_addr}>"


class NodeClient:
    """requests with a token against one node (no proxies from the env)."""

    def __init__(self, base: str, token: str, timeout: float):
        self.base, self.timeout = base, timeout
        self.s = requests.Session()
        self.s.trust_env = False
        self.s.headers["Authorization"] = f"Bearer {token}"

    def get(self, path, **kw):
        kw.setdefault("timeout", self.timeout)
        return self.s.get(self.base + path, **kw)

    def post(self, path, body=None, **kw):
        kw.setdefault("timeout", self.timeout)
        return self.s.post(self.base + path, json=body, **kw)

    def put(self, path, data=b"", **kw):
        kw.setdefault("timeout", self.timeout)
        return self.s.put(self.base + path, data=data, **kw)

    def close(self):
        self.s.close()


def states_of(view: dict) -> dict[str, str]:
    """{member id: state} of a /v1/cluster/members answer."""
    return {m["id"]: m["state"] for m in view.get("members", [])}


def member_of(view: dict, node_id: str) -> dict | None:
    for m in view.get("members", []):
        if m["id"] == node_id:
            return m
    return None


# --------------------------------------------------------------------------
# a cluster


@dataclass
class Observation:
    """Per-observer history of one member's state, from polling."""
    first_seen: dict = field(default_factory=dict)  # state -> monotonic seconds
    sequence: list = field(default_factory=list)    # distinct consecutive states

    def record(self, state: str | None, at: float):
        if state not in self.first_seen:
            self.first_seen[state] = at
        if not self.sequence or self.sequence[-1] != state:
            self.sequence.append(state)


class Cluster:
    """N nodes sharing a CA and gossip key. Node 1 starts with no seeds,
    the others seed node 1 (node 3 as `id@host:port`, the rest `host:port`).
    A restarted node seeds every other member."""

    def __init__(self, n: int, preset: str = "local", name: str | None = None, netns: list[str] | None = None,
                 hosts: list[str] | None = None, http_port: int | None = None, cluster_port: int | None = None):
        self.name = name or f"it-{uuid.uuid4().hex[:8]}"
        self.preset_name = preset
        self.preset = PRESETS[preset]
        self.ca = CertAuthority(self.name)
        self.gossip_key = keygen()
        self.nodes: list[ClusterNode] = []
        self.extras: list[ClusterNode] = []  # nodes that are not (meant to be) members
        self.last_views: dict[str, object] = {}
        for i in range(n):
            self.nodes.append(ClusterNode(
                f"node{i + 1}", self.ca, self.gossip_key, self.name, preset=preset,
                host=hosts[i] if hosts else "127.0.0.1", netns=netns[i] if netns else None,
                http_port=http_port, cluster_port=cluster_port))
        self.names = {nd.id: nd.name for nd in self.nodes}

    # -- nodes
    @property
    def ids(self) -> list[str]:
        return [nd.id for nd in self.nodes]

    def node(self, name: str) -> ClusterNode:
        return next(nd for nd in self.nodes + self.extras if nd.name == name)

    def initial_seeds(self, index: int) -> list[str]:
        if index == 0:
            return []
        first = self.nodes[0]
        return [f"{first.id}@{first.cluster_addr}"] if index == 2 else [first.cluster_addr]

    def seeds_except(self, nd: ClusterNode) -> list[str]:
        return [o.cluster_addr for o in self.nodes if o is not nd]

    def start(self, timeout: float = 30.0):
        """Starts node 1, then the others together, and waits until every
        node sees every node alive."""
        self.nodes[0].start(seeds=self.initial_seeds(0))
        for i, nd in enumerate(self.nodes[1:], start=1):
            nd.start(seeds=self.initial_seeds(i), wait=False)
        for nd in self.nodes[1:]:
            nd.wait_healthy()
        self.wait_all_alive(timeout=timeout, what="initial convergence")

    def restart(self, nd: ClusterNode, wait_alive: bool = True, timeout: float = 30.0):
        """(Re)starts a member with the same data dir, seeding every other member."""
        if nd.running():
            nd.stop()
        nd.start(seeds=self.seeds_except(nd))
        if wait_alive:
            self.wait_all_alive(timeout=timeout, what=f"{nd.name} back and everyone alive")

    def add_extra(self, name: str, **kw) -> ClusterNode:
        """A node outside the member list (wrong key, other CA, impostor...)."""
        kw.setdefault("gossip_key", self.gossip_key)
        kw.setdefault("cluster_name", self.name)
        kw.setdefault("preset", self.preset_name)
        ca = kw.pop("ca", self.ca)
        nd = ClusterNode(name, ca, **kw)
        self.extras.append(nd)
        self.names.setdefault(nd.id, name)
        return nd

    def running_nodes(self) -> list[ClusterNode]:
        return [nd for nd in self.nodes if nd.running() and not nd.stopped]

    # -- views
    def views(self, observers: list[ClusterNode] | None = None) -> dict[str, dict | None]:
        """{observer name: members answer, or None if it did not answer}."""
        out = {}
        for nd in observers if observers is not None else self.running_nodes():
            try:
                out[nd.name] = nd.members()
            except (requests.RequestException, AssertionError, ValueError) as e:
                out[nd.name] = None
                self.last_views[nd.name] = repr(e)
                continue
            self.last_views[nd.name] = out[nd.name]
        return out

    def describe(self) -> str:
        lines = ["last member views (observer: member=state/incarnation):"]
        for observer, view in sorted(self.last_views.items()):
            if not isinstance(view, dict):
                lines.append(f"  {observer}: no answer ({view})")
                continue
            parts = []
            for m in sorted(view.get("members", []), key=lambda m: self.names.get(m["id"], m["id"])):
                cl = (m.get("addresses") or {}).get("cluster")
                parts.append(f"{self.names.get(m['id'], m['id'])}={m['state']}/{m.get('incarnation')}@{cl}")
            lines.append(f"  {observer}: " + " ".join(parts))
        return "\n".join(lines)

    def all_alive(self, observers=None) -> bool:
        """Every observer answers and has every member alive, and nobody else alive."""
        want = set(self.ids)
        views = self.views(observers)
        if not views:
            return False
        for view in views.values():
            if view is None:
                return False
            states = states_of(view)
            alive = {i for i, s in states.items() if s == "alive"}
            if alive != want:
                return False
        return True

    def wait_all_alive(self, timeout: float = 30.0, what: str = "all members alive", observers=None):
        wait_until(lambda: self.all_alive(observers), timeout,
                   f"{what}: every node sees {[nd.name for nd in self.nodes]} alive", self.describe)

    def wait_state(self, target: ClusterNode, states: set[str], observers: list[ClusterNode],
                   timeout: float, what: str):
        """Until every observer has `target` in one of `states`."""
        def ok():
            views = self.views(observers)
            return all(v is not None and states_of(v).get(target.id) in states for v in views.values())
        wait_until(ok, timeout, f"{what}: {[o.name for o in observers]} see {target.name} in {sorted(states)}",
                   self.describe)

    def ensure_healthy(self, timeout: float = 30.0):
        """Before a test: every member running (restarting those that are not)
        and every node sees all members alive."""
        for nd in self.nodes:
            if nd.stopped and nd.running():
                nd.send_signal(signal.SIGCONT)
            if not nd.running():
                nd.start(seeds=self.seeds_except(nd))
        self.wait_all_alive(timeout=timeout, what="healthy cluster before the test")

    def stop_extras(self):
        for nd in self.extras:
            nd.stop(timeout=5)

    def cleanup(self):
        """Stops every process (SIGCONT first for SIGSTOPped ones, then
        SIGTERM to all at once, SIGKILL after a timeout); temp dirs go with
        harness.reap_all / remove_tmpdir."""
        everyone = self.nodes + self.extras
        for nd in everyone:
            if nd.proc is not None and nd.proc.poll() is None:
                if nd.stopped:
                    kill_pid(nd.proc.pid, signal.SIGCONT)
                    nd.stopped = False
                kill_pid(nd.proc.pid, signal.SIGTERM)
        for nd in everyone:
            nd.stop(timeout=5)
        for d in {nd.workdir for nd in everyone} | {os.path.dirname(self.ca.dir)}:
            harness.remove_tmpdir(d)

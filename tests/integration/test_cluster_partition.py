"""A network partition with real network namespaces (issue 3): five nodes,
each in its own namespace with a veth into a bridge that lives in a
test-created "hub" namespace; the test process reaches the nodes' HTTP
through one more veth from the root namespace into that bridge.

Isolating node5 = iptables DROP to and from node5 inside every node's
namespace (and 10% random loss between the four others, `-m statistic`).
Expected: the majority declares node5 dead within the dead bound and never
declares one of its own dead; node5 sees the others as not alive. Healing
(flushing the rules): node5 is alive again everywhere, with a higher
incarnation (it refuted its death).

Dead bound for n = 5, preset `local`: 3*1 s + 18 s + 0.2 s = 21.2 s (see
test_cluster_membership.py). Nodes use rejoin_interval = 2s, so the two sides
reconnect soon after the partition heals.

Skips (with the reason) unless running as root with `ip netns` and iptables
working inside a namespace. Namespaces, veths and the bridge are removed in
the fixture's finalizer even when the test fails.
"""
import os
import shutil
import subprocess
import time

import pytest

from cluster_harness import POLL_SLACK_S, Cluster, member_of, states_of, wait_until

N = 5
HTTP_PORT, CLUSTER_PORT = 7070, 7946  # every node has its own namespace, so no clashes


def sh(*args, check=True, ns=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + [str(a) for a in args]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} -> {p.returncode}: {p.stderr.decode(errors='replace').strip()}")
    return p


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces and iptables"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found"
    probe = f"mkvprobe{os.getpid() % 100000}"
    try:
        p = sh("ip", "netns", "add", probe, check=False)
        if p.returncode != 0:
            return f"`ip netns add` does not work here: {p.stderr.decode(errors='replace').strip()}"
        p = sh("iptables", "-A", "INPUT", "-s", "10.0.0.1", "-m", "statistic", "--mode", "random",
               "--probability", "0.1", "-j", "DROP", ns=probe, check=False)
        if p.returncode != 0:
            return f"iptables (with -m statistic) does not work in a namespace: {p.stderr.decode(errors='replace').strip()}"
    finally:
        sh("ip", "netns", "del", probe, check=False)
    return None


class NetLab:
    """A hub namespace with a bridge, one namespace per node, and a veth from
    the root namespace into the bridge."""

    def __init__(self, n: int):
        self.tag = f"{os.getpid() % 10000:04d}{os.urandom(1).hex()}"
        self.hub = f"mkvh{self.tag}"
        self.namespaces = [f"mkvn{i}{self.tag}" for i in range(1, n + 1)]
        self.root_if = f"mkvr{self.tag}"
        routes = sh("ip", "-4", "route").stdout.decode() + sh("ip", "-4", "addr").stdout.decode()
        third = next(x for x in range(20, 250) if f"10.213.{x}." not in routes)
        self.prefix = f"10.213.{third}"
        self.root_ip = f"{self.prefix}.1"
        self.ips = [f"{self.prefix}.{10 + i}" for i in range(1, n + 1)]
        self.created: list[str] = []

    def up(self):
        sh("ip", "netns", "add", self.hub)
        self.created.append(self.hub)
        sh("ip", "link", "add", "br0", "type", "bridge", ns=self.hub)
        sh("ip", "link", "set", "br0", "up", ns=self.hub)
        sh("ip", "link", "set", "lo", "up", ns=self.hub)
        for i, (ns, ip) in enumerate(zip(self.namespaces, self.ips), start=1):
            sh("ip", "netns", "add", ns)
            self.created.append(ns)
            hub_end, node_end = f"v{i}{self.tag}", f"e{i}{self.tag}"
            sh("ip", "link", "add", hub_end, "type", "veth", "peer", "name", node_end)
            sh("ip", "link", "set", hub_end, "netns", self.hub)
            sh("ip", "link", "set", node_end, "netns", ns)
            sh("ip", "link", "set", hub_end, "master", "br0", "up", ns=self.hub)
            sh("ip", "link", "set", node_end, "name", "eth0", ns=ns)
            sh("ip", "addr", "add", f"{ip}/24", "dev", "eth0", ns=ns)
            sh("ip", "link", "set", "eth0", "up", ns=ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        hub_end = f"rh{self.tag}"
        sh("ip", "link", "add", self.root_if, "type", "veth", "peer", "name", hub_end)
        sh("ip", "link", "set", hub_end, "netns", self.hub)
        sh("ip", "link", "set", hub_end, "master", "br0", "up", ns=self.hub)
        sh("ip", "addr", "add", f"{self.root_ip}/24", "dev", self.root_if)
        sh("ip", "link", "set", self.root_if, "up")

    def wait_reachable(self, timeout=10.0):
        """Until the root namespace can open TCP connections into each node
        namespace (bridge ports take a moment to forward)."""
        import socket

        def reachable():
            for ip in self.ips:
                try:
                    socket.create_connection((ip, 9), timeout=0.5).close()
                except ConnectionRefusedError:
                    continue  # RST from the namespace: the path works
                except OSError:
                    return False
            return True
        wait_until(reachable, timeout, "the bridge to forward to every namespace")

    def drop_between(self, a: int, b: int):
        """DROP everything between node a and node b (0-based), both ways, in
        both namespaces."""
        for me, other in ((a, b), (b, a)):
            ns, ip = self.namespaces[me], self.ips[other]
            sh("iptables", "-A", "INPUT", "-s", ip, "-j", "DROP", ns=ns)
            sh("iptables", "-A", "OUTPUT", "-d", ip, "-j", "DROP", ns=ns)

    def random_loss(self, me: int, others, probability=0.1):
        for other in others:
            sh("iptables", "-A", "INPUT", "-s", self.ips[other], "-m", "statistic", "--mode", "random",
               "--probability", str(probability), "-j", "DROP", ns=self.namespaces[me])

    def heal(self):
        for ns in self.namespaces:
            sh("iptables", "-F", "INPUT", ns=ns)
            sh("iptables", "-F", "OUTPUT", ns=ns)

    def down(self):
        for ns in reversed(self.created):
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", self.root_if, check=False)  # gone with the hub, normally
        self.created.clear()


@pytest.fixture
def netlab():
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


@pytest.mark.slow
def test_isolated_node_declared_dead_then_alive_after_heal(netlab):
    c = Cluster(N, preset="local", netns=netlab.namespaces, hosts=netlab.ips,
                http_port=HTTP_PORT, cluster_port=CLUSTER_PORT)
    try:
        c.start(timeout=40)
        bound = c.preset.dead_bound_ms(N) / 1000.0
        isolated = c.nodes[4]
        majority = c.nodes[:4]
        inc_before = member_of(c.views([majority[0]])[majority[0].name], isolated.id)["incarnation"]

        for j in range(4):
            netlab.drop_between(4, j)
        for j in range(4):
            netlab.random_loss(j, [k for k in range(4) if k != j], probability=0.1)
        t0 = time.monotonic()
        false_deaths, suspicions = [], set()

        def partitioned():
            views = c.views(majority)
            done = True
            for name, view in views.items():
                if view is None:
                    return False
                states = states_of(view)
                for other in majority:
                    s = states.get(other.id)
                    if s == "dead":
                        false_deaths.append((name, other.name))
                    elif s == "suspect":
                        suspicions.add((name, other.name))
                done = done and states.get(isolated.id) == "dead"
            return done

        wait_until(partitioned, bound + POLL_SLACK_S,
                   f"the majority to declare the isolated node5 dead (bound {bound:.1f}s)", c.describe)
        took_dead = time.monotonic() - t0
        assert not false_deaths, f"majority members declared dead under 10% loss: {false_deaths[:10]}"
        # The isolated node, for its part, has lost everyone.
        wait_until(lambda: all(states_of(c.views([isolated])[isolated.name]).get(o.id) in ("suspect", "dead")
                               for o in majority),
                   bound + POLL_SLACK_S, "node5 to see the majority as suspect or dead", c.describe)
        assert not false_deaths, f"majority members declared dead under 10% loss: {false_deaths[:10]}"

        netlab.heal()
        t1 = time.monotonic()
        c.wait_all_alive(timeout=45, what="healed partition")
        took_heal = time.monotonic() - t1
        for name, view in c.views().items():
            m = member_of(view, isolated.id)
            assert m["incarnation"] > inc_before, (
                f"{name} has node5 alive at incarnation {m['incarnation']}, not above {inc_before}")
        print(f"partition: node5 dead on the majority after {took_dead:.1f}s (bound {bound:.1f}s); "
              f"false suspicions under loss: {sorted(suspicions)}; healed in {took_heal:.1f}s")
    finally:
        c.cleanup()

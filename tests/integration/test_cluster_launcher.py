"""`meshkv cluster up` / `meshkv cluster down` (issue 3, local cluster
launcher): files, ports, cluster.json, every node sees N alive members, the
printed admin token works, and no process outlives `cluster down`, Ctrl-C
(SIGINT) or SIGTERM of the foreground launcher, or a failed start.

Ports for node K (i = K-1) with --base-port P: http P+10*i, cluster P+10*i+1,
dns P+10*i+2. Nodes started by the launcher are not our children: they are
found through D/nodeK/pid and cluster.json and, if a test fails, SIGKILLed by
those PIDs in a finally block.
"""
import json
import os
import random
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests

import harness
from cluster_harness import kill_pid, pid_running, states_of, wait_until
from harness import MESHKV_BIN, clean_env, make_tmpdir, run_cli

N = 3
UP_TIMEOUT = 120  # seconds for `cluster up` to return (it waits for convergence itself)


def ports_free(ports) -> bool:
    for port in ports:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    return False
    return True


def node_ports(base: int, i: int) -> dict:
    return {"http": base + 10 * i, "cluster": base + 10 * i + 1, "dns": base + 10 * i + 2}


def free_base_port(n: int) -> int:
    for _ in range(200):
        # Below the ephemeral range (32768+), so no outgoing connection takes them.
        base = random.randrange(10000, 32000, 10)
        if ports_free([p for i in range(n) for p in node_ports(base, i).values()]):
            return base
    raise RuntimeError("no free base port")


def pids_in(d: str) -> list[int]:
    """Every PID the launcher recorded (pid files and cluster.json)."""
    pids = set()
    for k in range(1, 10):
        f = Path(d, f"node{k}", "pid")
        try:
            pids.add(int(f.read_text().strip()))
        except (OSError, ValueError):
            pass
    try:
        for nd in json.loads(Path(d, "cluster.json").read_text())["nodes"]:
            pids.add(int(nd["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return sorted(pids)


def procs_mentioning(d: str) -> list[int]:
    """PIDs whose command line mentions the (unique, temporary) cluster dir,
    e.g. `meshkv serve --config D/node1/meshkv.toml`: finds nodes even if a
    pid file is missing. Our own launcher processes are excluded by callers."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path("/proc", entry, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if d in cmdline and " serve " in cmdline:
            found.append(int(entry))
    return found


def kill_leftovers(d: str, extra=()):
    for pid in set(pids_in(d)) | set(procs_mentioning(d)) | set(extra):
        if pid_running(pid):
            kill_pid(pid, signal.SIGKILL)


def wait_gone(pids, timeout: float, what: str):
    wait_until(lambda: not any(pid_running(p) for p in pids), timeout,
               f"{what}: PIDs {pids} gone",
               lambda: "still running: " + str([p for p in pids if pid_running(p)]))


def members(url: str, token: str) -> dict:
    r = requests.get(url + "/v1/cluster/members", headers={"Authorization": f"Bearer {token}"}, timeout=3)
    assert r.status_code == 200, r.text
    return r.json()


def all_alive(nodes: list, token: str) -> bool:
    ids = {nd["id"] for nd in nodes}
    for nd in nodes:
        view = members(nd["http"], token)
        if {i for i, s in states_of(view).items() if s == "alive"} != ids:
            return False
    return True


def up_help() -> str:
    p = run_cli("cluster", "up", "--help")
    return (p.stdout + p.stderr).decode(errors="replace")


@pytest.fixture
def workdir():
    d = make_tmpdir("meshkv-launch-")
    yield d
    harness.remove_tmpdir(d)


def check_layout(d: str, base: int, out: str) -> dict:
    """Files, modes, ports and cluster.json of a cluster that is up."""
    for f in ("ca.crt", "ca.key", "admin.token", "cluster.json"):
        assert os.path.isfile(os.path.join(d, f)), f"{d}/{f} missing"
    for secret in ("ca.key", "admin.token"):
        mode = stat.S_IMODE(os.stat(os.path.join(d, secret)).st_mode)
        assert mode & 0o077 == 0, f"{secret} has mode {oct(mode)}: readable by others"
    doc = json.loads(Path(d, "cluster.json").read_text())
    token = doc["token"]
    assert token and Path(d, "admin.token").read_text().strip() == token
    assert token in out, "the admin token is not printed"
    nodes = doc["nodes"]
    assert [nd["name"] for nd in nodes] == [f"node{k}" for k in range(1, N + 1)], nodes
    for i, nd in enumerate(nodes):
        k = i + 1
        ports = node_ports(base, i)
        nd_dir = os.path.join(d, f"node{k}")
        assert nd["http"] == f"http://127.0.0.1:{ports['http']}", nd
        assert nd["cluster"] == f"127.0.0.1:{ports['cluster']}", nd
        assert nd["dns"] == f"127.0.0.1:{ports['dns']}", nd
        assert nd["http"] in out or nd["http"].removeprefix("http://") in out, f"{nd['http']} not printed"
        for f in ("meshkv.toml", "node.crt", "node.key", "node.log", "pid"):
            assert os.path.isfile(os.path.join(nd_dir, f)), f"{nd_dir}/{f} missing"
        assert os.path.isdir(os.path.join(nd_dir, "data"))
        key_mode = stat.S_IMODE(os.stat(os.path.join(nd_dir, "node.key")).st_mode)
        assert key_mode & 0o077 == 0, f"node{k}/node.key has mode {oct(key_mode)}"
        assert int(Path(nd_dir, "pid").read_text().strip()) == nd["pid"]
        assert pid_running(nd["pid"]), f"node{k} pid {nd['pid']} is not running"
        assert os.path.samefile(nd["data_dir"], os.path.join(nd_dir, "data"))
        assert os.path.samefile(nd["config"], os.path.join(nd_dir, "meshkv.toml"))
        assert os.path.samefile(nd["log"], os.path.join(nd_dir, "node.log"))
        assert Path(nd["data_dir"], "node_id").read_text().strip() == nd["id"]
        assert len(nd["id"]) == 16 and int(nd["id"], 16) > 0
    assert len({nd["id"] for nd in nodes}) == N
    return doc


def test_cluster_up_detach_then_down(workdir):
    d = os.path.join(workdir, "cl")
    base = free_base_port(N)
    restarted = None
    try:
        p = run_cli("cluster", "up", "-n", str(N), "--detach", "--dir", d, "--base-port", str(base),
                    "--preset", "local", timeout=UP_TIMEOUT)
        out = (p.stdout + p.stderr).decode(errors="replace")
        assert p.returncode == 0, f"cluster up exited {p.returncode}:\n{out[-3000:]}"
        doc = check_layout(d, base, out)
        token, nodes = doc["token"], doc["nodes"]

        # Every node sees N alive members (the launcher waited for that).
        for nd in nodes:
            view = members(nd["http"], token)
            assert view["self"] == nd["id"]
            assert {i for i, s in states_of(view).items() if s == "alive"} == {x["id"] for x in nodes}, view

        # The printed token works for KV requests.
        h = {"Authorization": f"Bearer {token}"}
        r = requests.put(nodes[0]["http"] + "/v1/kv/launcher-test", data=b"hello", headers=h, timeout=5)
        assert r.status_code == 200, r.text
        r = requests.get(nodes[0]["http"] + "/v1/kv/launcher-test", headers=h, timeout=5)
        assert r.status_code == 200 and r.content == b"hello", r.text
        assert requests.get(nodes[0]["http"] + "/v1/kv/launcher-test", timeout=5).status_code == 401

        # A node restarts by hand from its generated config (log appended).
        old_pid = nodes[1]["pid"]
        kill_pid(old_pid, signal.SIGKILL)
        wait_gone([old_pid], 10, "SIGKILLed node2")
        with open(nodes[1]["log"], "ab") as log:
            restarted = subprocess.Popen([MESHKV_BIN, "serve", "--config", nodes[1]["config"]], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=clean_env(),
                                         cwd=workdir)
        harness._LIVE.append(restarted)
        wait_until(lambda: all_alive(nodes, token), 30, "node2 restarted with `serve --config` and alive everywhere",
                   lambda: json.dumps({nd["name"]: states_of(members(nd["http"], token)) for nd in nodes}))
        pid_file = Path(d, "node2", "pid")
        if pid_file.read_text().strip() == str(old_pid):
            # serve does not write the launcher's pid file: record the new PID
            # as an operator would, so that `cluster down` finds it.
            pid_file.write_text(f"{restarted.pid}\n")

        pids = [int(Path(d, f"node{k}", "pid").read_text()) for k in range(1, N + 1)]
        p = run_cli("cluster", "down", "--dir", d, timeout=60)
        assert p.returncode == 0, f"cluster down exited {p.returncode}: {p.stderr.decode()[-2000:]}"
        wait_gone(pids, 5, "`cluster down`")
        restarted.wait(timeout=5)
        assert restarted.returncode == 0, f"node2 exit status after cluster down: {restarted.returncode}"
    finally:
        kill_leftovers(d, [restarted.pid] if restarted else [])
        if restarted is not None:
            harness.stop_process(restarted, timeout=5)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cluster_up_foreground_stops_every_node_on_signal(workdir, sig):
    d = os.path.join(workdir, "cl")
    base = free_base_port(N)
    out_path = os.path.join(workdir, "launcher.out")
    with open(out_path, "wb") as out:
        launcher = subprocess.Popen([MESHKV_BIN, "cluster", "up", "-n", str(N), "--dir", d, "--base-port", str(base),
                                     "--preset", "local"], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=clean_env(), cwd=workdir)
    harness._LIVE.append(launcher)
    try:
        def up():
            if launcher.poll() is not None:
                raise AssertionError(f"launcher exited {launcher.returncode}:\n{Path(out_path).read_text()[-3000:]}")
            doc = json.loads(Path(d, "cluster.json").read_text())
            return doc if doc["token"] in Path(out_path).read_text() else None

        doc = wait_until(up, UP_TIMEOUT, "cluster.json and the printed token",
                         lambda: Path(out_path).read_text()[-3000:])
        check_layout(d, base, Path(out_path).read_text())
        assert all_alive(doc["nodes"], doc["token"])
        pids = pids_in(d)
        assert len(pids) == N and all(pid_running(p) for p in pids)

        os.kill(launcher.pid, sig)  # only the launcher, not its process group
        try:
            rc = launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the launcher did not exit within 30s of {sig.name}")
        assert rc in (0, 128 + sig), f"launcher exit status {rc} after {sig.name}"
        # It waited for its nodes: nothing outlives it (2 s for init to reap).
        wait_gone(pids, 2, f"nodes after the launcher got {sig.name}")
        assert not [p for p in procs_mentioning(d) if pid_running(p)], "serve processes left running"
        text = Path(out_path).read_text()
        assert "Traceback" not in text and "terminate called" not in text, text[-2000:]
    finally:
        harness.stop_process(launcher, timeout=10)
        kill_leftovers(d)


@pytest.mark.parametrize("fault", ["port_taken", "node_fails_at_start"])
def test_cluster_up_fails_clearly_and_leaves_nothing_running(workdir, fault):
    """`cluster up` must exit non-zero, say what went wrong and stop the
    nodes it did start when node2 cannot run: its HTTP port is taken (found
    before anything starts), or its data dir is locked by another process
    (node2 exits at start-up; the launcher notices or times out)."""
    import fcntl
    d = os.path.join(workdir, "cl")
    base = free_base_port(N)
    blocker, lock_fd = None, None
    if fault == "port_taken":
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        blocker.bind(("127.0.0.1", node_ports(base, 1)["http"]))
        blocker.listen(1)
    else:
        os.makedirs(os.path.join(d, "node2", "data"))
        lock_fd = os.open(os.path.join(d, "node2", "data", "LOCK"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    args = ["cluster", "up", "-n", str(N), "--detach", "--dir", d, "--base-port", str(base), "--preset", "local"]
    if "--timeout" in up_help():
        args += ["--timeout", "20"]  # seconds
    try:
        t0 = time.monotonic()
        p = run_cli(*args, timeout=UP_TIMEOUT + 60)
        took = time.monotonic() - t0
        out = (p.stdout + p.stderr).decode(errors="replace")
        assert p.returncode != 0, f"cluster up succeeded although node2 cannot run:\n{out[-2000:]}"
        assert "node2" in out or str(node_ports(base, 1)["http"]) in out, (
            f"the failure message names neither node2 nor its port:\n{out[-2000:]}")
        pids = sorted(set(pids_in(d)) | set(procs_mentioning(d)))
        wait_gone(pids, 5, "nodes after a failed `cluster up`")
        assert not [p for p in procs_mentioning(d) if pid_running(p)], "serve processes left running"
        last = out.strip().splitlines()[-1] if out.strip() else ""
        print(f"cluster up ({fault}) failed after {took:.1f}s with: {last}")
    finally:
        if blocker is not None:
            blocker.close()
        if lock_fd is not None:
            os.close(lock_fd)
        kill_leftovers(d)

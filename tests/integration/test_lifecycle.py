"""Process lifecycle: generated admin token, data-dir lock, clean restart,
SIGTERM, config errors at start-up, --dev-insecure, --sync."""
import os
import re
import signal
import stat
import subprocess
import time

import pytest
import requests

import harness
from harness import MESHKV_BIN, RawConn, Token, clean_env, free_port, http_request_bytes


def run_serve(args, timeout=15):
    """Runs `meshkv serve ARGS` expecting it to exit on its own; kills it by
    PID if it is still running after `timeout`. Returns (rc, stderr, stdout)."""
    p = subprocess.Popen([MESHKV_BIN, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=clean_env())
    harness._LIVE.append(p)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, err.decode(errors="replace"), out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        harness.stop_process(p, timeout=5)
        out, err = p.communicate()
        pytest.fail(f"meshkv serve {' '.join(args)} did not exit within {timeout}s; stderr:\n"
                    f"{err.decode(errors='replace')[-3000:]}")
    finally:
        if p in harness._LIVE:
            harness._LIVE.remove(p)


def test_generated_admin_token(node_factory, uniq):
    n = node_factory()
    path = n.admin_token_file()
    assert os.path.isfile(path), "no admin.token in the data dir"
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, f"admin.token has mode {oct(mode)}, want 0600"
    token = n.generated_token()
    assert token
    logs = n.stderr() + n.stdout()
    assert "admin.token" in logs, "start-up log does not say where the admin token is"
    assert token not in logs, "the admin token secret is logged"
    c = n.client(token)
    assert c.put(uniq + "k", b"v").status_code == 200
    assert c.get(uniq + "k").content == b"v"
    assert c.get_path("/v1/cluster/status").status_code == 200
    assert n.client("not-the-token").get(uniq + "k").status_code == 401


def test_second_node_on_same_data_dir_refused(node_factory, uniq):
    n = node_factory()
    c = n.client()
    assert c.put(uniq + "k", b"first").status_code == 200
    rc, err, out = run_serve(["--data-dir", n.data_dir, "--listen", f"127.0.0.1:{free_port()}",
                              "--threads", "1"])
    assert rc != 0, "second serve on the same data dir did not fail"
    assert "in use" in err.lower(), f"stderr does not say the data dir is in use:\n{err[-2000:]}"
    # the first node is unaffected
    assert n.alive()
    assert c.get(uniq + "k").content == b"first"
    assert c.put(uniq + "k2", b"second").status_code == 200
    assert n.generated_token() == c.token, "admin.token was rewritten by the refused second process"


def test_clean_restart_keeps_data(node_factory, uniq):
    n = node_factory(config=harness.standard_config())
    c = n.client()
    values = {f"{uniq}k{i}".encode(): os.urandom(i * 13) for i in range(50)}
    values[uniq.encode() + b"\x00\xff bin"] = bytes(range(256))
    versions = {}
    for k, v in values.items():
        r = c.put(k, v)
        assert r.status_code == 200
        versions[k] = r.json()["version"]
    c.put(uniq + "long", b"ttl", params={"ttl": "1h"})
    exp = c.get(uniq + "long").headers["X-Meshkv-Expires-At-Ms"]
    c.put(uniq + "gone", b"x")
    c.delete(uniq + "gone")
    c.put(uniq + "t", b"tenant", params={"ns": "tenant"})
    node_id = c.status()["node_id"]

    rc = n.stop()
    assert rc == 0, f"SIGTERM exit status {rc}, want 0\n{n.stderr()[-2000:]}"
    n.start()
    c = n.client()
    for k, v in values.items():
        r = c.get(k)
        assert r.status_code == 200, k
        assert r.content == v, k
        assert r.headers["X-Meshkv-Version"] == versions[k]
    assert c.get(uniq + "long").headers["X-Meshkv-Expires-At-Ms"] == exp
    assert c.get(uniq + "gone").status_code == 404
    assert c.get(uniq + "t", params={"ns": "tenant"}).content == b"tenant"
    assert c.status()["node_id"] == node_id, "node id changed across a restart"
    assert len(c.list_all(uniq)) == len(values) + 1
    # new writes get versions above the old ones
    newv = c.put(f"{uniq}k1", b"after").json()["version"]
    assert int(newv.split("-")[0]) > int(versions[f"{uniq}k1".encode()].split("-")[0])


def test_generated_token_survives_restart(node_factory, uniq):
    n = node_factory()
    tok = n.generated_token()
    assert n.client(tok).put(uniq + "k", b"v").status_code == 200
    assert n.stop() == 0
    n.start()
    tok2 = n.generated_token()
    assert n.client(tok2).get(uniq + "k").content == b"v"


def test_sigterm_with_open_keepalive_connection_exits_0(node_factory):
    n = node_factory(config=harness.standard_config())
    with RawConn(n.port) as c:
        c.send(http_request_bytes("GET", "/health"))
        assert c.read_response().status_code == 200
        rc = n.stop(timeout=15)
    assert rc == 0, f"exit status after SIGTERM: {rc} (None = needed SIGKILL)\n{n.stderr()[-2000:]}"


def test_sigterm_during_requests_exits_0(node_factory, uniq):
    import threading
    n = node_factory(config=harness.standard_config())
    c = n.client()
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            try:
                c.put(f"{uniq}{i}", b"v" * 100, timeout=5)
            except Exception:
                pass
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.5)
    try:
        rc = n.stop(timeout=15)
    finally:
        stop.set()
        t.join(20)
    assert rc == 0, f"exit status after SIGTERM under load: {rc}\n{n.stderr()[-2000:]}"


@pytest.mark.parametrize("text,line,key", [
    ("[http]\nmax_body_bytes = 1000\nbogus_key = 1\n", 3, "bogus_key"),
    ("[[tokens]]\nname = \"a\"\nsha256 = \"" + "0" * 64 + "\"\nscopes = [\"read\"]\ncolour = \"red\"\n", 5, "colour"),
    ("[namespaces.foo]\nmax_value_bytes = 10\ndefualt_ttl = \"1s\"\n", 3, "defualt_ttl"),
    ("\n\n[nosuchsection]\nx = 1\n", 3, "nosuchsection"),
], ids=["http", "tokens", "namespace", "section"])
def test_serve_unknown_config_key_fails(text, line, key):
    d = harness.make_tmpdir()
    try:
        cfg = os.path.join(d, "bad.toml")
        with open(cfg, "w") as f:
            f.write(text)
        rc, err, out = run_serve(["--data-dir", os.path.join(d, "data"), "--listen",
                                  f"127.0.0.1:{free_port()}", "--config", cfg])
        assert rc != 0
        assert key in err, f"stderr does not name {key!r}:\n{err[-2000:]}"
        assert re.search(rf"(?<![0-9]){line}(?![0-9])", err), f"stderr does not name line {line}:\n{err[-2000:]}"
        assert f"{cfg}:{line}" in err, f"want '{cfg}:{line}: {key}...' on stderr:\n{err[-2000:]}"
    finally:
        harness.remove_tmpdir(d)


@pytest.mark.parametrize("args", [["--sync", "sometimes"], ["--log-level", "loud"], ["--threads", "two"],
                                  ["--no-such-flag"]], ids=["sync", "log-level", "threads", "flag"])
def test_serve_bad_flags_fail(args):
    d = harness.make_tmpdir()
    try:
        rc, err, out = run_serve(["--data-dir", os.path.join(d, "data"), "--listen",
                                  f"127.0.0.1:{free_port()}", *args])
        assert rc != 0
        assert err.strip(), "no message on stderr"
    finally:
        harness.remove_tmpdir(d)


def test_dev_insecure(node_factory, uniq):
    n = node_factory(args=["--dev-insecure"])
    assert "insecure" in n.stderr().lower(), f"--dev-insecure not announced on stderr:\n{n.stderr()[-2000:]}"
    anon = n.client(None)
    assert anon.put(uniq + "k", b"open").status_code == 200
    assert anon.get(uniq + "k").content == b"open"
    assert anon.list(prefix=uniq).status_code == 200
    assert anon.get_path("/v1/cluster/status").status_code == 200
    assert anon.get_path("/metrics").status_code == 200
    assert anon.delete(uniq + "k").status_code == 200


def test_sync_always_flag_in_status(node_factory, uniq):
    n = node_factory(config=harness.standard_config(), args=["--sync", "always"])
    c = n.client()
    s1 = c.status()
    assert s1["storage"]["sync"] == "always"
    for i in range(3):
        try:
            r = c.put(f"{uniq}{i}", b"v")
        except requests.ConnectionError as e:
            n.proc.wait(5)
            pytest.fail(f"PUT with --sync always: {e!r}; node alive: {n.alive()}, exit status "
                        f"{n.proc.returncode}; stderr:\n{n.stderr()[-3000:]}")
        assert r.status_code == 200
    s2 = c.status()
    assert s2["storage"]["synced_batches"] > s1["storage"]["synced_batches"]


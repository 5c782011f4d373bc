"""Nothing acknowledged is lost: writers PUT (and batch-PUT) as fast as they
can on several connections, the node is SIGKILLed mid-stream, restarted on
the same data dir, and every write acknowledged with 200 must be readable
with its exact value. With --sync none and --sync always (SIGKILL is a
process crash: the OS keeps the WAL bytes already written)."""
import base64
import hashlib
import http.client
import json
import threading
import time

import pytest

import harness
from harness import qkey

WRITE_SECONDS = 1.5
WRITERS = 4


def value_for(key: str, seq: int) -> bytes:
    d = hashlib.sha256(f"{key}:{seq}".encode()).digest()
    return d * (1 + seq % 40)


class Tracker:
    """Per key: the value of the last acknowledged write, plus the values of
    later writes whose outcome is unknown (in flight at the kill)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}      # key -> value
        self.pending = {}    # key -> [values sent after the last ack]
        self.errors = []
        self.count = 0

    def sending(self, key, value):
        with self.lock:
            self.pending.setdefault(key, []).append(value)

    def ack(self, key, value):
        with self.lock:
            self.acked[key] = value
            self.pending[key] = []
            self.count += 1


def writer(port, token, wid, tracker: Tracker, killed: threading.Event, batch: bool):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    hdr = {"Authorization": f"Bearer {token}"}
    seq = 0
    while True:
        seq += 1
        try:
            if batch:
                keys = [f"dur/b{wid}/{seq}/{j}" for j in range(20)]
                vals = [value_for(k, seq) for k in keys]
                for k, v in zip(keys, vals):
                    tracker.sending(k, v)
                body = json.dumps({"ops": [{"op": "put", "key": k, "value": base64.b64encode(v).decode()}
                                           for k, v in zip(keys, vals)]})
                conn.request("POST", "/v1/kv/batch", body=body,
                             headers={**hdr, "Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status == 200:
                    res = json.loads(data)["results"]
                    if all(x["status"] == 200 for x in res):
                        for k, v in zip(keys, vals):
                            tracker.ack(k, v)
                    else:
                        tracker.errors.append(f"batch results {res[:3]}")
                elif not killed.is_set():
                    tracker.errors.append(f"batch -> {r.status} {data[:200]!r}")
            else:
                # every 5th write overwrites an earlier key of this writer
                n = seq - 3 if seq % 5 == 0 and seq > 3 else seq
                key = f"dur/w{wid}/{n}"
                v = value_for(key, seq)
                tracker.sending(key, v)
                conn.request("PUT", "/v1/kv/" + qkey(key), body=v, headers=hdr)
                r = conn.getresponse()
                data = r.read()
                if r.status == 200:
                    tracker.ack(key, v)
                elif not killed.is_set():
                    tracker.errors.append(f"PUT {key} -> {r.status} {data[:200]!r}")
        except (OSError, http.client.HTTPException) as e:
            if killed.is_set():
                conn.close()
                return
            tracker.errors.append(f"writer {wid}: {e!r} before the kill")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def verify(port, token, tracker: Tracker):
    keys = sorted(set(tracker.acked))
    problems = []
    lock = threading.Lock()

    def check(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for k in chunk:
            conn.request("GET", "/v1/kv/" + qkey(k), headers={"Authorization": f"Bearer {token}"})
            r = conn.getresponse()
            data = r.read()
            ok = {tracker.acked[k], *tracker.pending.get(k, [])}
            if r.status != 200:
                with lock:
                    problems.append(f"{k}: acknowledged, now {r.status}")
            elif data not in ok:
                with lock:
                    problems.append(f"{k}: value differs ({len(data)} bytes, want {len(tracker.acked[k])})")
        conn.close()

    threads = [threading.Thread(target=check, args=(keys[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return keys, problems


@pytest.mark.slow
@pytest.mark.parametrize("sync", ["none", "always"])
def test_acknowledged_writes_survive_sigkill(node_factory, sync):
    n = node_factory(config=harness.standard_config(), args=["--sync", sync])
    token = harness.TOKENS["admin"].secret
    tracker = Tracker()
    killed = threading.Event()
    threads = [threading.Thread(target=writer, args=(n.port, token, w, tracker, killed, w == 0), daemon=True)
               for w in range(WRITERS)]
    for t in threads:
        t.start()
    time.sleep(WRITE_SECONDS)
    alive_before_kill = n.alive()
    killed.set()
    n.kill()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a writer thread hung after the kill"
    assert alive_before_kill, f"the node died on its own before the SIGKILL:\n{n.stderr()[-3000:]}"
    assert not tracker.errors, f"errors before the kill: {tracker.errors[:5]}"
    assert tracker.count > 0, "no write was acknowledged before the kill"

    n.start()
    assert n.client().status()["storage"]["sync"] == sync
    keys, problems = verify(n.port, token, tracker)
    assert not problems, (f"{len(problems)} of {len(keys)} acknowledged keys lost or wrong after SIGKILL "
                          f"with --sync {sync}: {problems[:10]}")

    # the restarted node accepts writes, and a second crash loses nothing either
    c = n.client()
    assert c.put("dur/after", b"after-restart").status_code == 200
    n.kill()
    n.start()
    assert n.client().get("dur/after").content == b"after-restart"

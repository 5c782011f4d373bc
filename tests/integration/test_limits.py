"""Size and load limits: 413, 431, 503 (max_connections), 429
(max_inflight_requests) — docs/api.md status table and [http] config."""
import os
import select
import socket
import threading
import time

import pytest

import harness
from harness import RawConn, assert_error, b64, http_request_bytes, qkey, raw_exchange


def send_big_request(port, head: bytes, body: bytes, wait_first=1.0):
    """Sends `head`, gives the server `wait_first` seconds to answer early
    (e.g. 413 from Content-Length alone), else sends the body; returns the
    response. Send errors after an early answer are ignored."""
    c = RawConn(port, timeout=20)
    try:
        c.send(head)
        r, _, _ = select.select([c.sock], [], [], wait_first)
        if not r:
            sent = c.try_send(body)
        return c.read_response()
    finally:
        c.close()


# ---------------------------------------------------------------- 413

def test_value_above_namespace_limit_413_key_unchanged(admin, uniq):
    k = uniq + "big"
    admin.put(k, b"orig")
    assert_error(admin.put(k, os.urandom((1 << 20) + 1)), 413, "payload_too_large")
    assert admin.get(k).content == b"orig"


def test_body_above_max_body_bytes_413_default_config(node, admin, uniq):
    k = uniq + "huge"
    admin.put(k, b"orig")
    tok = admin.token
    body = b"x" * (3 << 20)
    head = http_request_bytes("PUT", f"/v1/kv/{qkey(k)}", tok, headers={"Content-Length": str(len(body))})
    r = send_big_request(node.port, head, body)
    assert r is not None, "no response to an oversized body"
    assert_error(r, 413, "payload_too_large")
    assert admin.get(k).content == b"orig"
    assert node.alive()


@pytest.fixture(scope="module")
def small_node(module_node_factory):
    return module_node_factory(config=harness.standard_config(
        "[http]\nmax_body_bytes = 4096\nmax_header_bytes = 2048\n"))


def test_small_max_body_bytes(small_node, uniq):
    c = small_node.client()
    k = uniq + "b"
    assert c.put(k, b"a" * 4000).status_code == 200
    r = send_big_request(small_node.port,
                         http_request_bytes("PUT", f"/v1/kv/{qkey(k)}", c.token, headers={"Content-Length": "5000"}),
                         b"b" * 5000)
    assert_error(r, 413, "payload_too_large")
    assert c.get(k).content == b"a" * 4000
    # a batch body counts too
    ops = [{"op": "put", "key": f"{uniq}{i}", "value": b64(b"z" * 100)} for i in range(60)]
    assert_error(c.batch({"ops": ops}), 413, "payload_too_large")
    assert c.get(f"{uniq}0").status_code == 404


def test_small_max_header_bytes_431(small_node, uniq):
    c = small_node.client()
    k = uniq + "h"
    assert c.put(k, b"v", headers={"X-Pad": "p" * 1000}).status_code == 200
    r = raw_exchange(small_node.port, http_request_bytes("PUT", f"/v1/kv/{qkey(k)}", c.token, b"new",
                                                         headers={"X-Pad": "p" * 3000}))
    assert_error(r, 431, "headers_too_large")
    assert c.get(k).content == b"v"
    assert small_node.alive()


def test_headers_above_default_16k_431(node, admin, uniq):
    k = uniq + "h"
    admin.put(k, b"v")
    r = raw_exchange(node.port, http_request_bytes("PUT", f"/v1/kv/{qkey(k)}", admin.token, b"new",
                                                   headers={"X-Pad": "p" * 20000}))
    assert_error(r, 431, "headers_too_large")
    # many small headers count as well
    many = {f"X-H{i}": "v" * 100 for i in range(200)}
    r = raw_exchange(node.port, http_request_bytes("GET", f"/v1/kv/{qkey(k)}", admin.token, headers=many))
    assert_error(r, 431, "headers_too_large")
    assert admin.get(k).content == b"v"


def test_headers_below_default_16k_ok(admin, uniq):
    # 12 KiB of headers is under the default http.max_header_bytes (16 KiB)
    k = uniq + "h"
    r = admin.put(k, b"v", headers={"X-Pad": "p" * 12000})
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- 503 max_connections

def test_max_connections_503(node_factory):
    n = node_factory(config=harness.standard_config("[http]\nmax_connections = 2\n"))
    tok = harness.TOKENS["admin"].secret
    a, b = RawConn(n.port), RawConn(n.port)
    extra = []
    try:
        for c in (a, b):
            c.send(http_request_bytes("GET", "/ready", tok))
            assert c.read_response().status_code == 200
        got = []
        for _ in range(3):
            c = RawConn(n.port)
            extra.append(c)
            c.try_send(http_request_bytes("GET", "/ready", tok))
            try:
                r = c.read_response()
            except (ConnectionResetError, AssertionError):
                r = None
            got.append(r)
        assert all(r is not None for r in got), "connection beyond max_connections closed without a 503"
        for r in got:
            assert_error(r, 503, "unavailable")
        # the two admitted connections still work
        for c in (a, b):
            c.send(http_request_bytes("GET", "/ready", tok))
            assert c.read_response().status_code == 200
    finally:
        for c in [a, b, *extra]:
            c.close()
    # after closing, new connections are served again
    deadline = time.monotonic() + 10
    status = None
    while time.monotonic() < deadline:
        r = raw_exchange(n.port, http_request_bytes("GET", "/ready", tok, headers={"Connection": "close"}))
        status = r.status_code if r else None
        if status == 200:
            break
        time.sleep(0.1)
    assert status == 200


# ---------------------------------------------------------------- 429 max_inflight_requests

def test_max_inflight_requests_429(node_factory, uniq):
    """Tries to have more than one request in flight with
    max_inflight_requests = 1. Whether a request whose body is still arriving
    counts as in flight is up to the server; if no 429 can be provoked the
    test is skipped (see README), but any 429 seen must be well formed."""
    n = node_factory(config=harness.standard_config("[http]\nmax_inflight_requests = 1\n"))
    tok = harness.TOKENS["admin"].secret
    seen = []

    # Strategy 1: a PUT whose body trickles in holds a slot; a second request arrives.
    slow = RawConn(n.port)
    try:
        slow.send(http_request_bytes("PUT", f"/v1/kv/{qkey(uniq + 'slow')}", tok,
                                     headers={"Content-Length": "100000"}) + b"x" * 10)
        time.sleep(0.3)
        for _ in range(3):
            r = raw_exchange(n.port, http_request_bytes("PUT", f"/v1/kv/{qkey(uniq + 'fast')}", tok, b"v"))
            seen.append(r)
        slow.try_send(b"x" * (100000 - 10))
        rs = slow.read_response()
        assert rs is not None and rs.status_code in (200, 429)
        seen.append(rs)
    finally:
        slow.close()

    # Strategy 2: bursts of concurrent large PUTs on separate connections.
    if not any(r is not None and r.status_code == 429 for r in seen):
        body = os.urandom(1 << 20)
        results, lock = [], threading.Lock()

        def put(i):
            try:
                r = raw_exchange(n.port, http_request_bytes("PUT", f"/v1/kv/{qkey(f'{uniq}burst{i}')}", tok, body),
                                 timeout=30)
            except OSError:
                r = None
            with lock:
                results.append(r)

        for _round in range(6):
            threads = [threading.Thread(target=put, args=(i,)) for i in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            if any(r is not None and r.status_code == 429 for r in results):
                break
        seen.extend(results)

    statuses = sorted({r.status_code for r in seen if r is not None})
    assert set(statuses) <= {200, 429}, f"unexpected statuses {statuses}"
    assert n.alive()
    too_many = [r for r in seen if r is not None and r.status_code == 429]
    if not too_many:
        pytest.skip("429 not provoked with max_inflight_requests = 1 (slow bodies and 6 bursts of 16 concurrent 1 MiB PUTs)")
    for r in too_many:
        assert_error(r, 429, "too_many_requests")
        assert r.headers.get("retry-after") == "1", r.headers

"""HTTP protocol behaviour over raw sockets: malformed targets, routes, 405,
truncated and garbage requests, keep-alive and pipelining (docs/api.md
"Keys", the status table and "Connection behaviour")."""
import os
import socket
import time

import pytest

from harness import RawConn, assert_error, http_request_bytes, qkey, raw_exchange


@pytest.fixture
def tok(node):
    return node.client().token


def assert_healthy(node):
    assert node.alive(), f"node died:\n{node.stderr()[-3000:]}"
    r = raw_exchange(node.port, http_request_bytes("GET", "/health", headers={"Connection": "close"}))
    assert r is not None and r.status_code == 200


# ---------------------------------------------------------------- targets

@pytest.mark.parametrize("bad", ["%zz", "%4", "a%4", "a%g1", "ab%", "%%41", "a%2"])
def test_bad_percent_escape_400(node, admin, tok, uniq, bad):
    base = qkey(uniq)
    for method, body in (("GET", None), ("PUT", b"v"), ("DELETE", None)):
        r = raw_exchange(node.port, http_request_bytes(method, f"/v1/kv/{base}{bad}", tok, body))
        assert_error(r, 400, "bad_request")
    assert admin.list(prefix=uniq).json()["items"] == [], "a key was written from a bad escape"
    assert_healthy(node)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_empty_key_400(node, tok, method):
    r = raw_exchange(node.port, http_request_bytes(method, "/v1/kv/", tok, b"v" if method == "PUT" else None),
                     head=method == "HEAD")
    assert r.status_code == 400
    if method != "HEAD":
        assert_error(r, 400, "bad_request")


def test_key_above_1024_bytes_414_and_not_written(admin, uniq):
    key = (uniq + "k" * 1100).encode()[:1025]
    assert_error(admin.put(key, b"v"), 414, "uri_too_long")
    assert_error(admin.get(key), 414, "uri_too_long")
    assert_error(admin.delete(key), 414, "uri_too_long")
    assert admin.list(prefix=uniq).json()["items"] == []
    ok = key[:1024]
    assert admin.put(ok, b"v").status_code == 200


def test_key_of_1025_escaped_bytes_414(admin):
    assert_error(admin.get(b"\xff" * 1025), 414, "uri_too_long")


def test_request_target_above_8k_414(admin, node, tok):
    assert_error(admin.list(prefix="p" * 9000), 414, "uri_too_long")
    r = raw_exchange(node.port, http_request_bytes("GET", "/v1/kv/" + "k" * 9000, tok))
    assert_error(r, 414, "uri_too_long")
    assert_healthy(node)


# ---------------------------------------------------------------- routes

@pytest.mark.parametrize("path", ["/", "/v1", "/v1/nothing", "/v2/kv/a", "/v1/kvx/a", "/healthz", "/v1/cluster/nope"])
def test_unknown_route_404(admin, path):
    assert_error(admin.get_path(path), 404, "not_found")


@pytest.mark.parametrize("method,path,must_allow", [
    ("POST", "/v1/kv/somekey", {"GET", "HEAD", "PUT", "DELETE"}),
    ("PATCH", "/v1/kv/somekey", {"GET", "PUT", "DELETE"}),
    ("PUT", "/v1/kv", {"GET"}),
    ("DELETE", "/v1/kv", {"GET"}),
    ("POST", "/health", {"GET"}),
    ("DELETE", "/ready", {"GET"}),
    ("POST", "/metrics", {"GET"}),
    ("PUT", "/v1/cluster/status", {"GET"}),
])
def test_wrong_method_405_with_allow(admin, method, path, must_allow):
    r = admin.request(method, path, data=b"x" if method in ("POST", "PUT", "PATCH") else None)
    assert_error(r, 405, "method_not_allowed")
    allow = {m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert must_allow <= allow, f"Allow: {r.headers.get('Allow')!r} lacks {must_allow - allow}"
    assert method not in allow


def test_405_does_not_write(admin, uniq):
    k = uniq + "m"
    admin.put(k, b"orig")
    r = admin.request("POST", "/v1/kv/" + qkey(k), data=b"new")
    assert r.status_code == 405
    assert admin.get(k).content == b"orig"


def test_error_body_is_json_everywhere(node, tok):
    for req in (http_request_bytes("GET", "/nope", tok),
                http_request_bytes("GET", "/v1/kv/%zz", tok),
                http_request_bytes("GET", "/v1/kv/x", None),
                http_request_bytes("POST", "/health")):
        r = raw_exchange(node.port, req)
        assert r.status_code >= 400
        assert r.headers["content-type"].split(";")[0] == "application/json"
        doc = r.json()
        assert set(doc) >= {"code", "message"}


# ---------------------------------------------------------------- body framing

def test_put_without_content_length_411(node, admin, tok, uniq):
    k = qkey(uniq + "len")
    admin.put(uniq + "len", b"orig")
    r = raw_exchange(node.port, http_request_bytes("PUT", f"/v1/kv/{k}", tok))
    assert_error(r, 411, "length_required")
    r = raw_exchange(node.port, http_request_bytes("POST", "/v1/kv/batch", tok))
    assert_error(r, 411, "length_required")
    assert admin.get(uniq + "len").content == b"orig"


def test_put_chunked_is_accepted(node, admin, tok, uniq):
    k = qkey(uniq + "chunked")
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    r = raw_exchange(node.port, http_request_bytes("PUT", f"/v1/kv/{k}", tok, body, content_length=False,
                                                   headers={"Transfer-Encoding": "chunked"}))
    assert r.status_code == 200, r.body
    assert admin.get(uniq + "chunked").content == b"hello world"


def test_put_content_length_zero_stores_empty_value(node, admin, tok, uniq):
    k = qkey(uniq + "zero")
    r = raw_exchange(node.port, http_request_bytes("PUT", f"/v1/kv/{k}", tok, b""))
    assert r.status_code == 200
    g = admin.get(uniq + "zero")
    assert g.status_code == 200 and g.content == b""


# ---------------------------------------------------------------- truncated / garbage

def _prep(admin, uniq):
    k = uniq + "victim"
    admin.put(k, b"original")
    return k


@pytest.mark.parametrize("fragment", [
    b"PUT /v1/kv/",
    b"PUT /v1/kv/x HTT",
    b"PUT /v1/kv/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Len",
    b"PUT /v1/kv/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n",
], ids=["half-line", "line", "half-headers", "headers-no-blank-line"])
def test_truncated_head_then_close(node, admin, tok, uniq, fragment):
    k = _prep(admin, uniq)
    frag = fragment.replace(b"/v1/kv/x", f"/v1/kv/{qkey(k)}".encode())
    frag = frag.replace(b"Host: 127.0.0.1\r\n", f"Host: 127.0.0.1\r\nAuthorization: Bearer {tok}\r\n".encode())
    with RawConn(node.port) as c:
        c.send(frag)
    time.sleep(0.2)
    assert_healthy(node)
    assert admin.get(k).content == b"original"


def test_truncated_body_then_close(node, admin, tok, uniq):
    k = _prep(admin, uniq)
    head = http_request_bytes("PUT", f"/v1/kv/{qkey(k)}", tok, headers={"Content-Length": "100"})
    with RawConn(node.port) as c:
        c.send(head + b"0123456789")
    time.sleep(0.3)
    assert_healthy(node)
    assert admin.get(k).content == b"original"
    # and the same through a batch
    head = http_request_bytes("POST", "/v1/kv/batch", tok, headers={"Content-Length": "500"})
    with RawConn(node.port) as c:
        c.send(head + b'{"ops":[{"op":"delete","key":"' + k.encode() + b'"}')
    time.sleep(0.3)
    assert admin.get(k).content == b"original"


def test_truncated_body_half_close_gets_400(node, admin, tok, uniq):
    """The client half-closes after 10 of 100 body bytes: a response is still
    possible, so api.md says 400 (truncated request) and close."""
    k = _prep(admin, uniq)
    with RawConn(node.port) as c:
        c.send(http_request_bytes("PUT", f"/v1/kv/{qkey(k)}", tok, headers={"Content-Length": "100"}) + b"0123456789")
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response()
        assert r is not None, "no response to a truncated request (connection closed silently)"
        assert_error(r, 400, "bad_request")
        assert c.closed_by_peer()
    assert admin.get(k).content == b"original"
    assert_healthy(node)


@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)) + b"\r\n\r\n",
    b"HELLO WORLD\r\n\r\n",
    b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /health HTTP/1.1\r\nthis is not a header\r\n\r\n",
    b"PUT /v1/kv/x HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n",
    b"PUT /v1/kv/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
    b"PUT /v1/kv/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
], ids=["tls-hello", "words", "binary", "no-target", "bad-header", "bad-content-length",
        "two-content-lengths", "bad-chunk"])
def test_garbage_gets_400_and_close(node, admin, tok, uniq, garbage):
    k = _prep(admin, uniq)
    garbage = garbage.replace(b"/v1/kv/x", f"/v1/kv/{qkey(k)}".encode())
    garbage = garbage.replace(b"Host: a\r\n", f"Host: a\r\nAuthorization: Bearer {tok}\r\n".encode())
    with RawConn(node.port) as c:
        c.send(garbage)
        r = c.read_response()
        assert r is not None, "connection closed without a 400"
        assert r.status_code == 400, (r.status_code, r.body[:200])
        assert c.closed_by_peer(), "connection not closed after a malformed request"
    assert admin.get(k).content == b"original"
    assert_healthy(node)


def test_good_then_garbage_pipelined(node, admin, tok, uniq):
    k = _prep(admin, uniq)
    with RawConn(node.port) as c:
        c.send(http_request_bytes("GET", f"/v1/kv/{qkey(k)}", tok) + b"\x00\x01garbage\r\n\r\n")
        r1 = c.read_response()
        assert r1.status_code == 200 and r1.body == b"original"
        r2 = c.read_response()
        assert r2 is not None and r2.status_code == 400
        assert c.closed_by_peer()


# ---------------------------------------------------------------- keep-alive, pipelining

def test_keep_alive_many_requests_one_connection(node, admin, tok, uniq):
    with RawConn(node.port) as c:
        for i in range(150):
            k = qkey(f"{uniq}ka{i % 10}")
            c.send(http_request_bytes("PUT", f"/v1/kv/{k}", tok, b"v%d" % i))
            r = c.read_response()
            assert r.status_code == 200, r.body
            assert r.headers.get("connection", "").lower() != "close"
            c.send(http_request_bytes("GET", f"/v1/kv/{k}", tok))
            r = c.read_response()
            assert r.status_code == 200 and r.body == b"v%d" % i
        # errors do not close a keep-alive connection either
        c.send(http_request_bytes("GET", f"/v1/kv/{qkey(uniq + 'absent')}", tok))
        assert c.read_response().status_code == 404
        c.send(http_request_bytes("GET", "/v1/kv/x", "wrong"))
        assert c.read_response().status_code == 401
        c.send(http_request_bytes("GET", "/health"))
        assert c.read_response().status_code == 200


def test_pipelining_three_requests_in_one_write(node, tok, uniq):
    k, missing = qkey(uniq + "p1"), qkey(uniq + "nope")
    data = (http_request_bytes("PUT", f"/v1/kv/{k}", tok, b"pipelined value")
            + http_request_bytes("GET", f"/v1/kv/{k}", tok)
            + http_request_bytes("GET", f"/v1/kv/{missing}", tok))
    with RawConn(node.port) as c:
        c.send(data)
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
    assert r1.status_code == 200 and r1.json()["key"] == uniq + "p1"
    assert r2.status_code == 200 and r2.body == b"pipelined value"
    assert r2.headers["x-meshkv-version"] == r1.json()["version"]
    assert r3.status_code == 404


def test_pipelining_many_mixed(node, tok, uniq):
    reqs, expect = [], []
    for i in range(20):
        k = qkey(f"{uniq}m{i}")
        reqs.append(http_request_bytes("PUT", f"/v1/kv/{k}", tok, os.urandom(i * 37)))
        expect.append(("PUT", 200))
        reqs.append(http_request_bytes("HEAD", f"/v1/kv/{k}", tok))
        expect.append(("HEAD", 200))
        reqs.append(http_request_bytes("DELETE", f"/v1/kv/{k}", tok))
        expect.append(("DELETE", 200))
        reqs.append(http_request_bytes("GET", f"/v1/kv/{k}", tok))
        expect.append(("GET", 404))
    with RawConn(node.port) as c:
        c.send(b"".join(reqs))
        for method, status in expect:
            r = c.read_response(head=method == "HEAD")
            assert r is not None and r.status_code == status, (method, status, r and r.status_code)


def test_connection_close_is_honoured(node):
    with RawConn(node.port) as c:
        c.send(http_request_bytes("GET", "/health", headers={"Connection": "close"}))
        assert c.read_response().status_code == 200
        assert c.closed_by_peer()

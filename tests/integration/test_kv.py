"""Single-key routes: PUT / GET / HEAD / DELETE /v1/kv/{key} (docs/api.md
"Keys", "PUT", "GET and HEAD", "DELETE"), values, keys, headers, TTL."""
import json
import os
import re
import time

import pytest

from harness import RawConn, assert_error, b64, http_request_bytes, qkey, unb64

ALL_BYTES = bytes(range(256))
VERSION_RE = re.compile(r"^(\d+)-([0-9a-f]{16})$")


def hlc(version: str) -> int:
    m = VERSION_RE.match(version)
    assert m, f"version {version!r} is not <hlc>-<16 hex node id>"
    return int(m.group(1))


@pytest.fixture(scope="module")
def node_id(node):
    c = node.client()
    return c.status()["node_id"]


# ---------------------------------------------------------------- values

@pytest.mark.parametrize("value", [
    ALL_BYTES,
    ALL_BYTES[::-1] * 4,
    b"",
    b"hello world  with  spaces\n\tand tabs\r\n",
    "unicode: ключ 日本語 🙂".encode(),
    b"\x00",
    b"\x00" * 1000,
], ids=["all-bytes", "all-bytes-rev-x4", "empty", "text-spaces", "utf8", "nul", "nul-x1000"])
def test_value_roundtrip_raw_and_json(admin, uniq, value):
    key = uniq + "v"
    r = admin.put(key, value)
    assert r.status_code == 200, r.text
    r = admin.get(key)
    assert r.status_code == 200, r.text
    assert r.content == value
    assert r.headers["Content-Type"].split(";")[0] == "application/octet-stream"
    r = admin.get(key, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    doc = r.json()
    assert unb64(doc["value"]) == value
    assert doc["key"] == key
    assert doc["ns"] == "default"


def test_random_values_roundtrip(admin, uniq):
    values = {f"{uniq}r{i}": os.urandom(n) for i, n in enumerate([1, 7, 255, 4096, 65537, 300_000])}
    for k, v in values.items():
        assert admin.put(k, v).status_code == 200
    for k, v in values.items():
        r = admin.get(k)
        assert r.status_code == 200
        assert r.content == v, f"value of {k} differs ({len(r.content)} vs {len(v)} bytes)"
        assert unb64(admin.get(k, headers={"Accept": "application/json"}).json()["value"]) == v


def test_max_value_size_default_namespace(admin, uniq):
    key = uniq + "big"
    v = os.urandom(1 << 20)  # exactly the default max_value_bytes
    r = admin.put(key, v)
    assert r.status_code == 200, r.text[:300]
    assert admin.get(key).content == v


def test_overwrite_replaces_value_and_advances_version(admin, uniq):
    key = uniq + "ow"
    v1 = admin.put(key, b"one").json()["version"]
    v2 = admin.put(key, b"two").json()["version"]
    assert hlc(v2) > hlc(v1)
    r = admin.get(key)
    assert r.content == b"two"
    assert r.headers["X-Meshkv-Version"] == v2


# ---------------------------------------------------------------- keys

@pytest.mark.parametrize("key", [
    b"plain",
    b"a/b/c",
    b"with space",
    b"a/b c",
    "unicode/ключ/日本語/🙂".encode(),
    b"nul\x00byte",
    b"ff\xffbyte",
    b"\x00",
    b"\xff\xfe\x80",
    bytes(range(1, 256)),
    b"%41%zz",          # a literal percent sign in the key (sent as %25)
    b"?#&=+;",
    b"x" * 1024,
], ids=["plain", "slashes", "space", "slash-space", "unicode", "nul", "ff", "only-nul",
        "invalid-utf8", "all-bytes", "percent", "reserved", "1024-bytes"])
def test_key_roundtrip(admin, uniq, key):
    full = uniq.encode() + key if len(key) < 1000 else key
    r = admin.put(full, b"val:" + full)
    assert r.status_code == 200, r.text
    r = admin.get(full)
    assert r.status_code == 200, r.text
    assert r.content == b"val:" + full
    env = admin.get(full, headers={"Accept": "application/json"}).json()
    try:
        text = full.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        assert env["key"] == text
    admin.delete(full)


def test_slash_in_path_and_encoded_slash_are_the_same_key(admin, node, uniq):
    # /v1/kv/a/b%20c is the key "a/b c" (api.md example)
    key = uniq + "a/b c"
    r = admin.request("PUT", "/v1/kv/" + qkey(uniq).replace("%2F", "/") + "a/b%20c", data=b"X")
    assert r.status_code == 200, r.text
    assert r.json()["key"] == key
    r = admin.get(key)  # sent fully encoded: .../a%2Fb%20c
    assert r.status_code == 200
    assert r.content == b"X"


def test_key_1024_bytes_multibyte_ok_and_1025_is_414(admin, uniq):
    ok = "é" * 512  # 1024 bytes, 512 characters
    r = admin.put(ok, b"v")
    assert r.status_code == 200, r.text
    assert admin.get(ok).content == b"v"
    bad = "é" * 512 + "x"  # 1025 bytes
    assert_error(admin.put(bad, b"v"), 414, "uri_too_long")
    assert_error(admin.get(bad), 414, "uri_too_long")
    admin.delete(ok)


def test_key_with_nul_and_ff_listed_with_key_b64_only(admin, uniq):
    key = uniq.encode() + b"a\x00b\xff"
    assert admin.put(key, b"v").status_code == 200
    doc = admin.list(prefix=uniq).json()
    assert len(doc["items"]) == 1
    item = doc["items"][0]
    assert unb64(item["key_b64"]) == key
    assert "key" not in item or item["key"] is None, "key must be absent for a non-UTF-8 key"


# ---------------------------------------------------------------- PUT response, headers

def test_put_response_body_and_headers(admin, uniq, node_id):
    key = uniq + "a/b c"
    r = admin.put(key, b"v")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    doc = r.json()
    assert doc["ns"] == "default"
    assert doc["key"] == key
    assert doc["expires_at_ms"] is None
    m = VERSION_RE.match(doc["version"])
    assert m and m.group(2) == node_id
    assert r.headers.get("X-Meshkv-Version") == doc["version"]


def test_get_headers(admin, uniq, node_id):
    key = uniq + "h"
    before = int(time.time() * 1000)
    version = admin.put(key, b"value").json()["version"]
    after = int(time.time() * 1000)
    r = admin.get(key)
    assert r.status_code == 200
    h = r.headers
    assert h["X-Meshkv-Version"] == version
    assert h["X-Meshkv-Origin"] == node_id
    assert h["X-Meshkv-Namespace"] == "default"
    ts = int(h["X-Meshkv-Timestamp-Ms"])
    # The wall clock of the write: same clock, so within the request window
    # (a loose sanity bound, not a performance assertion).
    assert before - 5_000 <= ts <= after + 5_000
    assert "X-Meshkv-Expires-At-Ms" not in h
    env = admin.get(key, headers={"Accept": "application/json"}).json()
    assert env["version"] == version
    assert env["origin"] == node_id
    assert env["timestamp_ms"] == ts
    assert env["expires_at_ms"] is None
    assert set(env) >= {"ns", "key", "value", "version", "origin", "timestamp_ms", "expires_at_ms"}


def test_head(admin, uniq):
    key = uniq + "head"
    admin.put(key, b"0123456789")
    g = admin.get(key)
    r = admin.head(key)
    assert r.status_code == 200
    assert r.content == b""
    for h in ("X-Meshkv-Version", "X-Meshkv-Timestamp-Ms", "X-Meshkv-Origin", "X-Meshkv-Namespace"):
        assert r.headers.get(h) == g.headers.get(h), h
    r = admin.head(uniq + "missing")
    assert r.status_code == 404
    assert r.content == b""


def test_head_raw_has_no_body_and_connection_survives(node, uniq):
    tok = node.client().token
    key = qkey(uniq + "rawhead")
    with RawConn(node.port) as c:
        c.send(http_request_bytes("PUT", f"/v1/kv/{key}", tok, b"abc"))
        assert c.read_response().status_code == 200
        c.send(http_request_bytes("HEAD", f"/v1/kv/{key}", tok))
        r = c.read_response(head=True)
        assert r.status_code == 200
        # the next response on the connection must start right away: a HEAD
        # body would show up here as garbage before the status line
        c.send(http_request_bytes("GET", f"/v1/kv/{key}", tok))
        r = c.read_response()
        assert r.status_code == 200 and r.body == b"abc"


def test_get_missing_404(admin, uniq):
    assert_error(admin.get(uniq + "nope"), 404, "not_found")
    assert_error(admin.get(uniq + "nope", headers={"Accept": "application/json"}), 404, "not_found")


# ---------------------------------------------------------------- DELETE

def test_delete(admin, uniq, node_id):
    key = uniq + "d"
    v1 = admin.put(key, b"x").json()["version"]
    r = admin.delete(key)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["ns"] == "default" and doc["key"] == key
    assert hlc(doc["version"]) > hlc(v1)
    assert_error(admin.get(key), 404, "not_found")
    assert admin.head(key).status_code == 404
    # idempotent, also for a key that never existed
    assert admin.delete(key).status_code == 200
    r = admin.delete(uniq + "never")
    assert r.status_code == 200
    assert r.json()["key"] == uniq + "never"
    # a put after a delete brings the key back
    assert admin.put(key, b"again").status_code == 200
    assert admin.get(key).content == b"again"


# ---------------------------------------------------------------- query params

def test_consistency_values(admin, uniq):
    key = uniq + "c"
    for c in ("one", "quorum", "all"):
        assert admin.put(key, c.encode(), params={"consistency": c}).status_code == 200
        r = admin.get(key, params={"consistency": c})
        assert r.status_code == 200 and r.content == c.encode()
    assert_error(admin.put(key, b"bad", params={"consistency": "most"}), 400, "bad_request")
    assert_error(admin.get(key, params={"consistency": "ONE!"}), 400, "bad_request")
    assert admin.get(key).content == b"all"


def test_unknown_query_parameter_400(admin, uniq):
    key = uniq + "q"
    admin.put(key, b"orig")
    assert_error(admin.put(key, b"new", params={"tll": "5s"}), 400, "bad_request")
    assert_error(admin.get(key, params={"foo": "1"}), 400, "bad_request")
    assert_error(admin.delete(key, params={"force": "true"}), 400, "bad_request")
    assert admin.get(key).content == b"orig"


def test_unknown_namespace_404(admin, uniq):
    key = uniq + "ns"
    assert_error(admin.put(key, b"v", params={"ns": "nosuchns"}), 404, "not_found")
    assert_error(admin.get(key, params={"ns": "nosuchns"}), 404, "not_found")
    assert_error(admin.delete(key, params={"ns": "nosuchns"}), 404, "not_found")
    assert_error(admin.list(ns="nosuchns"), 404, "not_found")
    assert_error(admin.get(key), 404, "not_found")  # nothing written to default either


def test_namespaces_are_separate_keyspaces(admin, uniq):
    key = uniq + "same"
    assert admin.put(key, b"default").status_code == 200
    r = admin.put(key, b"tenant", params={"ns": "tenant"})
    assert r.status_code == 200 and r.json()["ns"] == "tenant"
    assert admin.put(key, b"mem", params={"ns": "mem"}).status_code == 200
    assert admin.get(key).content == b"default"
    r = admin.get(key, params={"ns": "tenant"})
    assert r.content == b"tenant"
    assert r.headers["X-Meshkv-Namespace"] == "tenant"
    assert admin.get(key, params={"ns": "mem"}).content == b"mem"
    assert admin.get(key, params={"ns": "default"}).content == b"default"
    admin.delete(key, params={"ns": "tenant"})
    assert admin.get(key, params={"ns": "tenant"}).status_code == 404
    assert admin.get(key).content == b"default"


def test_namespace_max_value_bytes(admin, uniq):
    key = uniq + "small"
    assert admin.put(key, b"a" * 1024, params={"ns": "small"}).status_code == 200
    assert_error(admin.put(key, b"b" * 1025, params={"ns": "small"}), 413, "payload_too_large")
    assert admin.get(key, params={"ns": "small"}).content == b"a" * 1024


# ---------------------------------------------------------------- TTL

def test_ttl_expiry(admin, uniq):
    k1, k2, k3 = uniq + "ttl1", uniq + "ttl-long", uniq + "ttl-none"
    t0 = int(time.time() * 1000)
    r = admin.put(k1, b"short-lived", params={"ttl": "1s"})
    assert r.status_code == 200, r.text
    exp = r.json()["expires_at_ms"]
    assert isinstance(exp, int) and t0 + 500 <= exp <= int(time.time() * 1000) + 1500
    assert admin.put(k2, b"long", params={"ttl": "1h30m"}).status_code == 200
    assert admin.put(k3, b"forever", params={"ttl": "0s"}).status_code == 200
    r = admin.get(k1)
    assert r.status_code == 200 and r.content == b"short-lived"
    assert int(r.headers["X-Meshkv-Expires-At-Ms"]) == exp
    assert admin.get(k1, headers={"Accept": "application/json"}).json()["expires_at_ms"] == exp
    exp2 = int(admin.get(k2).headers["X-Meshkv-Expires-At-Ms"])
    assert abs(exp2 - (t0 + 5_400_000)) < 60_000
    assert "X-Meshkv-Expires-At-Ms" not in admin.get(k3).headers
    assert [i["key"] for i in admin.list(prefix=uniq).json()["items"]] == sorted([k1, k2, k3])

    time.sleep(1.6)
    assert_error(admin.get(k1), 404, "not_found")
    assert admin.head(k1).status_code == 404
    assert [i["key"] for i in admin.list(prefix=uniq).json()["items"]] == sorted([k2, k3])
    assert admin.get(k2).content == b"long"
    assert admin.get(k3).content == b"forever"


def test_ttl_overwrite_without_ttl_clears_expiry(admin, uniq):
    key = uniq + "t"
    assert admin.put(key, b"a", params={"ttl": "1s"}).json()["expires_at_ms"] is not None
    r = admin.put(key, b"b")
    assert r.json()["expires_at_ms"] is None
    time.sleep(1.3)
    assert admin.get(key).content == b"b"


def test_namespace_default_ttl(admin, uniq):
    k1, k2, k3 = uniq + "d1", uniq + "d2", uniq + "d3"
    r = admin.put(k1, b"x", params={"ns": "short"})
    assert r.status_code == 200
    assert r.json()["expires_at_ms"] is not None, "namespace default_ttl = 1s not applied"
    assert admin.put(k2, b"y", params={"ns": "short", "ttl": "0s"}).json()["expires_at_ms"] is None
    assert admin.put(k3, b"z", params={"ns": "short", "ttl": "1h"}).status_code == 200
    assert admin.get(k1, params={"ns": "short"}).content == b"x"
    time.sleep(1.6)
    assert admin.get(k1, params={"ns": "short"}).status_code == 404
    assert admin.get(k2, params={"ns": "short"}).content == b"y"
    assert admin.get(k3, params={"ns": "short"}).content == b"z"
    keys = [i["key"] for i in admin.list(prefix=uniq, ns="short").json()["items"]]
    assert keys == [k2, k3]


@pytest.mark.parametrize("ttl", ["abc", "10", "-1s", "5x", "", "s", "1s1", "99999999999999999999d"])
def test_bad_ttl_400_nothing_written(admin, uniq, ttl):
    key = uniq + "badttl"
    assert_error(admin.put(key, b"v", params={"ttl": ttl}), 400, "bad_request")
    assert admin.get(key).status_code == 404
    admin.put(key, b"orig")
    assert_error(admin.put(key, b"new", params={"ttl": ttl}), 400, "bad_request")
    assert admin.get(key).content == b"orig"


@pytest.mark.parametrize("ttl", ["500ms", "30s", "5m", "2h", "1d", "1h30m", "0s"])
def test_good_ttl_spellings(admin, uniq, ttl):
    assert admin.put(uniq + "g", b"v", params={"ttl": ttl}).status_code == 200

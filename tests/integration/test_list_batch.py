"""GET /v1/kv (listing, pagination) and POST /v1/kv/batch (docs/api.md)."""
import json
import os
import random
import re
import time
import urllib.parse

import pytest

from harness import assert_error, b64, qkey, unb64


def keys_of(items):
    return [unb64(i["key_b64"]) for i in items]


# ======================================================================
# listing


@pytest.fixture(scope="module")
def many_keys(node):
    """~250 keys under one prefix, with binary suffixes, so bytewise order
    matters (0x80.. sorts after ASCII, unlike many string orders)."""
    c = node.client()
    prefix = f"list-{os.urandom(4).hex()}/"
    rnd = random.Random(1234)
    keys = set()
    while len(keys) < 250:
        suffix = bytes(rnd.choice(b"azAZ09-_./ \x00\x01\x7f\x80\xc3\xa9\xfe\xff") for _ in range(rnd.randint(1, 6)))
        keys.add(prefix.encode() + suffix)
    values = {}
    for k in keys:
        values[k] = os.urandom(rnd.randint(0, 40))
        r = c.put(k, values[k])
        assert r.status_code == 200, r.text
    c.close()
    return prefix, values


@pytest.mark.parametrize("page", [1, 7, 100, 1000])
def test_pagination_collects_every_key_once_in_order(admin, many_keys, page):
    prefix, values = many_keys
    items = admin.list_all(prefix, page=page)
    got = keys_of(items)
    assert len(got) == len(set(got)), "a key was listed twice"
    assert got == sorted(values), "keys missing, extra or not in bytewise order"
    for i in items:
        assert unb64(i["value"]) == values[unb64(i["key_b64"])]
        assert "version" in i and i["expires_at_ms"] is None
        try:
            text = unb64(i["key_b64"]).decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None:
            assert i.get("key") is None, f"key present for a non-UTF-8 key: {i!r}"
        else:
            assert i.get("key") == text, f"key missing or wrong for a UTF-8 key: {i!r}"


def test_list_page_shape_and_default_limit(admin, many_keys):
    prefix, values = many_keys
    r = admin.list(prefix=prefix)
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    doc = r.json()
    assert doc["ns"] == "default"
    assert len(doc["items"]) == 100, "default limit is 100"
    assert isinstance(doc["next_cursor"], str) and doc["next_cursor"]
    assert keys_of(doc["items"]) == sorted(values)[:100]
    last = admin.list(prefix=prefix, limit=1000).json()
    assert len(last["items"]) == 250
    assert last["next_cursor"] is None


def test_list_keys_only(admin, many_keys):
    prefix, values = many_keys
    doc = admin.list(prefix=prefix, limit=1000, keys_only="true").json()
    assert keys_of(doc["items"]) == sorted(values)
    for i in doc["items"]:
        assert "value" not in i
    doc = admin.list(prefix=prefix, limit=5, keys_only="false").json()
    assert all("value" in i for i in doc["items"])


def test_list_prefix_filters(admin, uniq):
    for k in ("a", "ab", "abc", "b", "ba"):
        admin.put(uniq + k, k.encode())
    admin.put(uniq[:-1] + "x", b"outside")  # shares the prefix minus the slash
    assert [i["key"] for i in admin.list(prefix=uniq + "a").json()["items"]] == [uniq + k for k in ("a", "ab", "abc")]
    assert [i["key"] for i in admin.list(prefix=uniq + "b").json()["items"]] == [uniq + "b", uniq + "ba"]
    doc = admin.list(prefix=uniq + "zzz").json()
    assert doc["items"] == [] and doc["next_cursor"] is None
    assert len(admin.list(prefix=uniq).json()["items"]) == 5


def test_list_binary_prefix(admin, uniq):
    p = uniq.encode()
    for suffix in (b"\xff1", b"\xff2", b"\xfe", b"\x00"):
        assert admin.put(p + suffix, b"v").status_code == 200
    q = "prefix=" + urllib.parse.quote(p + b"\xff", safe="")
    r = admin.request("GET", "/v1/kv?" + q)
    assert r.status_code == 200, r.text
    assert keys_of(r.json()["items"]) == [p + b"\xff1", p + b"\xff2"]
    assert keys_of(admin.list(prefix=uniq).json()["items"]) == [p + b"\x00", p + b"\xfe", p + b"\xff1", p + b"\xff2"]


def test_list_skips_deleted_and_expired(admin, uniq):
    for i in range(10):
        admin.put(f"{uniq}k{i}", b"v")
    for i in (0, 4, 9):
        assert admin.delete(f"{uniq}k{i}").status_code == 200
    for i in (2, 6):
        assert admin.put(f"{uniq}k{i}", b"short", params={"ttl": "1s"}).status_code == 200
    admin.put(f"{uniq}e", b"short", params={"ttl": "1s"})
    time.sleep(1.6)
    want = [f"{uniq}k{i}" for i in (1, 3, 5, 7, 8)]
    assert [i["key"] for i in admin.list(prefix=uniq, limit=1000).json()["items"]] == want
    # and across page boundaries
    assert [i["key"] for i in admin.list_all(uniq, page=2)] == want
    assert [i["key"] for i in admin.list_all(uniq, page=1, keys_only="true")] == want


def test_list_namespace(admin, uniq):
    admin.put(uniq + "t", b"t", params={"ns": "tenant"})
    admin.put(uniq + "d", b"d")
    doc = admin.list(prefix=uniq, ns="tenant").json()
    assert doc["ns"] == "tenant"
    assert [i["key"] for i in doc["items"]] == [uniq + "t"]
    assert [i["key"] for i in admin.list(prefix=uniq).json()["items"]] == [uniq + "d"]


@pytest.mark.parametrize("limit", ["0", "1001", "abc", "-1", "", "1.5"])
def test_list_bad_limit_400(admin, limit):
    assert_error(admin.list(limit=limit), 400, "bad_request")


def test_list_limit_bounds_ok(admin, many_keys):
    prefix, _ = many_keys
    assert len(admin.list(prefix=prefix, limit=1).json()["items"]) == 1
    assert len(admin.list(prefix=prefix, limit=1000).json()["items"]) == 250


@pytest.mark.parametrize("params", [{"foo": "bar"}, {"keys_only": "maybe"}, {"consistency": "some"},
                                    {"prefix": "a", "limt": "5"}])
def test_list_bad_query_400(admin, params):
    assert_error(admin.list(**params), 400, "bad_request")


# ======================================================================
# batch


def test_batch_mixed_ops(admin, uniq, node):
    a, b, c, miss = uniq + "a", uniq + "b", uniq + "c", uniq + "missing"
    bin_key = uniq.encode() + b"\x00\xff"
    vb = admin.put(b, b"bval").json()["version"]
    admin.put(c, b"cval")
    r = admin.batch({"ns": "default", "consistency": "quorum", "ops": [
        {"op": "put", "key": a, "value": b64(bytes(range(256))), "ttl": "30s"},
        {"op": "get", "key": b},
        {"op": "delete", "key_b64": b64(c.encode())},
        {"op": "get", "key": miss},
        {"op": "put", "key_b64": b64(bin_key), "value": b64(b"")},
        {"op": "get", "key": a},
    ]})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["op"] for x in res] == ["put", "get", "delete", "get", "put", "get"]
    assert [x["status"] for x in res] == [200, 200, 200, 404, 200, 404], res
    assert res[0]["key"] == a and res[0]["version"]
    assert res[1]["key"] == b
    assert unb64(res[1]["value"]) == b"bval"
    assert res[1]["version"] == vb
    assert res[1]["expires_at_ms"] is None
    assert res[2]["version"]
    assert res[3]["key"] == miss
    assert "value" not in res[3]
    # applied
    g = admin.get(a)
    assert g.status_code == 200 and g.content == bytes(range(256))
    assert "X-Meshkv-Expires-At-Ms" in g.headers
    assert g.headers["X-Meshkv-Version"] == res[0]["version"]
    assert admin.get(c).status_code == 404
    assert admin.get(bin_key).status_code == 200 and admin.get(bin_key).content == b""
    assert admin.get(b).content == b"bval"


def test_batch_gets_read_state_before_batch(admin, uniq):
    k = uniq + "x"
    admin.put(k, b"old")
    res = admin.batch({"ops": [{"op": "put", "key": k, "value": b64(b"new")},
                               {"op": "get", "key": k},
                               {"op": "delete", "key": uniq + "y"},
                               {"op": "get", "key": uniq + "y"}]}).json()["results"]
    assert res[1]["status"] == 200 and unb64(res[1]["value"]) == b"old"
    assert admin.get(k).content == b"new"


def test_batch_default_ns_and_namespace(admin, uniq):
    k = uniq + "n"
    r = admin.batch({"ns": "tenant", "ops": [{"op": "put", "key": k, "value": b64(b"t")}]})
    assert r.status_code == 200, r.text
    assert admin.get(k, params={"ns": "tenant"}).content == b"t"
    assert admin.get(k).status_code == 404
    r = admin.batch({"ops": [{"op": "put", "key": k, "value": b64(b"d")}]})
    assert r.status_code == 200
    assert admin.get(k).content == b"d"


BAD_OPS = {
    "bad-base64-value": {"op": "put", "key": "K", "value": "***not base64***"},
    "bad-base64-key": {"op": "get", "key_b64": "%%%"},
    "unknown-op": {"op": "frobnicate", "key": "K"},
    "missing-op": {"key": "K"},
    "missing-key": {"op": "get"},
    "empty-key": {"op": "delete", "key": ""},
    "long-key": {"op": "put", "key": "k" * 1025, "value": ""},
    "bad-ttl": {"op": "put", "key": "K", "value": "", "ttl": "5x"},
    "op-not-object": "put",
    "value-not-string": {"op": "put", "key": "K", "value": 12},
}


@pytest.mark.parametrize("bad", list(BAD_OPS), ids=list(BAD_OPS))
def test_batch_one_bad_op_400_nothing_applied(admin, uniq, bad):
    p1, p2, d = uniq + "p1", uniq + "p2", uniq + "d"
    admin.put(d, b"keep")
    op = BAD_OPS[bad]
    if isinstance(op, dict) and op.get("key") == "K":
        op = dict(op, key=uniq + "K")
    r = admin.batch({"ops": [{"op": "put", "key": p1, "value": b64(b"1")},
                             {"op": "delete", "key": d},
                             op,
                             {"op": "put", "key": p2, "value": b64(b"2")}]})
    doc = assert_error(r, 400, "bad_request")
    assert re.search(r"(?<![0-9])2(?![0-9])", doc["message"]), f"message does not name op index 2: {doc['message']!r}"
    assert admin.get(p1).status_code == 404
    assert admin.get(p2).status_code == 404
    assert admin.get(d).content == b"keep"
    assert admin.get(uniq + "K").status_code == 404


@pytest.mark.parametrize("body", [
    b"{not json",
    b"",
    b"[]",
    b'"ops"',
    b'{"ops": {}}',
    b'{"ops": []}',
    b'{"ns": 5, "ops": [{"op":"get","key":"a"}]}',
    b'{"consistency": "most", "ops": [{"op":"get","key":"a"}]}',
    b'{"ops": [{"op":"get","key":"a"}]} trailing',
], ids=["syntax", "empty", "array", "string", "ops-object", "zero-ops", "ns-number", "bad-consistency", "trailing"])
def test_batch_malformed_400(admin, body):
    assert_error(admin.batch(body), 400, "bad_request")


def test_batch_unknown_namespace_404(admin, uniq):
    r = admin.batch({"ns": "nosuchns", "ops": [{"op": "put", "key": uniq + "a", "value": ""}]})
    assert_error(r, 404, "not_found")
    assert admin.get(uniq + "a").status_code == 404


def test_batch_op_count_limits(admin, uniq):
    ops = [{"op": "put", "key": f"{uniq}{i:04d}", "value": b64(b"%d" % i)} for i in range(1001)]
    assert_error(admin.batch({"ops": ops}), 400, "bad_request")
    assert admin.get(f"{uniq}0000").status_code == 404
    r = admin.batch({"ops": ops[:1000]})
    assert r.status_code == 200, r.text[:300]
    assert len(r.json()["results"]) == 1000
    assert admin.get(f"{uniq}0999").content == b"999"
    assert len(admin.list_all(uniq, page=1000)) == 1000


def test_batch_prefix_token_one_op_outside_403_nothing_applied(node, admin):
    app = node.client_as("app")
    tag = os.urandom(4).hex()
    inside, inside2, outside = f"app/{tag}/a", f"app/{tag}/b", f"other/{tag}/x"
    admin.put(inside2, b"keep")
    r = app.batch({"ops": [{"op": "put", "key": inside, "value": b64(b"1")},
                           {"op": "delete", "key": inside2},
                           {"op": "get", "key": outside}]})
    assert_error(r, 403, "forbidden")
    assert admin.get(inside).status_code == 404
    assert admin.get(inside2).content == b"keep"
    r = app.batch({"ops": [{"op": "put", "key": inside, "value": b64(b"1")},
                           {"op": "put", "key_b64": b64(outside.encode()), "value": b64(b"2")}]})
    assert_error(r, 403, "forbidden")
    assert admin.get(inside).status_code == 404
    assert admin.get(outside).status_code == 404
    r = app.batch({"ops": [{"op": "put", "key": inside, "value": b64(b"1")}, {"op": "get", "key": inside2}]})
    assert r.status_code == 200, r.text
    assert admin.get(inside).content == b"1"


def test_batch_scopes(node, admin, uniq):
    reader, writer = node.client_as("reader"), node.client_as("writer")
    k = uniq + "s"
    admin.put(k, b"v")
    assert_error(reader.batch({"ops": [{"op": "get", "key": k}, {"op": "put", "key": uniq + "r", "value": ""}]}),
                 403, "forbidden")
    assert admin.get(uniq + "r").status_code == 404
    r = reader.batch({"ops": [{"op": "get", "key": k}]})
    assert r.status_code == 200 and unb64(r.json()["results"][0]["value"]) == b"v"
    assert_error(writer.batch({"ops": [{"op": "put", "key": uniq + "w", "value": ""}, {"op": "get", "key": k}]}),
                 403, "forbidden")
    assert admin.get(uniq + "w").status_code == 404
    r = writer.batch({"ops": [{"op": "put", "key": uniq + "w", "value": b64(b"w")}, {"op": "delete", "key": k}]})
    assert r.status_code == 200, r.text
    assert admin.get(uniq + "w").content == b"w"
    assert admin.get(k).status_code == 404
    tenant = node.client_as("tenant")
    assert_error(tenant.batch({"ops": [{"op": "put", "key": uniq + "t", "value": ""}]}), 403, "forbidden")
    assert tenant.batch({"ns": "tenant", "ops": [{"op": "put", "key": uniq + "t", "value": ""}]}).status_code == 200


def test_batch_requires_token(node, uniq):
    anon = node.client(None)
    r = anon.batch({"ops": [{"op": "put", "key": uniq + "a", "value": ""}]})
    assert_error(r, 401, "unauthorized")
    assert node.client().get(uniq + "a").status_code == 404

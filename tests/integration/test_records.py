"""The DNS records API (POST/GET/DELETE /v1/records/{name}, GET /v1/records?zone=),
the `meshkv record add|ls|rm` and `meshkv zone import|export` verbs, against a
live node serving the zones below (docs/dns.md).

Each test works under its own names (a fresh label under example.test, or a
zone of its own for whole-zone operations), so tests share one node without
seeing each other's records.
"""
import json
import os
import urllib.parse
import uuid

import pytest

import harness
from harness import TOKENS, assert_error, clean_env, free_port, run_cli

ADMIN = TOKENS["admin"].secret

# example.test and a more specific zone inside it; the zone-* zones are for
# the zone import/export tests, one each.
ZONES = ["example.test", "sub.example.test", "zone-a.test", "zone-b.test", "zone-c.test",
         "zone-d.test", "zone-e.test"]


def dns_config(zones=ZONES) -> str:
    zone_list = ", ".join(f'"{z}"' for z in zones)
    return harness.standard_config(
        extra=f'[dns]\nzones = [{zone_list}]\nlisten = "127.0.0.1:{free_port()}"\n')


@pytest.fixture(scope="module")
def dns_node(module_node_factory):
    return module_node_factory(config=dns_config())


@pytest.fixture
def api(dns_node):
    c = dns_node.client()
    yield c
    c.close()


@pytest.fixture
def zone():
    """A fresh name under example.test (with trailing dot) for one test."""
    return f"t{uuid.uuid4().hex[:10]}.example.test."


@pytest.fixture
def cli(dns_node):
    """cli(*args, token=ADMIN, input=None) with --addr/--token."""

    def run(*args, token=ADMIN, input=None):
        common = ["--addr", dns_node.url]
        if token is not None:
            common += ["--token", token]
        return run_cli(*args, *common, input=input)

    return run


def ok(p):
    assert p.returncode == 0, (
        f"exit {p.returncode}; stderr: {p.stderr.decode(errors='replace')[-1500:]}")
    return p


# ---------------------------------------------------------------- helpers

def path(name: str) -> str:
    return "/v1/records/" + urllib.parse.quote(name, safe="")


def add(c, name, rtype, value, ttl=None):
    body = {"type": rtype, "value": value}
    if ttl is not None:
        body["ttl"] = ttl
    return c.request("POST", path(name), json=body)


def add_ok(c, name, rtype, value, ttl=None):
    r = add(c, name, rtype, value, ttl)
    assert r.status_code == 200, f"POST {name} {rtype} {value!r}: {r.status_code} {r.text}"
    return r.json()


def records(c, name, rtype=None):
    """[(type, value, ttl)] at name, sorted; [] on 404."""
    r = c.request("GET", path(name), params={"type": rtype} if rtype else None)
    if r.status_code == 404:
        assert_error(r, 404, "not_found")
        return []
    assert r.status_code == 200, r.text
    doc = r.json()
    assert set(doc) == {"name", "records"}, doc
    for rec in doc["records"]:
        assert set(rec) == {"name", "type", "value", "ttl"}, rec
    return sorted((x["type"], x["value"], x["ttl"]) for x in doc["records"])


def zone_records(c, zone_name):
    """{(lower-case name, type, value, ttl)} of a whole zone."""
    r = c.request("GET", "/v1/records", params={"zone": zone_name})
    assert r.status_code == 200, r.text
    return sorted((x["name"].lower(), x["type"], x["value"], x["ttl"]) for x in r.json()["records"])


# ---------------------------------------------------------------- every type

# (type, value as sent, value as the API shows it)
TYPES = [
    ("A", "192.0.2.1", "192.0.2.1"),
    ("AAAA", "2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    ("AAAA", "::ffff:192.0.2.1", "::ffff:192.0.2.1"),
    ("MX", "10 mail.example.test", "10 mail.example.test."),
    ("MX", "0 .", "0 ."),
    ("NS", "ns1.example.net.", "ns1.example.net."),
    ("TXT", "plain", '"plain"'),
    ("TXT", '"hello world" "second string"', '"hello world" "second string"'),
    ("TXT", r'"quote \" backslash \\ semicolon ; paren (" word \065\066', r'"quote \" backslash \\ semicolon ; paren (" "word" "AB"'),
    ("TXT", '"caf\u00e9"', r'"caf\195\169"'),
    ("TXT", '""', '""'),
    ("TXT", '"' + "x" * 255 + '" "' + "y" * 255 + '"', '"' + "x" * 255 + '" "' + "y" * 255 + '"'),
    ("SRV", "10 60 5060 sip.example.test.", "10 60 5060 sip.example.test."),
    ("PTR", "host.example.test.", "host.example.test."),
    ("CAA", '0 issue "letsencrypt.org"', '0 issue "letsencrypt.org"'),
    ("CAA", "128 iodef mailto:security@example.test", '128 iodef "mailto:security@example.test"'),
    ("CNAME", "Target.Example.Test.", "Target.Example.Test."),
]


@pytest.mark.parametrize("rtype,value,shown", TYPES, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(TYPES)])
def test_every_type(api, zone, rtype, value, shown):
    name = "n." + zone
    body = add_ok(api, name, rtype, value, ttl=120)
    assert body == {"name": name, "type": rtype, "value": shown, "ttl": 120}
    assert records(api, name) == [(rtype, shown, 120)]
    assert records(api, name, rtype) == [(rtype, shown, 120)]
    assert records(api, name, rtype.lower()) == [(rtype, shown, 120)]
    # The value as shown is accepted back and is the same value.
    add_ok(api, name, rtype, shown, ttl=60)
    assert records(api, name) == [(rtype, shown, 60)]


def test_soa_at_an_apex_only_and_one_per_zone(api):
    # sub.example.test is a zone of its own; this is the only test touching its apex.
    soa1 = "ns1.sub.example.test. hostmaster.sub.example.test. 1 3600 900 604800 300"
    soa2 = "ns1.sub.example.test. hostmaster.sub.example.test. 2 1h 15m 1w 5m"
    r = add(api, "below.sub.example.test", "SOA", soa1)
    doc = assert_error(r, 409, "conflict")
    assert "apex" in doc["message"]
    assert records(api, "below.sub.example.test") == []
    assert add_ok(api, "sub.example.test", "SOA", soa1, ttl=3600)["value"] == soa1
    add_ok(api, "sub.example.test", "SOA", soa1, ttl=60)  # same SOA: TTL update
    assert records(api, "sub.example.test", "SOA") == [("SOA", soa1, 60)]
    assert_error(add(api, "sub.example.test", "SOA", soa2), 409, "conflict")
    # Replace: delete then add.
    assert api.request("DELETE", path("sub.example.test"), params={"type": "SOA"}).status_code == 200
    shown = add_ok(api, "sub.example.test", "SOA", soa2)["value"]
    assert shown == "ns1.sub.example.test. hostmaster.sub.example.test. 2 3600 900 604800 300"
    assert api.request("DELETE", path("sub.example.test"), params={"type": "SOA"}).status_code == 200


def test_several_values_each_with_its_own_ttl(api, zone):
    name = "multi." + zone
    add_ok(api, name, "A", "192.0.2.1", ttl=60)
    add_ok(api, name, "A", "192.0.2.2")  # default TTL (dns.default_ttl = 5m)
    add_ok(api, name, "A", "192.0.2.3", ttl="10m")
    add_ok(api, name, "TXT", "v=1", ttl=0)
    assert records(api, name) == [("A", "192.0.2.1", 60), ("A", "192.0.2.2", 300),
                                  ("A", "192.0.2.3", 600), ("TXT", '"v=1"', 0)]
    # Re-adding a value updates its TTL, never duplicates it.
    add_ok(api, name, "A", "192.0.2.1", ttl=7)
    assert records(api, name, "A") == [("A", "192.0.2.1", 7), ("A", "192.0.2.2", 300),
                                       ("A", "192.0.2.3", 600)]


def test_names_are_case_insensitive_and_trailing_dot_optional(api, zone):
    upper = "WWW." + zone.upper()
    add_ok(api, upper, "A", "192.0.2.1")
    lower = "www." + zone.rstrip(".")
    r = api.request("GET", path(lower))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["name"] == lower + "."
    assert [x["name"] for x in doc["records"]] == [upper]  # the owner as written
    add_ok(api, lower, "A", "192.0.2.1", ttl=5)  # the same record
    assert records(api, upper) == [("A", "192.0.2.1", 5)]


# ---------------------------------------------------------------- validation

BAD_VALUES = [
    ("A", "256.0.0.1"), ("A", "192.0.2"), ("A", "2001:db8::1"), ("A", ""), ("A", "192.0.2.1 192.0.2.2"),
    ("AAAA", "192.0.2.1"), ("AAAA", "2001:db8::zz"), ("AAAA", "1:2:3:4:5:6:7:8:9"),
    ("MX", "mail.example.test."), ("MX", "70000 mail.example.test."), ("MX", "-1 mail."),
    ("SRV", "1 2 mail.example.test."), ("SRV", "1 2 65536 x."),
    ("CAA", "0 is-sue x"), ("CAA", "256 issue x"), ("CAA", "0 " + "t" * 16 + " x"),
    ("TXT", ""), ("TXT", "x" * 256), ('TXT', '"unterminated'),
    ("CNAME", "a..b."), ("CNAME", "a. b."), ("NS", ""), ("PTR", "x" * 64 + "."),
    ("SOA", "ns1. hm. 1 2 3 4"),
]


@pytest.mark.parametrize("rtype,value", BAD_VALUES, ids=[f"{t}-{i}" for i, (t, _) in enumerate(BAD_VALUES)])
def test_bad_values_400_nothing_stored(api, zone, rtype, value):
    name = "bad." + zone
    doc = assert_error(add(api, name, rtype, value), 400, "bad_request")
    assert rtype in doc["message"], doc
    assert records(api, name) == []


LONG_NAME = ".".join(["a" * 60] * 4) + ".example.test"  # > 255 octets


@pytest.mark.parametrize("name,fragment", [
    ("a..b.example.test", "empty label"),
    ("a b.example.test", "labels may contain only"),
    ("*.example.test", "labels may contain only"),
    ("a\\.b.example.test", "labels may contain only"),
    ("caf\u00e9.example.test", "punycode"),
    ("x" * 64 + ".example.test", "63"),
    (LONG_NAME, "255"),
    ("www.example.org", "not inside a zone this node serves"),
    ("example.testx", "not inside a zone"),
    ("test", "not inside a zone"),
], ids=["empty-label", "space", "wildcard", "escaped-dot", "non-ascii", "label-64", "name-256",
        "outside", "suffix-lookalike", "parent"])
def test_bad_names_400(api, name, fragment):
    doc = assert_error(add(api, name, "A", "192.0.2.1"), 400, "bad_request")
    assert fragment in doc["message"], doc
    assert_error(api.request("GET", path(name)), 400, "bad_request")
    assert_error(api.request("DELETE", path(name)), 400, "bad_request")


def test_empty_name_400(api):
    assert_error(api.request("GET", "/v1/records/"), 400, "bad_request")
    assert_error(api.request("POST", "/v1/records/", json={"type": "A", "value": "192.0.2.1"}),
                 400, "bad_request")


@pytest.mark.parametrize("rtype,fragment", [
    ("BOGUS", "not known"), ("", "not known"), ("OPT", "cannot be stored"),
    ("TYPE65280", "cannot be stored"), ("ANY", "cannot be stored"), ("AXFR", "cannot be stored"),
])
def test_bad_type_400(api, zone, rtype, fragment):
    doc = assert_error(add(api, "t." + zone, rtype, "\\# 0"), 400, "bad_request")
    assert fragment in doc["message"], doc
    assert records(api, "t." + zone) == []


@pytest.mark.parametrize("ttl", [-1, 2147483648, "abc", "10x", "-5m", 1.5, True, None, [], {}],
                         ids=["neg", "2^31", "abc", "bad-unit", "neg-duration", "float", "bool",
                              "null", "list", "object"])
def test_bad_ttl_400(api, zone, ttl):
    r = api.request("POST", path("t." + zone), json={"type": "A", "value": "192.0.2.1", "ttl": ttl})
    assert_error(r, 400, "bad_request")
    assert records(api, "t." + zone) == []


@pytest.mark.parametrize("body", [
    b'{"type":"A"}', b'{"value":"192.0.2.1"}', b'{}', b'', b'[]', b'not json',
    b'{"type":"A","value":"192.0.2.1","extra":1}', b'{"type":1,"value":"192.0.2.1"}',
    b'{"type":"A","value":["192.0.2.1"]}',
], ids=["no-value", "no-type", "empty-object", "no-body", "array", "not-json", "unknown-field",
        "type-number", "value-list"])
def test_bad_post_bodies_400(api, zone, body):
    r = api.request("POST", path("t." + zone), data=body, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "bad_request")
    assert records(api, "t." + zone) == []


# ---------------------------------------------------------------- CNAME rules

def test_cname_coexistence_409(api, zone):
    host, alias = "host." + zone, "alias." + zone
    add_ok(api, host, "A", "192.0.2.1")
    doc = assert_error(add(api, host, "CNAME", "other.example.test."), 409, "conflict")
    assert "RFC 1034" in doc["message"]
    add_ok(api, alias, "CNAME", host)
    for rtype, value in [("A", "192.0.2.9"), ("TXT", "x"), ("MX", "1 mx.example.test.")]:
        assert_error(add(api, alias, rtype, value), 409, "conflict")
    doc = assert_error(add(api, alias, "CNAME", "else.example.test."), 409, "conflict")
    assert "at most one" in doc["message"]
    add_ok(api, alias, "CNAME", host.upper())  # the same target: not a second CNAME
    assert_error(add(api, "example.test", "CNAME", host), 409, "conflict")
    assert records(api, host) == [("A", "192.0.2.1", 300)]
    assert records(api, alias) == [("CNAME", host.upper(), 300)]


# ---------------------------------------------------------------- GET and DELETE

def test_get_404_and_bad_queries(api, zone):
    doc = assert_error(api.request("GET", path("none." + zone)), 404, "not_found")
    assert "no records at" in doc["message"]
    add_ok(api, "a." + zone, "A", "192.0.2.1")
    assert_error(api.request("GET", path("a." + zone), params={"type": "MX"}), 404, "not_found")
    assert_error(api.request("GET", path("a." + zone), params={"type": "BOGUS"}), 400, "bad_request")
    assert_error(api.request("GET", path("a." + zone), params={"zone": "x"}), 400, "bad_request")
    # An empty non-terminal has no records of its own.
    add_ok(api, "leaf.ent." + zone, "A", "192.0.2.1")
    assert_error(api.request("GET", path("ent." + zone)), 404, "not_found")


def test_delete_one_value_one_type_or_all(api, zone):
    name = "del." + zone
    for value in ["192.0.2.1", "192.0.2.2", "192.0.2.3"]:
        add_ok(api, name, "A", value)
    add_ok(api, name, "TXT", '"one" "two"')
    add_ok(api, name, "MX", "10 mail.example.test.")

    def delete(body=None, params=None):
        return api.request("DELETE", path(name), json=body, params=params)

    # One value (names in values compare case-insensitively).
    r = delete({"type": "A", "value": "192.0.2.1"})
    assert r.status_code == 200 and r.json() == {"name": name, "removed": 1}, r.text
    assert_error(delete({"type": "A", "value": "192.0.2.1"}), 404, "not_found")
    assert delete({"type": "MX", "value": "10 MAIL.example.test."}).json()["removed"] == 1
    assert delete({"type": "TXT", "value": '"one" "two"'}).json()["removed"] == 1
    add_ok(api, name, "TXT", "x")
    # One type, by query and by body.
    assert delete(params={"type": "A"}).json()["removed"] == 2
    assert records(api, name) == [("TXT", '"x"', 300)]
    add_ok(api, name, "A", "192.0.2.4")
    assert delete({"type": "TXT"}).json()["removed"] == 1
    # Bad deletes change nothing.
    assert_error(delete({"value": "192.0.2.4"}), 400, "bad_request")
    assert_error(delete({"type": "A", "value": "not-an-ip"}), 400, "bad_request")
    assert_error(delete({"type": "A"}, {"type": "TXT"}), 400, "bad_request")
    assert_error(delete({"type": "A", "ttl": 5}), 400, "bad_request")
    assert_error(delete({"type": "BOGUS"}), 400, "bad_request")
    assert records(api, name) == [("A", "192.0.2.4", 300)]
    # Everything.
    add_ok(api, name, "AAAA", "2001:db8::4")
    assert delete().json()["removed"] == 2
    assert records(api, name) == []
    assert_error(delete(), 404, "not_found")


# ---------------------------------------------------------------- zone listing

def test_zone_listing(api):
    add_ok(api, "zone-c.test", "NS", "ns1.zone-c.test.")
    add_ok(api, "www.zone-c.test", "A", "192.0.2.1")
    add_ok(api, "deep.er.zone-c.test", "TXT", "x")
    r = api.request("GET", "/v1/records", params={"zone": "ZONE-C.test."})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["zone"] == "zone-c.test."
    assert sorted((x["name"], x["type"]) for x in doc["records"]) == [
        ("deep.er.zone-c.test.", "TXT"), ("www.zone-c.test.", "A"), ("zone-c.test.", "NS")]
    # The more specific zone's records are not example.test's.
    add_ok(api, "in-sub.sub.example.test", "A", "192.0.2.1")
    names = {x[0] for x in zone_records(api, "example.test")}
    assert "in-sub.sub.example.test." not in names
    assert "in-sub.sub.example.test." in {x[0] for x in zone_records(api, "sub.example.test")}
    assert_error(api.request("GET", "/v1/records", params={"zone": "www.zone-c.test"}), 404, "not_found")
    assert_error(api.request("GET", "/v1/records", params={"zone": "other.test"}), 404, "not_found")
    assert_error(api.request("GET", "/v1/records"), 400, "bad_request")
    assert_error(api.request("GET", "/v1/records", params={"zone": "zone-c.test", "x": "1"}), 400,
                 "bad_request")
    r = api.request("POST", "/v1/records", params={"zone": "zone-c.test"})
    assert_error(r, 405, "method_not_allowed")


# ---------------------------------------------------------------- auth

def test_auth(dns_node, api, zone):
    name = "auth." + zone
    add_ok(api, name, "A", "192.0.2.1")
    anon = dns_node.client(None)
    assert_error(anon.request("GET", path(name)), 401, "unauthorized")
    assert_error(add(anon, name, "A", "192.0.2.2"), 401, "unauthorized")
    assert_error(anon.request("GET", "/v1/records", params={"zone": "example.test"}), 401, "unauthorized")

    reader = dns_node.client_as("reader")
    assert records(reader, name) == [("A", "192.0.2.1", 300)]
    assert reader.request("GET", "/v1/records", params={"zone": "zone-c.test"}).status_code == 200
    assert_error(add(reader, name, "A", "192.0.2.2"), 403, "forbidden")
    assert_error(reader.request("DELETE", path(name)), 403, "forbidden")

    writer = dns_node.client_as("writer")
    add_ok(writer, name, "A", "192.0.2.3")
    assert_error(writer.request("GET", path(name)), 403, "forbidden")

    for limited in ("tenant", "app"):  # namespace- and prefix-limited tokens
        c = dns_node.client_as(limited)
        assert_error(c.request("GET", path(name)), 403, "forbidden")
        assert_error(add(c, name, "A", "192.0.2.4"), 403, "forbidden")
        assert_error(c.request("GET", "/v1/records", params={"zone": "example.test"}), 403, "forbidden")
    assert records(api, name) == [("A", "192.0.2.1", 300), ("A", "192.0.2.3", 300)]


def test_records_api_404_without_zones(node_factory):
    n = node_factory(config=harness.standard_config())
    c = n.client()
    doc = assert_error(add(c, "www.example.test", "A", "192.0.2.1"), 404, "not_found")
    assert "dns.zones" in doc["message"]


# ---------------------------------------------------------------- CLI: record

def test_cli_record_add_ls_rm(cli, api, zone):
    name = "cli." + zone
    p = ok(cli("record", "add", name, "A", "192.0.2.1", "--ttl", "5m"))
    assert p.stdout == b""
    ok(cli("record", "add", name, "A", "192.0.2.2", "--ttl", "60"))
    ok(cli("record", "add", name, "MX", "10", "mail.example.test."))  # words are joined
    ok(cli("record", "add", name, "TXT", '"hello world" "a \\"quoted\\" word"'))
    p = ok(cli("record", "add", name, "CAA", "0", "issue", '"ca.example"', "--json"))
    assert json.loads(p.stdout) == {"name": name, "type": "CAA", "value": '0 issue "ca.example"',
                                    "ttl": 300}
    assert records(api, name) == sorted([
        ("A", "192.0.2.1", 300), ("A", "192.0.2.2", 60), ("MX", "10 mail.example.test.", 300),
        ("TXT", '"hello world" "a \\"quoted\\" word"', 300), ("CAA", '0 issue "ca.example"', 300)])

    lines = ok(cli("record", "ls", name)).stdout.decode().splitlines()
    assert sorted(lines) == sorted([
        f"{name}\t300\tIN\tA\t192.0.2.1",
        f"{name}\t60\tIN\tA\t192.0.2.2",
        f"{name}\t300\tIN\tMX\t10 mail.example.test.",
        f"{name}\t300\tIN\tTXT\t\"hello world\" \"a \\\"quoted\\\" word\"",
        f"{name}\t300\tIN\tCAA\t0 issue \"ca.example\"",
    ])
    lines = ok(cli("record", "ls", name, "--type", "a")).stdout.decode().splitlines()
    assert sorted(lines) == [f"{name}\t300\tIN\tA\t192.0.2.1", f"{name}\t60\tIN\tA\t192.0.2.2"]
    doc = json.loads(ok(cli("record", "ls", name, "--type", "MX", "--json")).stdout)
    assert doc["records"] == [{"name": name, "type": "MX", "value": "10 mail.example.test.", "ttl": 300}]

    ok(cli("record", "rm", name, "A", "192.0.2.1"))
    assert [r[1] for r in records(api, name, "A")] == ["192.0.2.2"]
    p = ok(cli("record", "rm", name, "A", "--json"))
    assert json.loads(p.stdout) == {"name": name, "removed": 1}
    ok(cli("record", "rm", name, "TXT", '"hello world"', '"a \\"quoted\\" word"'))
    ok(cli("record", "rm", name))
    assert records(api, name) == []


def test_cli_record_exit_codes(cli, zone):
    name = "exit." + zone
    p = cli("record", "ls", name)
    assert p.returncode == 3 and p.stdout == b"", p
    assert p.stderr.decode().startswith("meshkv: 404 not_found: no records at")
    assert cli("record", "rm", name).returncode == 3
    ok(cli("record", "add", name, "A", "192.0.2.1"))
    assert cli("record", "rm", name, "A", "192.0.2.99").returncode == 3
    assert cli("record", "ls", name, "--type", "MX").returncode == 3
    p = cli("record", "add", name, "CNAME", "x.example.test.")
    assert p.returncode == 1
    assert p.stderr.decode().startswith("meshkv: 409 conflict: "), p.stderr
    p = cli("record", "add", name, "A", "300.0.0.1")
    assert p.returncode == 1 and b"400 bad_request" in p.stderr, p.stderr
    p = cli("record", "add", "www.example.org", "A", "192.0.2.1")
    assert p.returncode == 1 and b"not inside a zone" in p.stderr, p.stderr
    p = cli("record", "add", name, "A", "192.0.2.1", token=TOKENS["reader"].secret)
    assert p.returncode == 1 and b"403 forbidden" in p.stderr, p.stderr
    p = cli("record", "ls", name, token=None)
    assert p.returncode == 1 and b"401 unauthorized" in p.stderr, p.stderr
    for args in (["record", "add", name, "A", "192.0.2.1", "--ttl", "5x"],
                 ["record", "add", name, "A"],
                 ["record", "ls"],
                 ["record", "frobnicate"],
                 ["zone", "export"],
                 ["zone", "import", "/nonexistent.zone"]):
        p = cli(*args)
        assert p.returncode == 2, (args, p.stderr)


def test_cli_env_token_and_addr(dns_node, zone):
    env = clean_env(MESHKV_ADDR=dns_node.url, MESHKV_TOKEN=ADMIN)
    ok(run_cli("record", "add", "env." + zone, "A", "192.0.2.1", env=env))
    p = ok(run_cli("record", "ls", "env." + zone, env=env))
    assert p.stdout.decode() == f"env.{zone}\t300\tIN\tA\t192.0.2.1\n"


# ---------------------------------------------------------------- CLI: zone

REALISTIC_ZONE = r"""; zone-a.test, written by hand
$ORIGIN zone-a.test.
$TTL 1h
@       IN  SOA   ns1 hostmaster (
                  2024010101 ; serial
                  3h         ; refresh
                  15m        ; retry
                  1w         ; expire
                  300 )      ; minimum
        IN  NS    ns1
        IN  NS    ns2.example.net.
        IN  MX    10 mail
        IN  MX    20 mail.backup.example.net.
        IN  TXT   "v=spf1 mx -all"
        IN  CAA   0 issue "letsencrypt.org"
ns1     IN  A     192.0.2.53
        IN  AAAA  2001:db8::53
mail    300 IN A  192.0.2.25
www     IN  300   A 192.0.2.80
        IN  A     192.0.2.81       ; second address, $TTL applies
        IN  AAAA  2001:db8::80
ftp     CNAME     www
_sip._tcp  SRV    10 60 5060 sip
sip     A         192.0.2.60
txt     TXT   "first string" "second; not a comment" "quote \" and \\" \065\066
long    TXT   ( "part one of a long record"
                "part two" )
80.2.0  PTR       www            ; relative to the origin
Deep.Sub.Name 60 A 192.0.2.99
"""


def expected_zone_a():
    z = "zone-a.test."
    return sorted([
        (z, "SOA", f"ns1.{z} hostmaster.{z} 2024010101 10800 900 604800 300", 3600),
        (z, "NS", f"ns1.{z}", 3600), (z, "NS", "ns2.example.net.", 3600),
        (z, "MX", f"10 mail.{z}", 3600), (z, "MX", "20 mail.backup.example.net.", 3600),
        (z, "TXT", '"v=spf1 mx -all"', 3600), (z, "CAA", '0 issue "letsencrypt.org"', 3600),
        ("ns1." + z, "A", "192.0.2.53", 3600), ("ns1." + z, "AAAA", "2001:db8::53", 3600),
        ("mail." + z, "A", "192.0.2.25", 300),
        ("www." + z, "A", "192.0.2.80", 300), ("www." + z, "A", "192.0.2.81", 3600),
        ("www." + z, "AAAA", "2001:db8::80", 3600),
        ("ftp." + z, "CNAME", f"www.{z}", 3600),
        ("_sip._tcp." + z, "SRV", f"10 60 5060 sip.{z}", 3600),
        ("sip." + z, "A", "192.0.2.60", 3600),
        ("txt." + z, "TXT", r'"first string" "second; not a comment" "quote \" and \\" "AB"', 3600),
        ("long." + z, "TXT", '"part one of a long record" "part two"', 3600),
        ("80.2.0." + z, "PTR", f"www.{z}", 3600),
        ("deep.sub.name." + z, "A", "192.0.2.99", 60),
    ])


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_zone_import_export_reimport(cli, api, dns_node, node_factory, tmp_path):
    f = write(tmp_path, "zone-a.db", REALISTIC_ZONE)
    p = ok(cli("zone", "import", f))
    assert p.stdout.decode() == "imported 20 records into zone-a.test.\n"
    assert zone_records(api, "zone-a.test") == expected_zone_a()

    exported = ok(cli("zone", "export", "zone-a.test")).stdout.decode()
    lines = exported.splitlines()
    assert lines[0].startswith(";") and lines[1] == "$ORIGIN zone-a.test."
    assert "\tSOA\t" in lines[2], "the SOA comes first"
    assert "Deep.Sub.Name\t60\tIN\tA\t192.0.2.99" in lines  # owner case kept

    # Importing the export again changes nothing.
    g = write(tmp_path, "exported.db", exported)
    assert ok(cli("zone", "import", g)).stdout.decode() == "imported 20 records into zone-a.test.\n"
    assert zone_records(api, "zone-a.test") == expected_zone_a()
    assert ok(cli("zone", "export", "zone-a.test")).stdout.decode() == exported

    # On a fresh node: the export gives back the same records and the same file.
    fresh = node_factory(config=dns_config(["zone-a.test"]))
    common = ["--addr", fresh.url, "--token", ADMIN]
    ok(run_cli("zone", "import", g, *common))
    assert zone_records(fresh.client(), "zone-a.test") == expected_zone_a()
    assert ok(run_cli("zone", "export", "zone-a.test", *common)).stdout.decode() == exported


def test_zone_import_with_origin_and_no_soa(cli, api, tmp_path):
    f = write(tmp_path, "b.db", "$TTL 60\nwww A 192.0.2.1\n  TXT hi\n@ NS ns1\n")
    p = ok(cli("zone", "import", f, "--origin", "zone-b.test"))
    assert p.stdout.decode() == "imported 3 records into zone-b.test.\n"
    assert zone_records(api, "zone-b.test") == [
        ("www.zone-b.test.", "A", "192.0.2.1", 60), ("www.zone-b.test.", "TXT", '"hi"', 60),
        ("zone-b.test.", "NS", "ns1.zone-b.test.", 60)]
    p = cli("zone", "import", f)  # relative names and no origin
    assert p.returncode == 1 and b"b.db:2: owner 'www' is relative" in p.stderr, p.stderr
    g = write(tmp_path, "b2.db", "www.zone-b.test. 60 A 192.0.2.1\n")
    p = cli("zone", "import", g)  # no SOA, no --origin: which zone?
    assert p.returncode == 1 and b"pass --origin ZONE" in p.stderr, p.stderr


@pytest.mark.parametrize("text,fragment", [
    ("$ORIGIN zone-d.test.\n$TTL 60\nwww A 192.0.2.1\nbad A 192.0.2\n", ":4: bad A rdata"),
    ("$ORIGIN zone-d.test.\n$TTL 60\nwww A 192.0.2.1\n$INCLUDE other.db\n", ":4: $INCLUDE is not supported"),
    ("$ORIGIN zone-d.test.\n$TTL 60\nwww A 192.0.2.1\nx CH TXT y\n", ":4: class CH is not supported"),
    ("$ORIGIN zone-d.test.\n$TTL 60\nwww A 192.0.2.1\nwww CNAME x\n", ":4: www.zone-d.test. has A data (line 3) and a CNAME"),
    ("$ORIGIN zone-d.test.\n$TTL 60\nwww A 192.0.2.1\nother.test. A 192.0.2.1\n", ":4: other.test. is outside the zone"),
    ("$ORIGIN zone-d.test.\n$TTL 60\nwww A 192.0.2.1\nx TYPE65280 \\# 1 00\n", ":4: type TYPE65280 cannot be stored"),
    ("$ORIGIN zone-d.test.\n$TTL 60\nwww A 192.0.2.1\nwww ( A\n", ":4: '(' is never closed"),
], ids=["rdata", "include", "class", "cname", "outside", "type", "paren"])
def test_zone_import_refuses_whole_file(cli, api, tmp_path, text, fragment):
    f = write(tmp_path, "d.db", text)
    p = cli("zone", "import", f, "--origin", "zone-d.test")
    assert p.returncode == 1, p
    err = p.stderr.decode()
    assert fragment in err and err.startswith("meshkv: " + f), err
    assert "(nothing imported)" in err
    assert p.stdout == b""
    assert zone_records(api, "zone-d.test") == []


def test_zone_import_stops_at_a_conflict_and_replaces_the_soa(cli, api, tmp_path):
    add_ok(api, "taken.zone-e.test", "A", "192.0.2.1")
    f = write(tmp_path, "e.db", "$ORIGIN zone-e.test.\n$TTL 60\n"
              "@ SOA ns1 hm 1 1h 15m 1w 5m\n"
              "first A 192.0.2.10\n"
              "taken CNAME first\n"
              "never A 192.0.2.11\n")
    p = cli("zone", "import", f)
    assert p.returncode == 1
    err = p.stderr.decode()
    assert err.startswith(f"meshkv: {f}:5: taken.zone-e.test. CNAME first.zone-e.test.: 409 conflict:"), err
    assert "2 of 4 records were imported into zone-e.test. before it" in err
    assert records(api, "first.zone-e.test") == [("A", "192.0.2.10", 60)]
    assert records(api, "never.zone-e.test") == []

    # A new SOA replaces the old one; the rest is re-added (idempotent).
    f2 = write(tmp_path, "e2.db", "$ORIGIN zone-e.test.\n$TTL 60\n"
               "@ SOA ns1 hm 2 1h 15m 1w 5m\nfirst A 192.0.2.10\n")
    assert ok(cli("zone", "import", f2)).stdout.decode() == "imported 2 records into zone-e.test.\n"
    assert records(api, "zone-e.test", "SOA") == [
        ("SOA", "ns1.zone-e.test. hm.zone-e.test. 2 3600 900 604800 300", 60)]


def test_zone_export_of_an_unserved_zone_exits_3(cli):
    p = cli("zone", "export", "not-served.test")
    assert p.returncode == 3, p
    assert p.stderr.decode().startswith("meshkv: 404 not_found: ")
    assert p.stdout == b""


def test_zone_import_into_an_unserved_zone_sends_nothing_more(cli, tmp_path):
    f = write(tmp_path, "u.db", "$ORIGIN unserved.test.\n$TTL 60\n@ SOA ns1 hm 1 1h 15m 1w 5m\n"
              "www A 192.0.2.1\n")
    p = cli("zone", "import", f)
    assert p.returncode == 1
    assert b"nothing imported" in p.stderr and b"not inside a zone" in p.stderr, p.stderr


# ---------------------------------------------------------------- regressions: method, TTL, dns namespace

def test_put_on_a_record_name_is_405(api, zone):
    name = "put." + zone
    add_ok(api, name, "A", "192.0.2.1")
    r = api.request("PUT", path(name), json={"type": "A", "value": "192.0.2.1"})
    try:
        assert_error(r, 405, "method_not_allowed")
        assert "POST" in r.headers.get("Allow", "")
    finally:
        assert records(api, name) == [("A", "192.0.2.1", 300)], "PUT deleted the record"


@pytest.mark.parametrize("ttl", ["500ms", "1500ms"])
def test_sub_second_duration_ttl_is_refused(api, zone, ttl):
    r = api.request("POST", path("ms." + zone), json={"type": "A", "value": "192.0.2.1", "ttl": ttl})
    assert_error(r, 400, "bad_request")


def test_kv_writes_to_the_dns_namespace_are_refused(api, zone):
    name = "kvw." + zone
    add_ok(api, name, "A", "192.0.2.1")
    key = "test.example.kvw/A/0000000000000000"
    r = api.request("PUT", "/v1/kv/" + key + "?ns=dns", data=b"garbage")
    assert_error(r, 400, "bad_request")
    r = api.request("POST", "/v1/kv/batch",
                    json={"ns": "dns", "ops": [{"op": "put", "key": key, "value": "Z2FyYmFnZQ=="}]})
    assert_error(r, 400, "bad_request")
    assert records(api, name) == [("A", "192.0.2.1", 300)]

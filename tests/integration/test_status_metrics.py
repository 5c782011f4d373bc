"""GET /v1/cluster/status, /metrics, /ready, /health (docs/api.md)."""
import re

import pytest

import harness
from harness import metric_value, parse_metrics, qkey


def test_status_fields(node, admin):
    admin.put("status-probe", b"v")
    s = admin.status()
    assert re.fullmatch(r"[0-9a-f]{16}", s["node_id"]), s["node_id"]
    assert s["version"] == "0.1.0"
    assert isinstance(s["uptime_s"], (int, float)) and s["uptime_s"] >= 0
    assert isinstance(s["started_at_ms"], int) and s["started_at_ms"] > 1_600_000_000_000
    assert s["http"]["listen"] == node.addr
    st = s["storage"]
    assert st["engine"] == "rocksdb"
    assert st["sync"] == "none"
    assert isinstance(st["path"], str) and st["path"]
    for f in ("writes_applied", "write_batches", "synced_batches"):
        assert isinstance(st[f], int) and st[f] >= 0, f
    assert st["writes_applied"] >= 1
    assert s["clock"]["max_clock_skew_ms"] == 500
    assert isinstance(s["clock"]["skew_refusals"], int)
    ns = {n["name"]: n for n in s["namespaces"]}
    assert {"default", "dns", "short", "small", "tenant", "mem"} <= set(ns)
    d = ns["default"]
    for f in ("replicas", "consistency", "sync_policy", "default_ttl_ms", "max_value_bytes", "storage",
              "estimated_keys", "estimated_bytes"):
        assert f in d, f
    assert d["replicas"] == 3
    assert d["consistency"] == "quorum"
    assert d["sync_policy"] == "lww"
    assert d["default_ttl_ms"] == 0
    assert d["max_value_bytes"] == 1048576
    assert d["storage"] == "disk"
    assert ns["short"]["default_ttl_ms"] == 1000
    assert ns["small"]["max_value_bytes"] == 1024
    assert ns["tenant"]["replicas"] == 1
    assert ns["mem"]["storage"] == "memory"


def test_status_counters_advance_and_uptime(admin, uniq):
    s1 = admin.status()
    for i in range(5):
        assert admin.put(f"{uniq}{i}", b"v").status_code == 200
    s2 = admin.status()
    assert s2["storage"]["writes_applied"] >= s1["storage"]["writes_applied"] + 5
    assert s2["storage"]["write_batches"] > s1["storage"]["write_batches"]
    assert s2["uptime_s"] >= s1["uptime_s"]
    assert s2["started_at_ms"] == s1["started_at_ms"]
    assert s2["node_id"] == s1["node_id"]


def test_ready(admin):
    r = admin.get_path("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}


def test_health(node):
    r = node.client(None).get_path("/health")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert r.json() == {"status": "ok"}


METRIC_NAMES = [
    "meshkv_http_requests_total",
    "meshkv_http_request_duration_seconds_bucket",
    "meshkv_http_request_duration_seconds_count",
    "meshkv_http_request_duration_seconds_sum",
    "meshkv_http_connections_open",
    "meshkv_http_inflight_requests",
    "meshkv_storage_estimated_keys",
    "meshkv_storage_estimated_bytes",
    "meshkv_storage_writes_applied_total",
    "meshkv_storage_synced_batches_total",
    "meshkv_hlc_skew_refusals_total",
    "meshkv_uptime_seconds",
]


def test_metrics_format_and_names(admin):
    admin.put("metrics-probe", b"v")
    admin.get_path("/health")
    r = admin.get_path("/metrics")
    assert r.status_code == 200
    ctype = r.headers["Content-Type"]
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    samples = parse_metrics(r.text)
    names = {n for n, _, _ in samples}
    for name in METRIC_NAMES:
        assert name in names, f"{name} missing from /metrics"
    assert "# TYPE meshkv_http_requests_total counter" in r.text
    assert "# TYPE meshkv_http_request_duration_seconds histogram" in r.text
    for n, labels, _ in samples:
        if n == "meshkv_http_requests_total":
            assert {"route", "code"} <= set(labels), labels
            assert labels["route"] in {"kv_item", "kv_list", "kv_batch", "health", "ready", "status",
                                       "metrics", "unknown"}, labels
        if n == "meshkv_storage_estimated_keys":
            assert "ns" in labels
    assert any(l.get("ns") == "default" for n, l, _ in samples if n == "meshkv_storage_estimated_keys")


def test_request_counter_increases_by_route_and_code(admin, uniq):
    before = parse_metrics(admin.metrics())
    k = uniq + "m"
    for _ in range(3):
        admin.put(k, b"v")
    for _ in range(2):
        admin.get(uniq + "absent")
    admin.list(prefix=uniq)
    admin.batch({"ops": [{"op": "get", "key": k}]})
    admin.get_path("/no/such/route")
    admin.list(limit="0")
    after = parse_metrics(admin.metrics())

    def delta(**labels):
        name = "meshkv_http_requests_total"
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert delta(route="kv_item", code="200") >= 3
    assert delta(route="kv_item", code="404") >= 2
    assert delta(route="kv_list", code="200") >= 1
    assert delta(route="kv_list", code="400") >= 1
    assert delta(route="kv_batch", code="200") >= 1
    assert delta(route="unknown", code="404") >= 1
    assert delta(route="metrics", code="200") >= 1
    hist = "meshkv_http_request_duration_seconds_count"
    assert metric_value(after, hist, route="kv_item") >= metric_value(before, hist, route="kv_item") + 5
    assert metric_value(after, "meshkv_storage_writes_applied_total") >= \
        metric_value(before, "meshkv_storage_writes_applied_total") + 3


def test_metrics_never_label_by_key(admin):
    secret_key = "metrics-label-leak-check-7f3a9"
    admin.put(secret_key, b"v")
    admin.get(secret_key)
    admin.get_path("/" + secret_key)
    assert secret_key not in admin.metrics()


def test_metrics_unauthenticated_401_counted(node, admin):
    before = metric_value(parse_metrics(admin.metrics()), "meshkv_http_requests_total", code="401")
    node.client(None).get_path("/v1/cluster/status")
    after = metric_value(parse_metrics(admin.metrics()), "meshkv_http_requests_total", code="401")
    assert after >= before + 1

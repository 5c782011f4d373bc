"""Process and protocol helpers for the meshkv black-box integration tests.

Everything here talks to a real `meshkv` binary over real loopback sockets:
- Node: one `meshkv serve` process on a free port with its own temp data dir.
- Client: a thin requests.Session wrapper that percent-encodes key bytes.
- RawConn / parse helpers: a minimal HTTP/1.1 client over a plain socket for
  requests that well-behaved clients refuse to send (bad escapes, missing
  Content-Length, truncated requests, pipelining, garbage).

Every process started here is registered in _LIVE and stopped by its PID
(SIGTERM, then SIGKILL after a timeout) by the fixtures in conftest.py, even
when a test fails. Temp dirs are removed unless MESHKV_KEEP_TMP=1.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import random
import socket
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
MESHKV_BIN = os.environ.get("MESHKV_BIN") or str(REPO_ROOT / "build" / "meshkv")
KEEP_TMP = os.environ.get("MESHKV_KEEP_TMP") == "1"
THREADS = os.environ.get("MESHKV_TEST_THREADS", "2")
READY_TIMEOUT = float(os.environ.get("MESHKV_READY_TIMEOUT", "15"))
STOP_TIMEOUT = 10.0

# Every Popen started by the harness, so that a session finalizer can reap
# anything a test forgot (by PID, never by name).
_LIVE: list[subprocess.Popen] = []
_TMPDIRS: list[str] = []


# --------------------------------------------------------------------------
# tokens and config


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Token:
    name: str
    secret: str
    scopes: list[str]
    namespace: str | None = None
    prefix: str | None = None

    def toml(self) -> str:
        lines = [
            "[[tokens]]",
            f'name = "{self.name}"',
            f'sha256 = "{sha256_hex(self.secret)}"',
            "scopes = [" + ", ".join(f'"{s}"' for s in self.scopes) + "]",
        ]
        if self.namespace is not None:
            lines.append(f'namespace = "{self.namespace}"')
        if self.prefix is not None:
            lines.append(f'prefix = "{self.prefix}"')
        return "\n".join(lines) + "\n"


# The standard token set used by the shared nodes.
TOKENS = {
    "admin": Token("admin", "mkv_test_admin_secret_0001", ["admin"]),
    "reader": Token("reader", "mkv_test_reader_secret_0002", ["read"]),
    "writer": Token("writer", "mkv_test_writer_secret_0003", ["write"]),
    "rw": Token("rw", "mkv_test_rw_secret_0004", ["read", "write"]),
    "tenant": Token("tenant", "mkv_test_tenant_secret_0005", ["read", "write"], namespace="tenant"),
    "app": Token("app", "mkv_test_app_secret_0006", ["read", "write"], prefix="app/"),
}

# Namespaces of the standard config (besides the built-ins default and dns).
STANDARD_NAMESPACES = """\
[namespaces.short]
default_ttl = "1s"

[namespaces.small]
max_value_bytes = 1024

[namespaces.tenant]
replicas = 1

[namespaces.mem]
storage = "memory"
"""


def standard_config(extra: str = "", tokens=None) -> str:
    toks = TOKENS.values() if tokens is None else tokens
    return "".join(t.toml() + "\n" for t in toks) + STANDARD_NAMESPACES + "\n" + extra


# --------------------------------------------------------------------------
# ports, temp dirs


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


_EPHEMERAL = _ephemeral_range()
# Ports handed out by this process: never twice, even after the node using
# one has stopped (a restart may need it again, and another test must not).
_HANDED_OUT: set[int] = set()


def _candidate_ports():
    """Random ports below the kernel's ephemeral range: a port taken from the
    ephemeral range with bind(0) and released can be grabbed as the source
    port of any outgoing connection (nodes dial each other all the time)
    before the node that is meant to listen on it starts."""
    low = 10000
    high = min(_EPHEMERAL[0], 65536) - 1
    if high - low < 1000:  # unusual range: fall back to above it
        low, high = _EPHEMERAL[1] + 1, 65535
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(2000):
        port = rng.randint(low, high)
        if port not in _HANDED_OUT:
            yield port


def _bindable(port: int, udp_too: bool) -> bool:
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp_too else [])
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A TCP port free on 127.0.0.1, outside the ephemeral range."""
    for port in _candidate_ports():
        if _bindable(port, udp_too=False):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free TCP port")


def free_dns_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (checked, then released),
    outside the ephemeral range."""
    for port in _candidate_ports():
        if _bindable(port, udp_too=True):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no port free for both TCP and UDP")


def make_tmpdir(prefix: str = "meshkv-it-") -> str:
    d = tempfile.mkdtemp(prefix=prefix)
    _TMPDIRS.append(d)
    return d


def remove_tmpdir(d: str) -> None:
    if d in _TMPDIRS:
        _TMPDIRS.remove(d)
    if not KEEP_TMP:
        shutil.rmtree(d, ignore_errors=True)


def stop_process(p: subprocess.Popen, sig=signal.SIGTERM, timeout=STOP_TIMEOUT) -> int | None:
    """Sends `sig` to p by PID and waits; SIGKILLs after `timeout`. Returns the
    exit status seen after `sig` (None when it had to be SIGKILLed)."""
    rc = p.poll()
    if rc is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=30)
    if p in _LIVE:
        _LIVE.remove(p)
    return rc


def reap_all() -> None:
    for p in list(_LIVE):
        stop_process(p, timeout=5)
    for d in list(_TMPDIRS):
        remove_tmpdir(d)


def clean_env(**extra) -> dict:
    """The process environment without MESHKV_* (so a developer's settings do
    not leak into a test), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHKV_")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_cli(*args, input: bytes | None = None, env: dict | None = None, timeout=30) -> subprocess.CompletedProcess:
    """Runs the meshkv binary to completion (client verbs, config check, ...)."""
    return subprocess.run(
        [MESHKV_BIN, *args],
        input=input if input is not None else b"",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env if env is not None else clean_env(),
        timeout=timeout,
    )


# --------------------------------------------------------------------------
# keys and values


def qkey(key) -> str:
    """Percent-encodes every byte of `key` that is not unreserved."""
    if isinstance(key, str):
        key = key.encode()
    return urllib.parse.quote(key, safe="")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def assert_error(resp, status: int, code: str):
    """Asserts an api.md error response: status, JSON content type, code and a
    non-empty message. Works for requests.Response and RawResponse."""
    body = resp.content if hasattr(resp, "content") else resp.body
    ctype = resp.headers.get("Content-Type", resp.headers.get("content-type", ""))
    assert resp.status_code == status, (
        f"expected {status} {code}, got {resp.status_code}: {body[:300]!r}"
    )
    assert ctype.split(";")[0].strip().lower() == "application/json", (
        f"error {status} has Content-Type {ctype!r}, want application/json; body {body[:300]!r}"
    )
    doc = json.loads(body)
    assert doc.get("code") == code, f"error body {doc!r}: want code {code!r}"
    assert isinstance(doc.get("message"), str) and doc["message"], f"error body {doc!r} lacks a message"
    return doc


# --------------------------------------------------------------------------
# HTTP client


class Client:
    """requests.Session bound to one node and one token."""

    def __init__(self, base_url: str, token: str | None):
        self.base = base_url
        self.s = requests.Session()
        self.token = token
        if token is not None:
            self.s.headers["Authorization"] = f"Bearer {token}"

    def close(self):
        self.s.close()

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 15)
        return self.s.request(method, self.base + path, **kw)

    def get_path(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, key, value=b"", params=None, **kw):
        return self.request("PUT", "/v1/kv/" + qkey(key), data=value, params=params, **kw)

    def get(self, key, params=None, **kw):
        return self.request("GET", "/v1/kv/" + qkey(key), params=params, **kw)

    def head(self, key, params=None, **kw):
        return self.request("HEAD", "/v1/kv/" + qkey(key), params=params, **kw)

    def delete(self, key, params=None, **kw):
        return self.request("DELETE", "/v1/kv/" + qkey(key), params=params, **kw)

    def list(self, **params):
        return self.request("GET", "/v1/kv", params=params)

    def batch(self, doc, **kw):
        if isinstance(doc, (bytes, str)):
            return self.request("POST", "/v1/kv/batch", data=doc,
                                headers={"Content-Type": "application/json"}, **kw)
        return self.request("POST", "/v1/kv/batch", json=doc, **kw)

    def status(self):
        r = self.request("GET", "/v1/cluster/status")
        assert r.status_code == 200, r.text
        return r.json()

    def metrics(self) -> str:
        r = self.request("GET", "/metrics")
        assert r.status_code == 200, r.text
        return r.text

    def list_all(self, prefix, page=100, **extra):
        """Follows next_cursor; returns the list of items."""
        items, cursor, pages = [], None, 0
        while True:
            params = {"prefix": prefix, "limit": page, **extra}
            if cursor is not None:
                params["cursor"] = cursor
            r = self.list(**params)
            assert r.status_code == 200, r.text
            doc = r.json()
            items.extend(doc["items"])
            pages += 1
            assert pages < 10_000, "pagination does not terminate"
            cursor = doc["next_cursor"]
            if cursor is None:
                return items


# --------------------------------------------------------------------------
# raw HTTP over a socket


@dataclass
class RawResponse:
    status_code: int
    reason: str
    headers: dict  # lower-case name -> value (last wins)
    header_list: list = field(default_factory=list)
    body: bytes = b""

    @property
    def content(self):
        return self.body

    def json(self):
        return json.loads(self.body)


class RawConn:
    """One TCP connection to a node, with an incremental HTTP/1.1 response
    reader (Content-Length, chunked, or read-to-EOF)."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes):
        self.sock.sendall(data)

    def try_send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _read_until(self, marker: bytes) -> bytes | None:
        while marker not in self.buf:
            if not self._fill():
                return None
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self._fill():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head: bool = False) -> RawResponse | None:
        """The next response, or None on a clean EOF before any byte."""
        raw_head = self._read_until(b"\r\n\r\n")
        if raw_head is None:
            if self.buf:
                raise AssertionError(f"truncated response head: {self.buf[:300]!r}")
            return None
        lines = raw_head[:-4].split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ?(.*)", lines[0])
        assert m, f"bad status line {lines[0]!r}"
        status = int(m.group(1))
        headers, header_list = {}, []
        for ln in lines[1:]:
            name, _, value = ln.partition(b":")
            n, v = name.decode("latin-1").strip().lower(), value.decode("latin-1").strip()
            headers[n] = v
            header_list.append((n, v))
        body = b""
        if head or status in (204, 304) or 100 <= status < 200:
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size_line = self._read_until(b"\r\n")
                assert size_line is not None, "truncated chunked body"
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    self._read_until(b"\r\n")  # trailers (assume none)
                    break
                data = self._read_exact(size + 2)
                assert data is not None, "truncated chunk"
                body += data[:-2]
        elif "content-length" in headers:
            n = int(headers["content-length"])
            data = self._read_exact(n)
            assert data is not None, f"truncated body: wanted {n}, have {len(self.buf)}"
            body = data
        else:
            while self._fill():
                pass
            body, self.buf = self.buf, b""
        return RawResponse(status, m.group(2).decode("latin-1"), headers, header_list, body)

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when the peer closes the connection (EOF or reset) within
        `timeout` without sending any more bytes."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
                return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def http_request_bytes(method: str, target: str, token: str | None = None, body: bytes | None = None,
                       headers: dict | None = None, content_length: bool = True) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None and content_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def raw_exchange(port: int, data: bytes, head=False, timeout=10.0) -> RawResponse | None:
    with RawConn(port, timeout=timeout) as c:
        c.send(data)
        return c.read_response(head=head)


# --------------------------------------------------------------------------
# nodes


class NodeStartError(AssertionError):
    pass


class Node:
    """One `meshkv serve` process. Use via the node_factory fixture."""

    def __init__(self, data_dir: str | None = None, config: str | None = None,
                 args: list[str] | None = None, workdir: str | None = None):
        self.workdir = workdir or make_tmpdir()
        self.own_workdir = workdir is None
        self.data_dir = data_dir or os.path.join(self.workdir, "data")
        self.config_path = None
        if config is not None:
            self.config_path = os.path.join(self.workdir, "meshkv.toml")
            Path(self.config_path).write_text(config)
        self.args = list(args or [])
        self.port = None
        self.proc: subprocess.Popen | None = None
        self.runs = 0
        self.clients: list[Client] = []
        self.last_rc = None

    # -- process
    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def command(self) -> list[str]:
        cmd = [MESHKV_BIN, "serve", "--data-dir", self.data_dir, "--listen", self.addr,
               "--threads", THREADS]
        if self.config_path:
            cmd += ["--config", self.config_path]
        return cmd + self.args

    def write_config(self, text: str):
        assert self.config_path, "node was started without a config file"
        tmp = self.config_path + ".new"
        Path(tmp).write_text(text)
        os.replace(tmp, self.config_path)

    def start(self, wait=True, port=None):
        for attempt in range(3):
            self.port = port or free_port()
            self.runs += 1
            self.stdout_path = os.path.join(self.workdir, f"stdout.{self.runs}.log")
            self.stderr_path = os.path.join(self.workdir, f"stderr.{self.runs}.log")
            with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err,
                                             stdin=subprocess.DEVNULL, env=clean_env())
            _LIVE.append(self.proc)
            if not wait:
                return self
            try:
                self.wait_healthy()
                return self
            except NodeStartError:
                if port is None and self.proc.poll() is not None and \
                        "address already in use" in self.stderr().lower():
                    stop_process(self.proc)
                    continue
                raise
        raise NodeStartError("could not find a free port in 3 attempts")

    def wait_healthy(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                stop_process(self.proc)
                raise NodeStartError(
                    f"meshkv serve exited with {rc} during start-up\n"
                    f"command: {' '.join(self.command())}\n"
                    f"stderr:\n{self.stderr()[-4000:]}\nstdout:\n{self.stdout()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                try:
                    conn.request("GET", "/health", headers={"Connection": "close"})
                    r = conn.getresponse()
                    r.read()
                    if r.status == 200:
                        return
                    last = f"status {r.status}"
                finally:
                    conn.close()
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        stop_process(self.proc)
        raise NodeStartError(f"/health not 200 within {timeout}s (last: {last})\n"
                             f"stderr:\n{self.stderr()[-4000:]}")

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        for c in self.clients:
            c.close()
        self.clients.clear()
        if self.proc is None:
            return None
        self.last_rc = stop_process(self.proc, sig=sig, timeout=timeout)
        return self.last_rc

    def kill(self):
        """SIGKILL (a process crash)."""
        return self.stop(sig=signal.SIGKILL, timeout=30)

    def restart(self, **kw):
        rc = self.stop()
        self.start(port=self.port, **kw)
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        self.stop(timeout=5)
        if self.own_workdir:
            remove_tmpdir(self.workdir)

    # -- logs
    def stderr(self) -> str:
        try:
            return Path(self.stderr_path).read_text(errors="replace")
        except (OSError, AttributeError):
            return ""

    def stdout(self) -> str:
        try:
            return Path(self.stdout_path).read_text(errors="replace")
        except (OSError, AttributeError):
            return ""

    # -- clients
    def admin_token_file(self) -> str:
        return os.path.join(self.data_dir, "admin.token")

    def generated_token(self) -> str:
        return Path(self.admin_token_file()).read_text().strip()

    def client(self, token=...) -> Client:
        """A client; token defaults to the standard admin token when the node
        has a config, else to the generated admin.token."""
        if token is ...:
            token = TOKENS["admin"].secret if self.config_path else self.generated_token()
        c = Client(self.url, token)
        self.clients.append(c)
        return c

    def client_as(self, name: str) -> Client:
        return self.client(TOKENS[name].secret)


def parse_metrics(text: str) -> list[tuple[str, dict, float]]:
    """Prometheus text format -> [(name, labels, value)]."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$', line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        v = m.group(3)
        out.append((m.group(1), labels, float(v)))
    return out


def metric_value(samples, name, **labels) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == str(x) for k, x in labels.items()))

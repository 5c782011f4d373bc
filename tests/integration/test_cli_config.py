"""The `meshkv` client verbs (put/get/del/ls/status) against a live node, and
`meshkv config check` / `meshkv config default`."""
import json
import os
import re

import pytest

import harness
from harness import TOKENS, clean_env, free_port, run_cli

ADMIN = TOKENS["admin"].secret


@pytest.fixture
def cli(node):
    """cli(*args, input=b'', token=ADMIN, env_extra=None) with --addr/--token."""

    def run(*args, input=None, token=ADMIN, use_flags=True, env_extra=None):
        common = []
        if use_flags:
            common = ["--addr", node.url]
            if token is not None:
                common += ["--token", token]
        env = clean_env(**(env_extra or {}))
        return run_cli(*args, *common, input=input, env=env)

    return run


def ok(p):
    assert p.returncode == 0, f"exit {p.returncode}; stderr: {p.stderr.decode(errors='replace')[-1000:]}"
    return p


# ---------------------------------------------------------------- put/get/del

def test_put_get_del(cli, admin, uniq):
    k = uniq + "k"
    ok(cli("put", k, "hello world"))
    assert admin.get(k).content == b"hello world"
    p = ok(cli("get", k))
    assert p.stdout == b"hello world", "get must print the raw value without a newline"
    ok(cli("del", k))
    assert admin.get(k).status_code == 404
    p = cli("get", k)
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert p.stdout == b""
    ok(cli("del", k))  # idempotent


def test_put_value_from_stdin_binary(cli, admin, uniq):
    value = bytes(range(256)) * 10 + b"\n\n"
    ok(cli("put", uniq + "a", input=value))
    assert admin.get(uniq + "a").content == value
    ok(cli("put", uniq + "b", "-", input=value[::-1]))
    assert admin.get(uniq + "b").content == value[::-1]
    assert ok(cli("get", uniq + "a")).stdout == value
    assert ok(cli("get", uniq + "b")).stdout == value[::-1]


def test_put_empty_value_from_stdin(cli, admin, uniq):
    ok(cli("put", uniq + "e", input=b""))
    r = admin.get(uniq + "e")
    assert r.status_code == 200 and r.content == b""
    assert ok(cli("get", uniq + "e")).stdout == b""


def test_keys_with_spaces_and_slashes(cli, admin, uniq):
    k = uniq + "a b/c d/ключ"
    ok(cli("put", k, "v"))
    assert admin.get(k).content == b"v"
    admin.put(uniq + "x y", b"from http")
    assert ok(cli("get", uniq + "x y")).stdout == b"from http"


def test_get_value_written_over_http(cli, admin, uniq):
    v = os.urandom(5000)
    admin.put(uniq + "r", v)
    assert ok(cli("get", uniq + "r")).stdout == v


def test_ns_and_ttl(cli, admin, uniq):
    k = uniq + "n"
    ok(cli("put", k, "tenant", "--ns", "tenant"))
    assert admin.get(k, params={"ns": "tenant"}).content == b"tenant"
    assert admin.get(k).status_code == 404
    assert ok(cli("get", k, "--ns", "tenant")).stdout == b"tenant"
    assert cli("get", k).returncode == 3
    ok(cli("put", k, "ttl", "--ttl", "30s"))
    r = admin.get(k)
    assert r.content == b"ttl" and "X-Meshkv-Expires-At-Ms" in r.headers
    p = cli("put", k, "x", "--ns", "nosuchns")
    assert p.returncode == 1 and p.stderr.strip()
    ok(cli("del", k, "--ns", "tenant"))
    assert admin.get(k, params={"ns": "tenant"}).status_code == 404


def test_env_token_and_addr(node, admin, uniq):
    env = {"MESHKV_ADDR": node.url, "MESHKV_TOKEN": ADMIN}
    p = run_cli("put", uniq + "env", "v", env=clean_env(**env))
    assert p.returncode == 0, p.stderr
    assert admin.get(uniq + "env").content == b"v"
    p = run_cli("get", uniq + "env", env=clean_env(**env))
    assert p.returncode == 0 and p.stdout == b"v"
    # flags win over the environment
    p = run_cli("get", uniq + "env", "--token", "wrong", env=clean_env(**env))
    assert p.returncode == 1


def test_ls(cli, admin, uniq):
    keys = [f"{uniq}{i:03d}" for i in range(150)]  # more than one default page
    for k in keys:
        admin.put(k, b"v")
    admin.put(uniq[:-1] + "-outside", b"v")
    p = ok(cli("ls", "--prefix", uniq))
    assert p.stdout.decode().splitlines() == keys
    p = ok(cli("ls", "--prefix", uniq, "--limit", "7"))
    lines = p.stdout.decode().splitlines()
    assert lines and lines == keys[:len(lines)], "ls --limit must print keys in order"
    p = ok(cli("ls", "--prefix", uniq + "nothing"))
    assert p.stdout == b""


def test_status(cli, node):
    p = ok(cli("status"))
    doc = json.loads(p.stdout)
    assert re.fullmatch(r"[0-9a-f]{16}", doc["node_id"])
    assert doc["http"]["listen"] == node.addr


# ---------------------------------------------------------------- exit codes

def test_exit_1_on_auth_error(cli, uniq):
    for args in (("get", uniq + "k"), ("put", uniq + "k", "v"), ("del", uniq + "k"), ("ls",), ("status",)):
        p = cli(*args, token="wrong-token")
        assert p.returncode == 1, (args, p.returncode)
        assert p.stderr.strip(), f"{args}: no message on stderr"
        p = cli(*args, token=None)
        assert p.returncode == 1, (args, p.returncode)


def test_exit_1_on_forbidden(cli, admin, uniq):
    p = cli("put", uniq + "k", "v", token=TOKENS["reader"].secret)
    assert p.returncode == 1 and p.stderr.strip()
    assert admin.get(uniq + "k").status_code == 404


def test_exit_1_when_unreachable(uniq):
    port = free_port()  # nothing listens there
    p = run_cli("get", uniq, "--addr", f"http://127.0.0.1:{port}", "--token", ADMIN)
    assert p.returncode == 1, p.returncode
    assert p.stderr.strip()


@pytest.mark.parametrize("args", [
    (),
    ("frobnicate",),
    ("get",),
    ("del",),
    ("put",),
    ("get", "a", "b"),
    ("ls", "--limit"),
    ("ls", "--bogus-flag"),
], ids=["none", "unknown-verb", "get-no-key", "del-no-key", "put-no-key", "get-extra", "ls-limit-no-value",
        "unknown-flag"])
def test_exit_2_on_usage_error(node, args):
    p = run_cli(*args, env=clean_env(MESHKV_ADDR=node.url, MESHKV_TOKEN=ADMIN))
    assert p.returncode == 2, (args, p.returncode, p.stderr[-500:])
    assert p.stderr.strip()


# ---------------------------------------------------------------- config check / default

@pytest.fixture
def tmpdir_():
    d = harness.make_tmpdir()
    yield d
    harness.remove_tmpdir(d)


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_config_check_good(tmpdir_):
    path = write(tmpdir_, "good.toml", harness.standard_config(
        "[http]\nmax_body_bytes = 4096\nmax_header_bytes = 8192\nmax_connections = 100\n"
        "max_inflight_requests = 10\n"))
    p = run_cli("config", "check", path)
    assert p.returncode == 0, p.stderr.decode()[-2000:]


def test_config_check_empty_file_ok(tmpdir_):
    p = run_cli("config", "check", write(tmpdir_, "empty.toml", ""))
    assert p.returncode == 0, p.stderr


BAD_CONFIGS = {
    "unknown-key": ("[http]\nmax_body_bytes = 2048\nmax_bodyy_bytes = 1\n", 3, "max_bodyy_bytes"),
    "wrong-type": ("\n[http]\nmax_body_bytes = \"big\"\n", 3, "max_body_bytes"),
    "bad-duration": ("[namespaces.x]\ndefault_ttl = \"5x\"\n", 2, "default_ttl"),
    "bad-storage": ("[namespaces.x]\nreplicas = 1\nstorage = \"tape\"\n", 3, "storage"),
    "bad-scope": ("[[tokens]]\nname = \"a\"\nsha256 = \"" + "a" * 64 + "\"\nscopes = [\"root\"]\n", 4, "scopes"),
    "bad-sha": ("[[tokens]]\nname = \"a\"\nsha256 = \"xyz\"\nscopes = [\"read\"]\n", 3, "sha256"),
    "unknown-token-key": ("[[tokens]]\nname = \"a\"\nsha256 = \"" + "a" * 64 + "\"\nscopes = [\"read\"]\n"
                          "prefx = \"a/\"\n", 5, "prefx"),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS), ids=list(BAD_CONFIGS))
def test_config_check_bad(tmpdir_, name):
    text, line, key = BAD_CONFIGS[name]
    path = write(tmpdir_, "bad.toml", text)
    p = run_cli("config", "check", path)
    err = p.stderr.decode(errors="replace")
    assert p.returncode != 0, f"config check accepted:\n{text}"
    at_line = [ln for ln in err.splitlines() if f"{path}:{line}:" in ln]
    assert at_line, f"no error names {path}:{line}:\n{err}"
    assert any(key in ln for ln in at_line), f"the error at line {line} does not name {key!r}:\n{err}"


@pytest.mark.parametrize("name", list(BAD_CONFIGS), ids=list(BAD_CONFIGS))
def test_config_check_error_format(tmpdir_, name):
    """The documented shape of every config error: FILE:LINE: <dotted key>: <message>."""
    text, line, key = BAD_CONFIGS[name]
    path = write(tmpdir_, "bad.toml", text)
    p = run_cli("config", "check", path)
    err = p.stderr.decode(errors="replace")
    assert p.returncode != 0
    assert re.search(rf"{re.escape(path)}:{line}: (?:[\w\[\]]+\.)*{key}(?:\[\d+\])?: ", err), \
        f"not in the form '{path}:{line}: ...{key}: message':\n{err}"


def test_config_check_syntax_error(tmpdir_):
    path = write(tmpdir_, "syntax.toml", "[http]\nmax_body_bytes = \n")
    p = run_cli("config", "check", path)
    assert p.returncode != 0
    assert f"{path}:" in p.stderr.decode(errors="replace")


def test_config_check_missing_file(tmpdir_):
    p = run_cli("config", "check", os.path.join(tmpdir_, "nope.toml"))
    assert p.returncode != 0
    assert p.stderr.strip()


def test_config_default_is_accepted(tmpdir_):
    p = run_cli("config", "default")
    assert p.returncode == 0, p.stderr
    text = p.stdout
    assert b"[http]" in text and b"#" in text, "default config should be annotated TOML"
    path = os.path.join(tmpdir_, "default.toml")
    with open(path, "wb") as f:
        f.write(text)
    p = run_cli("config", "check", path)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    # and through a pipe
    p = run_cli("config", "check", "/dev/stdin", input=text)
    assert p.returncode == 0, p.stderr.decode()[-2000:]


def test_serve_accepts_default_config(node_factory, tmpdir_, uniq):
    text = run_cli("config", "default").stdout.decode()
    n = node_factory(config=text)  # flags (--listen, --data-dir) win over the file
    tok = n.generated_token()
    c = n.client(tok)
    assert c.put(uniq, b"v").status_code == 200
    assert c.status()["http"]["listen"] == n.addr

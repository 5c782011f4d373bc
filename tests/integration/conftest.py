"""Fixtures for the meshkv integration tests (see README.md).

- `node_factory` (function scope): start nodes with a given config / flags;
  every node is stopped by PID and its temp dir removed after the test.
- `node` (module scope): one node with the standard config (tokens and
  namespaces from harness.standard_config), shared by a module's tests; tests
  use their own key prefixes so they do not see each other.
- `admin`: an admin-token client of the module's shared node.
"""
import os
import uuid

import pytest

import harness
from harness import Node, MESHKV_BIN


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def pytest_collection_modifyitems(config, items):
    if os.path.isfile(MESHKV_BIN) and os.access(MESHKV_BIN, os.X_OK):
        return
    if os.environ.get("MESHKV_REQUIRE_BIN") == "1":
        raise pytest.UsageError(f"meshkv binary not found at {MESHKV_BIN} (set MESHKV_BIN)")
    skip = pytest.mark.skip(reason=f"meshkv binary not found at {MESHKV_BIN} (build it or set MESHKV_BIN)")
    for item in items:
        item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    # Last line of defence: anything still running is stopped by PID.
    harness.reap_all()


class _Factory:
    def __init__(self):
        self.nodes = []

    def __call__(self, config=None, args=None, start=True, data_dir=None, workdir=None):
        n = Node(data_dir=data_dir, config=config, args=args, workdir=workdir)
        self.nodes.append(n)
        if start:
            n.start()
        return n

    def cleanup(self):
        errors = []
        for n in reversed(self.nodes):
            try:
                n.cleanup()
            except Exception as e:  # keep cleaning the others
                errors.append(e)
        self.nodes.clear()
        if errors:
            raise errors[0]


@pytest.fixture
def node_factory():
    f = _Factory()
    yield f
    f.cleanup()


@pytest.fixture(scope="module")
def module_node_factory():
    f = _Factory()
    yield f
    f.cleanup()


@pytest.fixture(scope="module")
def node(module_node_factory):
    """A shared node with the standard config."""
    return module_node_factory(config=harness.standard_config())


@pytest.fixture
def admin(node):
    c = node.client()
    yield c
    c.close()


@pytest.fixture
def uniq():
    """A unique key prefix for one test."""
    return f"t-{uuid.uuid4().hex[:12]}/"

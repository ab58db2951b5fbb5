"""VCC_REQUIRE_DOCKER / VCC_REQUIRE_BWRAP (set by .ci/run): a skip for want of the tool fails.

The hook lives in conftest.py; here its rule, and the hook itself in a child pytest run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import required_tool_missing

HERE = Path(__file__).resolve().parent


def test_rule_names_the_variable_a_skip_breaks():
    on = {"VCC_REQUIRE_DOCKER": "1", "VCC_REQUIRE_BWRAP": "1"}
    assert required_tool_missing("no Docker engine: daemon down", set(), on) == "VCC_REQUIRE_DOCKER"
    assert required_tool_missing("the image cannot be built", {"docker"}, on) == "VCC_REQUIRE_DOCKER"
    assert required_tool_missing("bubblewrap sandbox unavailable: bwrap not found", set(), on) == "VCC_REQUIRE_BWRAP"
    assert required_tool_missing("needs bwrap", set(), on) == "VCC_REQUIRE_BWRAP"
    assert required_tool_missing("uv is not installed", set(), on) is None
    assert required_tool_missing("dockerfile-ish words", set(), on) is None  # whole words only
    # Unset or not "1": a skip stays a skip.
    assert required_tool_missing("no Docker engine", {"docker"}, {}) is None
    assert required_tool_missing("no Docker engine", {"docker"}, {"VCC_REQUIRE_DOCKER": "0"}) is None
    assert required_tool_missing("needs bwrap", set(), {"VCC_REQUIRE_DOCKER": "1"}) is None


def test_hook_turns_such_a_skip_into_a_failure(tmp_path):
    """A child pytest with this conftest: the Docker-named skip fails under the variable only."""
    (tmp_path / "conftest.py").write_text((HERE / "conftest.py").read_text())
    (tmp_path / "test_child.py").write_text(
        "import pytest\n"
        "@pytest.mark.skip(reason='no Docker engine: stopped')\n"
        "def test_needs_engine():\n    pass\n"
        "def test_needs_bwrap_inside():\n    pytest.skip('bubblewrap sandbox unavailable')\n"
        "@pytest.mark.skip(reason='unrelated')\n"
        "def test_other():\n    pass\n"
    )

    def child(**env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("VCC_REQUIRE_")}
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
            capture_output=True, text=True, cwd=tmp_path, env={**base, **env}, timeout=120,
        )

    plain = child()
    assert plain.returncode == 0, plain.stdout
    assert "3 skipped" in plain.stdout
    # A skip in setup (a skipif mark, a fixture) becomes an error, one in the test a failure.
    docker_only = child(VCC_REQUIRE_DOCKER="1")
    assert docker_only.returncode == 1
    assert "1 error" in docker_only.stdout and "2 skipped" in docker_only.stdout, docker_only.stdout
    assert "VCC_REQUIRE_DOCKER=1 but this test skipped: no Docker engine: stopped" in docker_only.stdout
    both = child(VCC_REQUIRE_DOCKER="1", VCC_REQUIRE_BWRAP="1")
    assert "1 failed" in both.stdout and "1 error" in both.stdout and "1 skipped" in both.stdout, both.stdout
    assert "VCC_REQUIRE_BWRAP=1 but this test skipped: bubblewrap sandbox unavailable" in both.stdout

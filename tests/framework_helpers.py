"""Running a framework app (tests/apps/) against a real `swarmscope serve` and reading what it found."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

APPS = Path(__file__).parent / "apps"
# Stalls judged after 1 s (a tool call that has not ended by then is a stalled wait), sweeps twice a
# second: the tests poll the API with a deadline, they do not sleep.
DETECT_CONFIG = "[stalled_wait]\ndefault_timeout_s = 1.0\n"
# How long a test polls for what a sweep finds: generous, as 2 loaded cores run the app, serve and sweeps.
DEADLINE_S = 90.0


def start_server(server_factory, tmp_path: Path):
    config = tmp_path / "detect.toml"
    config.write_text(DETECT_CONFIG)
    return server_factory(extra_args=["--detect-interval", "0.5", "--detect-config", str(config)])


def run_app(app: str, server, run_id: str, mode: str, python: str = sys.executable) -> None:
    """The app in `mode` to its end (`python`: an interpreter with the app's framework)."""
    done = subprocess.run([python, str(APPS / app), server.url, run_id, mode],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]


def start_hanging(app: str, server, run_id: str, python: str = sys.executable) -> subprocess.Popen:
    """The app in `hang` mode, returned once its tool call has started."""
    proc = subprocess.Popen([python, str(APPS / app), server.url, run_id, "hang"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "hanging"
    return proc


CREWAI_PYTHON_ENV = "SWARMSCOPE_CREWAI_PYTHON"
CREWAI_MISSING = (f"CrewAI is not importable: it cannot share the test environment (it pins older "
                  f"openai/pydantic/mcp); set {CREWAI_PYTHON_ENV} to the python of a venv with "
                  f"`pip install -e '.[crewai]'` (docs/integrations.md)")


@functools.cache
def crewai_python() -> str | None:
    """An interpreter with CrewAI, its instrumentor and swarmscope: this one, else the one
    $SWARMSCOPE_CREWAI_PYTHON names; None if neither has them."""
    for python in (sys.executable, os.environ.get(CREWAI_PYTHON_ENV, "")):
        needs = "import crewai, openinference.instrumentation.crewai, swarmscope"
        if python and subprocess.run([python, "-c", needs], capture_output=True, timeout=120).returncode == 0:
            return python
    return None


def watched_while_hanging(app: str, python: str = sys.executable) -> list[list[str]]:
    """The app's `hang` scenario in memory: [name, agent, kind] of each span the pending processor
    watches while the tool call hangs (tests/apps/swarm_main.py, `watched`)."""
    done = subprocess.run([python, str(APPS / app), "-", "run-watch", "watched"], capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def agents_by_name(server) -> dict[str, dict]:
    return {a["name"]: a for a in server.get("/api/agents")["agents"]}


def findings(server, kind: str, run_id: str | None = None) -> list[dict]:
    return server.get("/api/findings", kind=kind, run_id=run_id)["findings"]


def page(server, path: str, **params: str) -> str:
    """A page's HTML."""
    with urllib.request.urlopen(server.url + path + "?" + urlencode(params), timeout=30) as resp:
        return resp.read().decode()


def wait_until_equal(server, read, expected, timeout: float = DEADLINE_S) -> None:
    """Poll `read()` until it equals `expected`; on timeout fail showing the difference."""
    try:
        server.wait_for(lambda: read() == expected, timeout=timeout)
    except AssertionError:
        assert read() == expected

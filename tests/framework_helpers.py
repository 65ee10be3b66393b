"""Running a framework app (tests/apps/) against a real `swarmscope serve` and reading what it found."""

from __future__ import annotations

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

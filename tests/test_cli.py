"""The command line refuses bad invocations with a message and exit status 2."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmscope.ui.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def test_no_command_prints_usage():
    result = run()
    assert result.returncode == 2 and "usage: swarmscope" in result.stderr


def test_bad_detector_config_is_refused_before_serving(tmp_path):
    bad = tmp_path / "detect.toml"
    bad.write_text("[stalled_wait]\nno_such_knob = 3\n")
    result = run("serve", "--detect-config", str(bad), "--data", str(tmp_path / "data"))
    assert result.returncode == 2
    assert "no_such_knob" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before opening the store

"""The command line refuses bad invocations with a message and exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmscope.ui.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def test_no_command_prints_usage():
    result = run()
    assert result.returncode == 2 and "usage: swarmscope" in result.stderr


@pytest.mark.parametrize("flag", ["--config", "--detect-config"])  # the second: serve's former name
def test_bad_detector_config_is_refused_before_serving(tmp_path, flag):
    bad = tmp_path / "detect.toml"
    bad.write_text("[stalled_wait]\nno_such_knob = 3\n")
    result = run("serve", flag, str(bad), "--data", str(tmp_path / "data"))
    assert result.returncode == 2
    assert "bad --config" in result.stderr and "no_such_knob" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before opening the store


def test_detect_refuses_a_bad_config_and_a_bad_since_with_the_accepted_forms(tmp_path):
    bad = tmp_path / "detect.toml"
    bad.write_text("[loop]\nmax_repeats = -1\n")
    result = run("detect", "--config", str(bad), "--data", str(tmp_path))
    assert result.returncode == 2 and "loop.max_repeats must be a non-negative number" in result.stderr
    result = run("detect", "--since", "yesterday", "--data", str(tmp_path))
    assert result.returncode == 2
    assert "invalid time 'yesterday'" in result.stderr and "unix seconds or ISO 8601" in result.stderr


def test_serve_and_detect_name_the_config_file_alike():
    for command in ("serve", "detect"):
        result = run(command, "--help")
        assert result.returncode == 0 and "--config CONFIG" in result.stdout, command
        assert "--detect-config" not in result.stdout  # a hidden alias, not a second name

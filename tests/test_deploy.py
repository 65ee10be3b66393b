"""The deployment starts: the Dockerfile's own steps, run from a read-only copy of the tree (there is no
container engine here), end with a healthy `swarmscope serve`; the compose file passes only flags that
`swarmscope serve` has."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import site
import stat
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from harness import free_port

REPO = Path(__file__).resolve().parent.parent
# RUN steps that only root inside an image can do (create the service user).
ROOT_ONLY = ("useradd",)


@dataclass
class Stage:
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)


def dockerfile_stages(text: str) -> list[Stage]:
    lines = re.sub(r"\\\n\s*", " ", text).splitlines()  # join continued lines
    stages: list[Stage] = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append(Stage())
        stages[-1].instructions.append((instruction.upper(), args.strip()))
    return stages


def exec_form(args: str) -> list[str]:
    assert args.startswith("["), f"keep exec form in the Dockerfile: {args}"
    return json.loads(args)


def copy_context(dest: Path) -> None:
    """The build context as `docker build` sees it: the tree minus .dockerignore."""
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]

    def ignored(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(REPO)
        return {n for n in names for p in patterns
                if fnmatch.fnmatch(str(rel / n), p) or fnmatch.fnmatch(n, p.removeprefix("**/"))}

    shutil.copytree(REPO, dest, ignore=ignored, symlinks=True)


def make_read_only(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode):
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def runtime_python(venv: Path, deps: Path) -> None:
    """The slim image's Python, with the server extra's dependencies already there (no downloads, no
    chDB reinstall): this test's site-packages, except swarmscope itself, seen through a .pth file."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    ours = Path(site.getsitepackages()[0])
    deps.mkdir()
    for entry in ours.iterdir():
        if "swarmscope" not in entry.name and not entry.name.endswith(".pth"):
            (deps / entry.name).symlink_to(entry)
    [venv_site] = (venv / "lib").glob("python*/site-packages")
    (venv_site / "deps.pth").write_text(f"{deps}\n")


def test_dockerfile_builds_from_a_read_only_tree_and_serves(tmp_path):
    context = tmp_path / "context"
    copy_context(context)
    make_read_only(context)
    root = tmp_path / "root"  # the containers' absolute paths live under here
    root.mkdir()
    venv = tmp_path / "image-python"
    runtime_python(venv, tmp_path / "deps")

    def local(text: str) -> str:
        return re.sub(r"(?<![\w./])/(src|wheels|data)\b", lambda m: f"{root}/{m.group(1)}", text)

    build, runtime = dockerfile_stages((REPO / "Dockerfile").read_text())
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env_by_stage = [
        dict(env, PATH=f"{Path(sys.executable).parent}:{env['PATH']}"),
        dict(env, PATH=f"{venv / 'bin'}:{env['PATH']}", PIP_NO_INDEX="1"),
    ]
    cmd = healthcheck = None
    for stage, stage_env in zip((build, runtime), env_by_stage, strict=True):
        workdir = root
        for instruction, args in stage.instructions:
            if instruction == "WORKDIR":
                workdir = Path(local(args))
                workdir.mkdir(parents=True, exist_ok=True)
            elif instruction == "COPY":
                parts = [a for a in shlex.split(args) if not a.startswith("--from")]
                source, target = parts
                dest = workdir / target if not target.startswith("/") else Path(local(target))
                if source == ".":  # the context: copied into the (writable) stage, as docker does
                    shutil.copytree(context, dest, dirs_exist_ok=True)
                    for path in [dest, *dest.rglob("*")]:
                        path.chmod(path.stat().st_mode | stat.S_IWUSR)
                elif Path(local(source)) != dest:
                    shutil.copytree(local(source), dest, dirs_exist_ok=True)
            elif instruction == "RUN" and not args.startswith(ROOT_ONLY):
                done = subprocess.run(["sh", "-c", local(args)], cwd=workdir, env=stage_env,
                                      capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, f"RUN {args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            elif instruction == "CMD":
                cmd = [local(a) for a in exec_form(args)]
            elif instruction == "HEALTHCHECK":
                healthcheck = exec_form(args[args.index("CMD ") + 4:])
    assert cmd and healthcheck and cmd[:2] == ["swarmscope", "serve"]
    assert any(instruction == "USER" and args != "root" for instruction, args in runtime.instructions)
    assert ("VOLUME", "/data") in runtime.instructions

    port, grpc_port = free_port(), free_port()
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen([*cmd, "--port", str(port), "--grpc-port", str(grpc_port)], cwd=root / "data",
                             env=env_by_stage[1], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        healthy = False
        while time.monotonic() < deadline and not healthy:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    healthy = resp.status == 200
            except OSError:
                time.sleep(0.2)
        assert healthy, (tmp_path / "serve.log").read_text()[-3000:]
        probe = [a.replace(":4318/", f":{port}/") for a in healthcheck]
        assert subprocess.run(probe, env=env_by_stage[1], timeout=30).returncode == 0
        # the image's own swarmscope (the wheel), not this checkout
        where = subprocess.run(["python", "-c", "import swarmscope.ui; print(swarmscope.ui.__file__)"],
                               capture_output=True, text=True, check=True, env=env_by_stage[1]).stdout
        assert where.startswith(str(venv)), where
        assert (root / "data" / "store").is_dir() and (root / "data" / "ingest-wal").is_dir()
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        log.close()


def serve_flags() -> set[str]:
    out = subprocess.run([sys.executable, "-m", "swarmscope.ui.cli", "serve", "--help"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", out))


def test_compose_passes_only_flags_serve_has():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    command = compose["services"]["swarmscope"]["command"]
    assert command[:2] == ["swarmscope", "serve"] and compose["services"]["swarmscope"]["build"] == "."
    passed = {arg.split("=", 1)[0] for arg in command if arg.startswith("--")}
    assert passed and passed <= serve_flags(), passed - serve_flags()
    dockerfile_cmd = exec_form(dockerfile_stages((REPO / "Dockerfile").read_text())[-1].instructions[-1][1])
    assert {a for a in dockerfile_cmd if a.startswith("--")} <= serve_flags()

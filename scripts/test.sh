#!/usr/bin/env bash
# The test command, on a fresh machine too: a virtualenv with swarmscope[test], one with
# swarmscope[crewai] for CrewAI's app, a Chromium for the browser tests (the system's, else Playwright's
# download, else the distribution's package when root), then pytest.
# Arguments go to pytest (default: the whole suite). CI runs this same script.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
pip install -q -e ".[test]"

# CrewAI pins older openai/pydantic/mcp than the other frameworks, so its app runs from a venv of its
# own (.venv-crewai); serve and the tests stay in .venv. SWARMSCOPE_CREWAI_PYTHON set beforehand wins.
if [ -z "${SWARMSCOPE_CREWAI_PYTHON:-}" ]; then
  if [ ! -x .venv-crewai/bin/python ]; then
    python3 -m venv .venv-crewai
  fi
  .venv-crewai/bin/python -m pip install -q --upgrade pip
  .venv-crewai/bin/pip install -q -e ".[crewai]"
  export SWARMSCOPE_CREWAI_PYTHON="$PWD/.venv-crewai/bin/python"
fi

find_chromium() {
  if [ -n "${SWARMSCOPE_CHROMIUM:-}" ] && [ -x "$SWARMSCOPE_CHROMIUM" ]; then echo "$SWARMSCOPE_CHROMIUM"; return; fi
  for name in chromium chromium-browser google-chrome-stable google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  done
  python - <<'PY' 2>/dev/null || true
import os
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    path = p.chromium.executable_path
    if os.path.exists(path):
        print(path)
PY
}

chromium="$(find_chromium)"
if [ -z "$chromium" ]; then
  echo "test.sh: no Chromium found; trying Playwright's installer" >&2
  python -m playwright install chromium >&2 || true
  chromium="$(find_chromium)"
fi
if [ -z "$chromium" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test.sh: trying the distribution's chromium package" >&2
  apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2 || true
  chromium="$(find_chromium)"
fi
if [ -z "$chromium" ]; then
  echo "test.sh: no Chromium could be found or installed; the browser tests will fail." >&2
else
  export SWARMSCOPE_CHROMIUM="$chromium"
  echo "test.sh: browser tests use $chromium" >&2
fi

python -m pytest -q "$@"

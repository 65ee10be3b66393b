"""A second run of the demo's healthy pipeline in which one agent differs (the coder reads three times
as many input tokens), for the compare page: the demo's own scenario body, one process, as demo.feed
runs it."""

from __future__ import annotations

import subprocess
import sys

CODER_INPUT_FACTOR = 3
HEALTHY_CODER_INPUT = 1400  # demo_scenarios.healthy: the coder's _llm(c, 1400, 700, steps=2)

_VARIANT = f"""
import sys
from swarmscope.ui import demo, demo_scenarios as sc
plain = sc._llm
def llm(a, input_tokens, output_tokens, steps=1):
    factor = {CODER_INPUT_FACTOR} if a.name == "coder" else 1
    return plain(a, input_tokens * factor, output_tokens, steps)
sc._llm = llm
sys.exit(demo._worker("healthy", sys.argv[1], sys.argv[2]))
"""


def feed_healthy_variant(url: str, run_id: str) -> str:
    subprocess.run([sys.executable, "-c", _VARIANT, url, run_id], check=True, timeout=120,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return run_id

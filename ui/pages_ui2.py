"""Part 2 of the web UI in one include: the routers of the findings, live, tools, agents and compare
pages (each in its own module)."""

from __future__ import annotations

from fastapi import FastAPI

from . import pages_agents, pages_compare, pages_findings, pages_live, pages_tools


def include(app: FastAPI) -> None:
    for module in (pages_findings, pages_live, pages_tools, pages_agents, pages_compare):
        app.include_router(module.router)

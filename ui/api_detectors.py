"""Findings, waits, tools and agents API (filled in by the detectors work)."""

from fastapi import APIRouter

router = APIRouter()

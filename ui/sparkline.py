"""Small server-rendered SVG sparklines: a list of numbers -> the SVG path of a line (or bars) in a
fixed box. Templates draw them with the `spark` macro of _spark.html."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 90, 20


@dataclass
class Spark:
    line: str  # SVG path (polyline) of the values
    area: str  # the same, closed down to the baseline
    last_x: float
    last_y: float
    peak: float
    width: int = WIDTH
    height: int = HEIGHT


def spark(values: list[float], width: int = WIDTH, height: int = HEIGHT) -> Spark | None:
    """None for no values; a flat baseline for all zeros (nothing happened is visible as flat)."""
    if not values:
        return None
    peak = max(values)
    scale = (height - 3) / peak if peak > 0 else 0.0
    step = width / max(len(values) - 1, 1)
    points = [(round(i * step, 1), round(height - 1.5 - v * scale, 1)) for i, v in enumerate(values)]
    line = "M" + " L".join(f"{x},{y}" for x, y in points)
    area = f"{line} L{points[-1][0]},{height} L0,{height} Z"
    return Spark(line, area, points[-1][0], points[-1][1], peak, width, height)

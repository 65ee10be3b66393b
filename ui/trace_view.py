"""Waterfall layout of the trace view: the span tree, which subtrees start collapsed, rows on a time scale.

Reads nothing: the spans come from `swarmscope.schema.queries.spans.outline`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# --- the tree -------------------------------------------------------------------------------------

COLLAPSE_OVER = 60  # a subtree with more spans than this starts collapsed and loads on expand
CHILD_PAGE = 200  # children rendered per expand; a "more" row loads the next ones
ROW_BUDGET = 1500  # rows rendered by the first page; past it, subtrees start collapsed
ROOT_LIMIT = 1000  # top-level spans rendered at most (orphans whose parents never arrived are roots)


@dataclass
class Tree:
    spans: dict[str, dict[str, Any]]
    children: dict[str, list[str]]
    roots: list[str]
    sizes: dict[str, int] = field(default_factory=dict)  # spans in each subtree, the span included
    t0: int = 0
    t1: int = 1


def build_tree(spans: list[dict[str, Any]]) -> Tree:
    """Parent links inside the given spans; a span whose parent is missing is a root (orphans shown)."""
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str, list[str]] = {}
    roots = []
    for s in spans:
        parent = s["parent_span_id"]
        if parent and parent in by_id and parent != s["span_id"]:
            children.setdefault(parent, []).append(s["span_id"])
        else:
            roots.append(s["span_id"])
    tree = Tree(by_id, children, roots)
    _sizes(tree)
    if spans:
        tree.t0 = min(s["start_ns"] for s in spans)
        tree.t1 = max(max(s["end_ns"] for s in spans), tree.t0 + 1)
    return tree


def _sizes(tree: Tree) -> None:
    """Subtree sizes, iteratively (a 10,000-deep chain must not hit the recursion limit). Spans that
    no root reaches (a parent cycle in hostile data) become roots, so nothing sent is hidden."""
    seen: set[str] = set()
    order: list[str] = []

    def walk(start: list[str]) -> None:
        stack = list(start)
        while stack:
            sid = stack.pop()
            if sid in seen:
                continue
            seen.add(sid)
            order.append(sid)
            stack.extend(tree.children.get(sid, ()))

    walk(tree.roots)
    for sid in tree.spans:
        if sid not in seen:
            tree.roots.append(sid)
            walk([sid])
    for sid in reversed(order):
        tree.sizes[sid] = 1 + sum(tree.sizes.get(c, 0) for c in tree.children.get(sid, ()))


@dataclass
class Row:
    span: dict[str, Any]
    depth: int
    x: float  # bar start, 0..1000 of the time range
    w: float  # bar width
    child_count: int
    expanded: bool  # children rendered below (False: collapsed, they load on expand)
    more: int = 0  # a "more children" row: how many are left (span = the parent, x = next offset)


def rows(tree: Tree, start_ids: list[str], depth: int, budget: int = ROW_BUDGET) -> list[Row]:
    """Rows in tree order from `start_ids` (siblings at `depth`); big or over-budget subtrees collapsed."""
    out: list[Row] = []
    span_ns = tree.t1 - tree.t0
    stack: list[tuple[str, int] | tuple[str, int, int]] = []
    _push_children(stack, start_ids, depth, 0)
    seen: set[str] = set()
    while stack:
        item = stack.pop()
        if len(item) == 3:  # a "more" marker: (parent id, depth, next offset)
            parent, d, offset = item
            left = len(tree.children.get(parent, ())) - offset
            out.append(Row(tree.spans[parent], d, offset, 0, left, False, more=left))
            continue
        sid, d = item
        if sid in seen:
            continue
        seen.add(sid)
        s = tree.spans[sid]
        kids = tree.children.get(sid, [])
        expand = bool(kids) and (d == 0 or tree.sizes.get(sid, 1) <= COLLAPSE_OVER) and len(out) < budget
        x = (s["start_ns"] - tree.t0) * 1000 / span_ns
        w = max((s["end_ns"] - s["start_ns"]) * 1000 / span_ns, 0.5)
        out.append(Row(s, d, round(x, 2), round(min(w, 1000 - x), 2), len(kids), expand))
        if expand:
            _push_children(stack, kids, d + 1, 0, parent=sid)
    return out


def _push_children(stack: list, ids: list[str], depth: int, offset: int, parent: str | None = None) -> None:
    page = ids[offset:offset + CHILD_PAGE]
    if parent is not None and offset + CHILD_PAGE < len(ids):
        stack.append((parent, depth, offset + CHILD_PAGE))
    stack.extend((sid, depth) for sid in reversed(page))


def child_rows(tree: Tree, parent_id: str, depth: int, offset: int = 0) -> list[Row]:
    """The rows an expand (or a "more" click) of `parent_id` loads."""
    stack: list = []
    _push_children(stack, tree.children.get(parent_id, []), depth, offset, parent=parent_id)
    out: list[Row] = []
    for item in reversed(stack):
        if len(item) == 3:
            parent, d, nxt = item
            left = len(tree.children.get(parent, ())) - nxt
            out.append(Row(tree.spans[parent], d, nxt, 0, left, False, more=left))
        else:
            out.extend(rows(tree, [item[0]], item[1], budget=ROW_BUDGET // 4))
    return out

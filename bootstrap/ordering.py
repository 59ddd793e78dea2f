"""The order of a plan's steps: one list, the same on every target and every boot.

Each feature names what its steps need before them (``AFTER``: never reversed, a step that asks
for the reverse is a cycle) and where they go by default (``DEFAULT_AFTER``: the commands go after
every other feature, the services after the commands, unless a step states otherwise). A step
may state ``before``/``after``: feature keys (all of that feature's steps, also where one step has
the feature's name; a feature may say ``NAMED_STEPS``, the steps its name means: "before mounts"
is before the mounting, not before the tools are installed) or step ids. The
result keeps the default order wherever the statements allow: among the steps free to go, the
one that comes first by default goes first.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from types import ModuleType

from .errors import Mark, Problem, ProfileError
from .plan import Step
from .schema import suggest


@dataclass(frozen=True)
class Edge:
    """``first`` runs before ``then``, and why (said when the edge closes a cycle)."""

    first: str
    then: str
    why: str
    mark: Mark | None = None  # where a profile stated it; None for the features' own order


def hard_after(features: Sequence[ModuleType]) -> dict[str, set[str]]:
    """Feature key -> every feature whose steps must go before its own (AFTER, transitively,
    through features the profile does not use too)."""
    direct = {f.KEY: set(f.AFTER) - {"*"} for f in features}
    closed: dict[str, set[str]] = {}

    def close(key: str, seen: frozenset[str]) -> set[str]:
        if key not in closed:
            found: set[str] = set()
            for other in direct.get(key, ()):
                if other not in seen:
                    found |= {other} | close(other, seen | {other})
            closed[key] = found
        return closed[key]

    return {key: close(key, frozenset({key})) for key in direct}


def order_steps(steps: list[Step], features: Sequence[ModuleType]) -> list[Step]:
    """``steps`` (in the features' default order) in the order they run; a ProfileError, located at
    the statement, for a name that is no feature or step, and for a cycle."""
    keys = {f.KEY for f in features}
    by_feature: dict[str, list[str]] = {}
    for step in steps:
        by_feature.setdefault(step.feature, []).append(step.id)
    edges: list[Edge] = []
    after = hard_after(features)
    named = _named(steps, features)
    free = {f.KEY for f in features if getattr(f, "FREE_ORDER", False)}
    for step in steps:  # the features' own order
        for other, theirs in by_feature.items():
            if other in after.get(step.feature, ()):
                edges += [Edge(t, step.id, f"{step.feature} runs after {other}") for t in theirs]
    for feature, mine in by_feature.items():
        if feature not in free:
            edges += [Edge(a, b, f"{feature}'s own steps go in order") for a, b in pairwise(mine)]
    defaults = _default_edges(steps, features, by_feature, free)
    stated, problems = _stated_edges(steps, keys, named)
    edges += stated
    if problems:
        raise ProfileError(problems)
    # A statement moves its own step, not its neighbours: the defaults between unstated steps hold
    # first, and one of them that a statement would reverse is refused, not silently dropped.
    moved = {s.id for s in steps if s.before or s.after}
    defaults.sort(key=lambda edge: edge.first in moved or edge.then in moved)
    kept, dragged = _compatible(defaults, edges, [s.id for s in steps], moved)
    ordered = _sorted(steps, edges + kept)  # a cycle among what must hold is said first, as a cycle
    if dragged:
        raise ProfileError(dragged)
    return ordered


SERVICES_HINT = ("; a systemd unit takes its suffix (docker.service); a unit gets a step of its own (service-NAME) "
                 "only when it says before: or after:, the others start together in the services step")


def stated_edges(steps: list[Step], features: Sequence[ModuleType]) -> list[Edge]:
    """The order the profile stated (``before``/``after``), each edge located at its statement."""
    return _stated_edges(steps, {f.KEY for f in features}, _named(steps, features))[0]


def _named(steps: list[Step], features: Sequence[ModuleType]) -> dict[str, list[str]]:
    """Feature key -> the steps its name means in a before:/after: (all of them, unless NAMED_STEPS)."""
    result: dict[str, list[str]] = {}
    only = {f.KEY: set(f.NAMED_STEPS) for f in features if hasattr(f, "NAMED_STEPS")}
    for step in steps:
        if step.feature not in only or step.id in only[step.feature]:
            result.setdefault(step.feature, []).append(step.id)
    return result


def _stated_edges(steps: list[Step], keys: set[str],
                  named: dict[str, list[str]]) -> tuple[list[Edge], list[Problem]]:  # fmt: skip
    ids = {s.id for s in steps}
    edges: list[Edge] = []
    problems: list[Problem] = []
    for step in steps:  # what the profile stated
        for word, names in (("before", step.before), ("after", step.after)):
            for name in names:
                if name in keys:  # a feature's name means all its steps, even where one of them has its name
                    # (its own feature: the others' steps); a feature this profile does not use: nothing to order
                    targets = [t for t in named.get(name, []) if t != step.id]
                elif name in ids:
                    targets = [name]
                else:
                    close = next((f"{prefix}{name}" for prefix in ("cmd-", "service-") if f"{prefix}{name}" in ids),
                                 None) or suggest(name, sorted((ids | keys) - {step.id}))  # never the step itself
                    problems.append(Problem(
                        f"{step.id}: {word} {name!r} names no feature or step of this profile",
                        step.order_marks.get(f"{word} {name}", step.origin),
                        (f"did you mean {close!r}?" if close else "name a feature (mounts, conda...) or a step id "
                         "as `bootstrap explain` lists them") + (SERVICES_HINT if step.feature == "services" else ""),
                    ))  # fmt: skip
                    continue
                why, mark = f"{step.id} is to run {word} {name}", step.order_marks.get(f"{word} {name}", step.origin)
                for target in targets:
                    if target == step.id:
                        problems.append(Problem(f"{step.id} is to run {word} itself", mark))
                    elif word == "before":
                        edges.append(Edge(step.id, target, why, mark))
                    else:
                        edges.append(Edge(target, step.id, why, mark))
    return edges, problems


def _default_edges(steps: list[Step], features: Sequence[ModuleType], by_feature: dict[str, list[str]],
                   free: set[str]) -> list[Edge]:  # fmt: skip
    """Where steps go unless stated otherwise: after the features named in DEFAULT_AFTER, and a free
    feature's steps in their listed order (these last, so a statement moves one step, not its list)."""
    keys = [f.KEY for f in features]
    modules = {f.KEY: f for f in features}
    result: list[Edge] = []
    for step in steps:
        module = modules[step.feature]
        wanted = set(getattr(module, "DEFAULT_AFTER", ())) - {"*"}
        if "*" in getattr(module, "DEFAULT_AFTER", ()):  # every feature the default order puts before it
            wanted |= set(keys[: keys.index(step.feature)])
        for other in sorted(wanted & by_feature.keys() - {step.feature}, key=keys.index):
            result += [Edge(t, step.id, f"{step.feature} runs after {other} by default") for t in by_feature[other]]
    for feature in sorted(free & by_feature.keys(), key=keys.index):
        mine = by_feature[feature]
        result += [Edge(a, b, f"{feature} keep their listed order") for a, b in pairwise(mine)]
    return result


def _compatible(defaults: list[Edge], edges: list[Edge], ids: list[str],
                moved: set[str]) -> tuple[list[Edge], list[Problem]]:  # fmt: skip
    """The default edges that close no cycle with the edges that must hold, taken in turn; and a
    problem for each default between two steps no statement moves that the statements reverse."""
    graph: dict[str, dict[str, None]] = {i: {} for i in ids}  # insertion-ordered: the same path every run
    why: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        graph[edge.first][edge.then] = None
        why.setdefault((edge.first, edge.then), edge)
    kept, dragged = [], []
    for edge in defaults:
        path = _path(graph, edge.then, edge.first)
        if path is None:
            graph[edge.first][edge.then] = None
            why.setdefault((edge.first, edge.then), edge)
            kept.append(edge)
        elif edge.first not in moved and edge.then not in moved:
            chain = [why[pair] for pair in pairwise(path)]
            stated = next((e for e in chain if e.mark is not None), chain[0])
            told = "; ".join(dict.fromkeys(e.why for e in chain))
            dragged.append(Problem(
                f"a stated order moves {edge.first} after {edge.then}, though neither states an order "
                f"({edge.why}): {' -> '.join(path)} ({told})", stated.mark,
                f"state where {edge.first} or {edge.then} goes too (before:/after:), or change this statement",
            ))  # fmt: skip
    return kept, dragged


def _path(graph: dict[str, dict[str, None]], start: str, goal: str) -> list[str] | None:
    """The steps from ``start`` to ``goal`` along the edges, if ``goal`` can be reached."""
    came: dict[str, str] = {}
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        if node == goal:
            path = [goal]
            while path[-1] != start:
                path.append(came[path[-1]])
            return path[::-1]
        for then in graph[node]:
            if then not in seen:
                seen.add(then)
                came[then] = node
                todo.append(then)
    return None


def _sorted(steps: list[Step], edges: list[Edge]) -> list[Step]:
    position = {s.id: n for n, s in enumerate(steps)}
    waiting: dict[str, set[str]] = {s.id: set() for s in steps}
    for edge in edges:
        waiting[edge.then].add(edge.first)
    ready = [position[i] for i, wanted in waiting.items() if not wanted]
    heapq.heapify(ready)
    done: list[Step] = []
    while ready:
        step = steps[heapq.heappop(ready)]
        done.append(step)
        del waiting[step.id]
        for other, wanted in waiting.items():
            if step.id in wanted:
                wanted.discard(step.id)
                if not wanted:
                    heapq.heappush(ready, position[other])
    if waiting:
        raise ProfileError(_cycle(waiting, edges))
    return done


def _cycle(waiting: dict[str, set[str]], edges: list[Edge]) -> Problem:
    """One cycle among the steps left, told edge by edge, located at the first statement in it."""
    start = min(waiting)
    path = [start]
    while True:  # every step left waits on another step left: walking back must close a loop
        previous = min(waiting[path[-1]])
        if previous in path:
            loop = [*path[path.index(previous) :], previous]
            break
        path.append(previous)
    loop.reverse()  # now in running order: each must run before the next
    chain = []
    for first, then in pairwise(loop):
        edge = next(e for e in edges if e.first == first and e.then == then)
        chain.append(edge)
    stated = next((e for e in chain if e.mark is not None), chain[0])
    told = "; ".join(dict.fromkeys(e.why for e in chain))
    return Problem(
        f"the steps cannot be ordered: {' -> '.join(loop)} is a cycle ({told})",
        stated.mark,
        "drop or change one of the before:/after: statements in it (a feature's name stands for all of its "
        "steps: name one step id instead)",
    )

"""The stack as a whole: which components exist and how they are brought up and down."""

from __future__ import annotations

from collections.abc import Sequence

from devstack.component import Component
from devstack.compose import Engine as ComposeEngine
from devstack.kafka import Kafka
from devstack.kube import Kube
from devstack.node import Node
from devstack.postgres import Postgres

ORDER = ("postgres", "kafka", "kube", "node")
"""What ``up``, ``down`` and ``env`` without names mean, in start order."""
OPTIONAL = ("compose",)
"""Started and stopped only when named (``up compose``); built by ``build`` without names."""
FACTORIES: dict[str, type[Component]] = {
    "postgres": Postgres,
    "kafka": Kafka,
    "kube": Kube,
    "node": Node,
    "compose": ComposeEngine,
}


def component(name: str) -> Component:
    """A component by name."""
    try:
        return FACTORIES[name]()
    except KeyError:
        raise SystemExit(
            f"unknown component {name!r}; choose from {', '.join(ORDER + OPTIONAL)}"
        ) from None


def select(names: Sequence[str]) -> list[Component]:
    """The named components in start order (all of them when ``names`` is empty)."""
    wanted = list(names) or list(ORDER)
    return [component(name) for name in ORDER if name in wanted] + [
        component(name) for name in wanted if name not in ORDER
    ]


def with_requirements(names: Sequence[str]) -> list[Component]:
    """``select(names)`` plus every component those require, in start order."""
    wanted = set(names) or set(ORDER)
    pending = list(wanted)
    while pending:
        for required in FACTORIES[pending.pop()].requires:
            if required not in wanted:
                wanted.add(required)
                pending.append(required)
    return select(sorted(wanted, key=(ORDER + OPTIONAL).index))

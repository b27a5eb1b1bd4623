"""The stack as a whole: which components exist and how they are brought up and down."""

from __future__ import annotations

from collections.abc import Sequence

from devstack.component import Component
from devstack.kafka import Kafka
from devstack.kube import Kube
from devstack.postgres import Postgres

ORDER = ("postgres", "kafka", "kube")


def component(name: str) -> Component:
    """A component by name."""
    factories: dict[str, type[Component]] = {"postgres": Postgres, "kafka": Kafka, "kube": Kube}
    try:
        return factories[name]()
    except KeyError:
        raise SystemExit(f"unknown component {name!r}; choose from {', '.join(ORDER)}") from None


def select(names: Sequence[str]) -> list[Component]:
    """The named components in start order (all of them when ``names`` is empty)."""
    wanted = list(names) or list(ORDER)
    return [component(name) for name in ORDER if name in wanted] + [
        component(name) for name in wanted if name not in ORDER
    ]

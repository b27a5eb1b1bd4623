"""Template ids: Drain3 behind two caches.

Drain (He et al., 2017) groups messages whose tokens mostly agree and writes their template
with ``<*>`` where they differ. It costs tens of microseconds per message, so it runs only on a
cache miss. Two caches, both bounded LRU, answer first:

1. the *shape* cache, keyed by the message's UTF-8 bytes without their digits (one C-level
   ``bytes.translate``): most lines of a template differ only in numbers, so most stop here;
2. the *masked* cache, keyed by the fully masked message (:mod:`logsentinel.parsing.masking`).
   Shapes whose masked text holds random ids (``<UUID>``, ``<HEX>``, ``<ID>``: see
   ``masking.HIGH_CARDINALITY_MASKS``) are not put in the shape cache, where they would only
   crowd out shapes that repeat.

Both caches map to the Drain cluster, not to a text: when Drain later generalises a cluster's
template, every cached message of that cluster follows.

A template's id is a 64-bit BLAKE2b hash of its text (16 hex digits), so every processor
gives the same id to the same template text. Memory is bounded: Drain keeps at most
``max_templates`` clusters (least recently used go first) and each cache holds at most
``cache_size`` keys. Not thread-safe: one miner per consumer thread.
"""

from __future__ import annotations

from collections import OrderedDict
from hashlib import blake2b
from typing import Any, NamedTuple

from drain3 import TemplateMiner as DrainTemplateMiner  # type: ignore[import-untyped]
from drain3.template_miner_config import TemplateMinerConfig  # type: ignore[import-untyped]

from logsentinel.parsing.masking import mask

MAX_SOURCE_LENGTH = 1024
"""Only the start of a long message is templated."""
DRAIN_SIMILARITY = 0.6
"""Share of tokens that must agree to join a cluster. drain3's default 0.4 over-merges once
numbers and ids are masked ("order created" and "order deleted" would share a template);
"user alice logged in" and "user bob logged in" (3 of 4) still merge."""
DRAIN_DEPTH = 4
"""drain3's default: messages are routed by token count and first token, so messages with
different first tokens never merge (the access log template starts with the status class)
while variable words later on do not split templates."""
DRAIN_MAX_CHILDREN = 100
_DIGITS = b"0123456789"


class Template(NamedTuple):
    """A mined template: a stable id and its text (masks and ``<*>`` for variable parts)."""

    id: str
    text: str


def template_id(text: str) -> str:
    """The id every processor gives to this template text."""
    return blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


class TemplateMiner:
    """Assigns a :class:`Template` to each message; bounded in memory."""

    def __init__(self, max_templates: int = 10_000, cache_size: int | None = None) -> None:
        if max_templates < 1:
            raise ValueError("max_templates must be at least 1")
        config = TemplateMinerConfig()
        config.drain_sim_th = DRAIN_SIMILARITY
        config.drain_depth = DRAIN_DEPTH
        config.drain_max_children = DRAIN_MAX_CHILDREN
        config.drain_max_clusters = max_templates
        config.masking_instructions = []  # masked before Drain sees the text
        config.parametrize_numeric_tokens = True
        config.profiling_enabled = False
        self._drain = DrainTemplateMiner(persistence_handler=None, config=config)
        self.max_templates = max_templates
        self.cache_size = cache_size if cache_size is not None else 4 * max_templates
        self._cluster_of_shape: OrderedDict[bytes, int] = OrderedDict()
        self._cluster_of: OrderedDict[str, int] = OrderedDict()
        self._templates: dict[int, Template] = {}
        self._text_of_id: dict[str, str] = {}
        self._prune_above = 2 * max(self.cache_size, max_templates)
        self.hits = 0
        self.misses = 0

    def match(self, message: str) -> Template:
        """The template of ``message``, mining it with Drain when the caches do not know it."""
        source = message[:MAX_SOURCE_LENGTH]
        shape = source.encode("utf-8", "surrogatepass").translate(None, _DIGITS)
        cluster_id = self._cluster_of_shape.get(shape)
        if cluster_id is not None:
            template = self._templates.get(cluster_id)
            if template is not None:
                self._cluster_of_shape.move_to_end(shape)
                self.hits += 1
                return template
        masked = mask(source)
        cluster_id = self._cluster_of.get(masked)
        template = self._templates.get(cluster_id) if cluster_id is not None else None
        if cluster_id is not None and template is not None:
            self._cluster_of.move_to_end(masked)
            self.hits += 1
        else:
            cluster_id, template = self._mine(masked)
        if "<UUID>" not in masked and "<HEX>" not in masked and "<ID>" not in masked:
            self._remember(self._cluster_of_shape, shape, cluster_id)
        return template

    def text_of(self, template_id: str) -> str | None:
        """The text of a template this miner produced (None once it has been forgotten)."""
        return self._text_of_id.get(template_id)

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def __len__(self) -> int:
        """Templates currently known."""
        return len(self._templates)

    def _remember(
        self, cache: OrderedDict[str, int] | OrderedDict[bytes, int], key: Any, cluster_id: int
    ) -> None:
        cache[key] = cluster_id
        if len(cache) > self.cache_size:
            cache.popitem(last=False)

    def _mine(self, masked: str) -> tuple[int, Template]:
        self.misses += 1
        result = self._drain.add_log_message(masked)
        cluster_id: int = result["cluster_id"]
        text: str = result["template_mined"]
        template = self._templates.get(cluster_id)
        if template is None or template.text != text:
            template = Template(template_id(text), text)
            self._templates[cluster_id] = template
            self._text_of_id[template.id] = text
        self._remember(self._cluster_of, masked, cluster_id)
        if len(self._templates) > self._prune_above:
            self._prune()
        return cluster_id, template

    def _prune(self) -> None:
        """Forget templates that neither Drain nor the cache refers to any more."""
        alive = set(self._cluster_of.values())
        alive.update(self._cluster_of_shape.values())
        alive.update(self._drain.drain.id_to_cluster.keys())
        self._templates = {key: value for key, value in self._templates.items() if key in alive}
        self._text_of_id = {template.id: template.text for template in self._templates.values()}
        self._prune_above = max(self._prune_above, 2 * len(self._templates))

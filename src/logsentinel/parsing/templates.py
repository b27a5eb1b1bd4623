"""Template ids: Drain behind two caches, with ids that stay fixed when templates generalise.

Drain (He et al., 2017) groups messages whose tokens mostly agree and writes their template
with ``<*>`` where they differ. It costs tens of microseconds per message, so it runs only on a
cache miss. Two caches, both bounded LRU, answer first:

1. the *shape* cache, keyed by the message's UTF-8 bytes without their digits (one C-level
   ``bytes.translate``): most lines of a template differ only in numbers, so most stop here;
2. the *masked* cache, keyed by the fully masked message (:mod:`logsentinel.parsing.masking`).
   Shapes holding random letters (a masked hex id, UUID or pod name: ``masking.mask_marked``
   says so) are not put in the shape cache, where they would only crowd out shapes that repeat.

Both caches map to the Drain cluster, not to a text: when Drain later generalises a cluster's
template, every cached message of that cluster follows.

Ids. A cluster's id is fixed when Drain creates it and kept when its template generalises
(``login ok for alice`` -> ``login ok for <*>`` keeps the id the first line got). The id of
a new cluster comes from a registry of texts: a text already registered gets that text's id,
any other text a 64-bit BLAKE2b hash of itself (16 hex digits). So two processors, or a restarted
one, that create a cluster from the same text agree on its id. Every text a cluster has had is
registered (an *alias* of its id). When a cluster generalises to a text another id already
holds, the cluster keeps its id and the miner records a *merge*: the two ids are one event.

What was learnt since the last :meth:`TemplateMiner.learnt` (new ids and their changed texts,
aliases, merges) is handed to the caller to persist, and :meth:`TemplateMiner.seed` rebuilds
clusters with their stored ids from persisted templates before the first message.

Memory is bounded: Drain keeps at most ``max_templates`` clusters (least recently used go
first), each cache and the registry hold at most ``cache_size`` keys, the merges at most
``max_templates``, and what waits for :meth:`TemplateMiner.learnt` at most ``cache_size``
entries of each kind (the oldest are dropped when nobody collects them). Not thread-safe: one
miner per consumer thread.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any, NamedTuple

from drain3.drain import Drain, LogCluster  # type: ignore[import-untyped]

from logsentinel.parsing.masking import mask_marked

MAX_SOURCE_LENGTH = 1024
"""Only the start of a long message is templated."""
DRAIN_SIMILARITY = 0.7
"""Share of a template's fixed tokens that a message must have to join it. drain3's default 0.4
over-merges once numbers and ids are masked ("order created" and "order deleted" would share a
template); "login ok for alice" and "login ok for bob" (3 of 4) still merge. Chosen with
``bench/bench_templates.py`` (real logs): 0.6 merges more distinct events, 0.75 splits
variable words."""
DRAIN_DEPTH = 5
"""Messages are routed by token count and their first three tokens (drain3 uses depth - 2),
so messages that differ there never merge (``GET`` and ``POST`` lines of an access log), except
that tokens holding digits or masks are routed as variables; variable words later on do not
split templates. The bench measured depth 4 (two routing tokens) merging distinct events."""
DRAIN_MAX_CHILDREN = 100
_DIGITS = b"0123456789"
_MAX_MERGE_CHAIN = 16


class _Drain(Drain):  # type: ignore[misc]
    """Drain that routes tokens holding a mask as it routes tokens holding digits: to the
    ``<*>`` child of the prefix tree. Masking took the digits out of ``blk_<NUM>``, but it is
    as variable a token as ``blk_42`` was (drain3 calls this as ``self.has_numbers``)."""

    @staticmethod
    def has_numbers(token: str) -> bool:
        return "<" in token or any(char.isdigit() for char in token)


class Template(NamedTuple):
    """A mined template: a stable id and its current text (masks and ``<*>`` for variable
    parts)."""

    id: str
    text: str


@dataclass
class Learnt:
    """What a miner learnt since it was last asked: to be persisted with the records using it.

    templates: id -> current text, for ids created or whose text changed. aliases: text -> id,
    texts newly registered. merges: id -> the id that already held the text it generalised to.
    """

    templates: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    merges: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.templates or self.aliases or self.merges)


def template_id(text: str) -> str:
    """The id a new cluster gets for this text when no registered text gives it one."""
    return blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


class TemplateMiner:
    """Assigns a :class:`Template` to each message; bounded in memory."""

    def __init__(self, max_templates: int = 10_000, cache_size: int | None = None) -> None:
        if max_templates < 1:
            raise ValueError("max_templates must be at least 1")
        self._drain = _Drain(
            depth=DRAIN_DEPTH,
            sim_th=DRAIN_SIMILARITY,
            max_children=DRAIN_MAX_CHILDREN,
            max_clusters=max_templates,
            parametrize_numeric_tokens=True,
        )
        self.max_templates = max_templates
        self.cache_size = cache_size if cache_size is not None else 4 * max_templates
        self._cluster_of_shape: OrderedDict[bytes, int] = OrderedDict()
        self._cluster_of: OrderedDict[str, int] = OrderedDict()
        self._templates: dict[int, Template] = {}
        self._text_of_id: dict[str, str] = {}
        self._registry: OrderedDict[str, str] = OrderedDict()  # text -> id
        self._merged_into: OrderedDict[str, str] = OrderedDict()
        self._learnt = Learnt()
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
        masked, random = mask_marked(source)
        cluster_id = self._cluster_of.get(masked)
        template = self._templates.get(cluster_id) if cluster_id is not None else None
        if cluster_id is not None and template is not None:
            self._cluster_of.move_to_end(masked)
            self.hits += 1
        else:
            cluster_id, template = self._mine(masked)
        if not random:
            self._remember(self._cluster_of_shape, shape, cluster_id)
        return template

    def text_of(self, template_id: str) -> str | None:
        """The current text of a template this miner produced or was seeded with (None once
        it has been forgotten)."""
        return self._text_of_id.get(template_id)

    def event_of(self, template_id: str) -> str:
        """The id this one was merged into (following merges), else the id itself."""
        for _ in range(_MAX_MERGE_CHAIN):
            target = self._merged_into.get(template_id)
            if target is None:
                break
            template_id = target
        return template_id

    def learnt(self) -> Learnt:
        """What was learnt since the last call (and forget it here: the caller persists it)."""
        learnt, self._learnt = self._learnt, Learnt()
        return learnt

    def seed(
        self,
        templates: Iterable[tuple[str, str]],
        aliases: Iterable[tuple[str, str]] = (),
        merges: Iterable[tuple[str, str]] = (),
    ) -> int:
        """Rebuild clusters from persisted templates before matching; returns clusters made.

        templates: (id, current text), least recently seen first (the last ones are kept when
        there are more than max_templates). aliases: (text, id). merges: (id, merged into id).
        The texts become Drain clusters as they are, ``<*>`` included: Drain's tree search
        routes a token it has no child for to the ``<*>`` child, and similarity counts the
        template's other tokens, so a new line of a seeded event joins the seeded cluster and
        gets the stored id. Nothing seeded is reported by :meth:`learnt`.
        """
        made = 0
        for text, known_id in aliases:
            self._register(text, known_id)
        clustered: set[str] = set()
        for known_id, text in templates:
            self._text_of_id[known_id] = text
            if text in clustered:
                continue  # merged ids with one text: the first one's cluster stands for it
            clustered.add(text)
            if text not in self._registry:
                self._register(text, known_id)
            tokens = self._drain.get_content_as_tokens(text)
            self._drain.clusters_counter += 1
            cluster = LogCluster(tokens, self._drain.clusters_counter)
            self._drain.id_to_cluster[cluster.cluster_id] = cluster
            self._drain.add_seq_to_prefix_tree(self._drain.root_node, cluster)
            self._templates[cluster.cluster_id] = Template(known_id, cluster.get_template())
            made += 1
        for known_id, target in merges:
            self._merge(known_id, target, report=False)
        self._prune_if_due()
        return made

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
        cluster, _ = self._drain.add_log_message(masked)
        cluster_id: int = cluster.cluster_id
        text: str = cluster.get_template()
        template = self._templates.get(cluster_id)
        if template is None:
            known_id = self._registry.get(text)
            if known_id is None:
                known_id = template_id(text)
                self._register(text, known_id, report=True)
            template = self._learn(cluster_id, known_id, text)
        elif template.text != text:
            known_id = self._registry.get(text)
            if known_id is None:
                self._register(text, template.id, report=True)
            elif known_id != template.id:
                self._merge(template.id, known_id, report=True)
            template = self._learn(cluster_id, template.id, text)
        self._remember(self._cluster_of, masked, cluster_id)
        self._prune_if_due()
        return cluster_id, template

    def _learn(self, cluster_id: int, known_id: str, text: str) -> Template:
        template = Template(known_id, text)
        self._templates[cluster_id] = template
        self._text_of_id[known_id] = text
        self._pending(self._learnt.templates, known_id, text)
        return template

    def _register(self, text: str, known_id: str, report: bool = False) -> None:
        self._registry[text] = known_id
        self._registry.move_to_end(text)
        if len(self._registry) > self.cache_size:
            self._registry.popitem(last=False)
        if report:
            self._pending(self._learnt.aliases, text, known_id)

    def _merge(self, source: str, target: str, report: bool) -> None:
        if source == target or self.event_of(target) == source:
            return  # already one event, or the reverse merge is known: no cycle
        self._merged_into[source] = target
        if len(self._merged_into) > self.max_templates:
            self._merged_into.popitem(last=False)
        if report:
            self._pending(self._learnt.merges, source, target)

    def _pending(self, learnt: dict[str, str], key: str, value: str) -> None:
        learnt.pop(key, None)  # re-inserted last: the oldest go first when nobody collects
        learnt[key] = value
        if len(learnt) > self.cache_size:
            del learnt[next(iter(learnt))]

    def _prune_if_due(self) -> None:
        if len(self._templates) > self._prune_above:
            self._prune()

    def _prune(self) -> None:
        """Forget templates that neither Drain nor the caches refer to any more."""
        alive = set(self._cluster_of.values())
        alive.update(self._cluster_of_shape.values())
        alive.update(self._drain.id_to_cluster.keys())
        self._templates = {key: value for key, value in self._templates.items() if key in alive}
        self._text_of_id = {template.id: template.text for template in self._templates.values()}
        self._prune_above = max(self._prune_above, 2 * len(self._templates))

"""Build a Processor from settings and run it until SIGTERM/SIGINT (then it exits within
settings.shutdown_grace, see processors/shutdown.py). The template miner is seeded from the
templates stored in PostgreSQL, so ids stay the same across restarts and rebalances."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable

import psycopg
import structlog
import yaml
from prometheus_client import start_http_server

from logsentinel import logs
from logsentinel.backoff import Backoff
from logsentinel.detection.engine import RuleEngine
from logsentinel.domain.pipeline import CustomParser
from logsentinel.parsing import RecordDecoder
from logsentinel.parsing.custom import load_parsers
from logsentinel.parsing.templates import TemplateMiner
from logsentinel.processors import kafka
from logsentinel.processors.deadletters import DeadLetterTopic
from logsentinel.processors.detection import DetectionStage
from logsentinel.processors.incident_writer import IncidentWriter
from logsentinel.processors.loop import Processor
from logsentinel.processors.rules import DirectoryRules, KubernetesRules, RuleSet, RuleSource
from logsentinel.processors.settings import ProcessorSettings
from logsentinel.processors.shutdown import GracePeriod
from logsentinel.storage import templates as template_store
from logsentinel.storage.urls import libpq_url, redacted

log = structlog.get_logger("logsentinel.processors")


def custom_parsers(settings: ProcessorSettings) -> list[CustomParser]:
    """The LogPipeline's custom parsers, from the YAML file the operator mounts; an entry the
    domain refuses is logged and skipped (see parsing.custom.load_parsers)."""
    if settings.custom_parsers_file is None:
        return []
    parsers, problems = load_parsers(yaml.safe_load(settings.custom_parsers_file.read_text()))
    for problem in problems:
        log.error(
            "custom parser refused; its lines get the built-in formats",
            file=str(settings.custom_parsers_file),
            problem=problem,
        )
    return parsers


def seeded_miner(settings: ProcessorSettings) -> TemplateMiner:
    """A template miner that knows the most recently seen stored templates under their stored
    ids; a cold one (with a warning) when the database cannot tell: processing must not wait."""
    miner = TemplateMiner()
    try:
        with psycopg.connect(libpq_url(settings.database_url), connect_timeout=5) as connection:
            stored = template_store.load_recent(connection, miner.max_templates)
    except psycopg.Error as error:
        log.warning("stored templates unavailable; template ids start cold", error=str(error))
        return miner
    made = miner.seed(stored.templates, stored.aliases, stored.merges)
    log.info("template miner seeded", templates=made, aliases=len(stored.aliases))
    return miner


def rule_source(settings: ProcessorSettings) -> RuleSource | None:
    if settings.kubernetes:
        from logsentinel.kube.client import api_client
        from logsentinel.kube.rules import RuleSnapshot, RuleWatcher

        api = api_client(settings.kubeconfig)

        def watcher(deliver: Callable[[RuleSet], None]) -> RuleWatcher:
            def changed(snapshot: RuleSnapshot) -> None:
                refused = {
                    key: problems if isinstance(problems, str) else "; ".join(map(str, problems))
                    for key, problems in snapshot.invalid.items()
                }
                deliver(RuleSet(list(snapshot.valid.values()), refused))

            return RuleWatcher(api, settings.rules_namespace, changed)

        return KubernetesRules(watcher)
    if settings.rules_directory is not None:
        return DirectoryRules(settings.rules_directory)
    return None


def detection_stage(
    settings: ProcessorSettings, decoder: RecordDecoder, rules: RuleSource
) -> DetectionStage:
    cluster, owners = None, None
    if settings.kubernetes:
        from logsentinel.kube.client import api_client
        from logsentinel.kube.incident_objects import IncidentPublisher
        from logsentinel.kube.owners import OwnerResolver

        api = api_client(settings.kubeconfig)
        cluster, owners = IncidentPublisher(api), OwnerResolver(api)
    database_url = libpq_url(settings.database_url)
    return DetectionStage(
        rules=rules,
        engine=RuleEngine(
            template_text=decoder.miner.text_of, central_namespace=settings.central_namespace
        ),
        writer=IncidentWriter(
            database_url, cluster=cluster, owners=owners, compose_targets=settings.compose_targets
        ),
        database_url=database_url,
    )


def build(settings: ProcessorSettings, rules: RuleSource | None = None) -> Processor:
    """A processor from settings; rules overrides the configured rule source (tests, benches)."""
    decoder = RecordDecoder(
        custom_parsers=custom_parsers(settings),
        max_record_bytes=settings.max_record_bytes,
        event_time=settings.event_time,
        miner=seeded_miner(settings),
    )
    source = rules if rules is not None else rule_source(settings)
    stages = [detection_stage(settings, decoder, source)] if source is not None else []
    return Processor(
        consumer=kafka.consumer(
            settings.kafka_bootstrap,
            settings.kafka_group,
            {"client.id": settings.consumer_id, **settings.kafka_security},
        ),
        dead_letters=DeadLetterTopic(
            settings.dead_letter_topic,
            kafka.producer_config(settings.kafka_bootstrap, settings.kafka_security),
        ),
        database_url=settings.database_url,
        topic=settings.kafka_topic,
        group=settings.kafka_group,
        decoder=decoder,
        batch_size=settings.batch_size,
        batch_wait=settings.batch_wait,
        retention=settings.retention,
        backoff=Backoff(settings.backoff_initial, settings.backoff_max),
        stages=stages,
        consumer_id=settings.consumer_id,
        heartbeat_interval=settings.heartbeat_interval,
        shutdown_grace=settings.shutdown_grace,
    )


def migrate_until_done(settings: ProcessorSettings) -> None:
    """Run `logsentinel migrate` in a child process, retrying while the database is away.

    A child process keeps Alembic and SQLAlchemy (about 40 MB) out of the processor's memory.
    """
    backoff = Backoff(settings.backoff_initial, settings.backoff_max)
    command = [sys.executable, "-m", "logsentinel.cli", "migrate"]
    environment = {**os.environ, "LOGSENTINEL_DATABASE_URL": settings.database_url}
    while True:
        log.info("migrating", database=redacted(settings.database_url))
        done = subprocess.run(command, env=environment, capture_output=True, text=True)
        if done.returncode == 0:
            return
        delay = backoff.next()
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        log.warning("migration failed; retrying", error=reason, retry_in_s=delay)
        time.sleep(delay)  # backoff between attempts, not synchronisation


def run(settings: ProcessorSettings) -> None:
    logs.configure(settings.log_level)
    if settings.migrate_on_start:
        migrate_until_done(settings)
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
        log.info("metrics", port=settings.metrics_port, path="/metrics")
    processor = build(settings)
    GracePeriod(settings.shutdown_grace, processor.stop).install()
    tune_garbage_collector()
    processor.run()


GC_THRESHOLDS = (50_000, 20, 20)


def tune_garbage_collector() -> None:
    """Collect cycles less often than Python's default (every 700 allocations), and never scan
    what start-up built (imports, rules, seeded templates): a processor allocates a few dozen
    objects per record and keeps little, and the default cost it about 6 us per record, 47 full
    collections per 400k records with the default rule pack (docs/benchmarks.md)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)

"""Counting the lines a pipeline's agents dropped: reading the counter from each agent's
Prometheus exposition, and adding only what grew since the last reading of the same process."""

from __future__ import annotations

from logsentinel.domain.pipeline import AgentDropCounter, AgentType
from logsentinel.operator.pipeline.agent_drops import AgentPod, count_drops, dropped_in
from logsentinel.operator.pipeline.collector import AGENT_METRICS

# As otelcol-logsentinel 0.165.1 serves it (no _total suffix), trimmed.
OTELCOL = """\
# HELP otelcol_exporter_enqueue_failed_log_records Number of log records failed to be added to the sending queue. [Alpha]
# TYPE otelcol_exporter_enqueue_failed_log_records counter
otelcol_exporter_enqueue_failed_log_records{exporter="kafka"} 26901
# HELP otelcol_receiver_accepted_log_records Number of log records successfully pushed into the pipeline. [Alpha]
# TYPE otelcol_receiver_accepted_log_records counter
otelcol_receiver_accepted_log_records{receiver="file_log",transport=""} 13099
# HELP otelcol_exporter_send_failed_log_records Number of log records in failed attempts to send to destination. [Alpha]
# TYPE otelcol_exporter_send_failed_log_records counter
otelcol_exporter_send_failed_log_records{exporter="kafka"} 4
# HELP otelcol_receiver_refused_log_records Number of log records that could not be pushed into the pipeline. [Alpha]
# TYPE otelcol_receiver_refused_log_records counter
otelcol_receiver_refused_log_records{receiver="file_log",transport=""} 26901
"""
# Fluent Bit's /api/v2/metrics/prometheus form: counters with _total, one sample per output.
FLUENT_BIT = """\
# HELP fluentbit_output_dropped_records_total Number of dropped records.
# TYPE fluentbit_output_dropped_records_total counter
fluentbit_output_dropped_records_total{name="kafka.0"} 120
fluentbit_output_dropped_records_total{name="kafka.1"} 3
# HELP fluentbit_input_records_total Number of input records.
# TYPE fluentbit_input_records_total counter
fluentbit_input_records_total{name="tail.0"} 5000
"""


def pod(name: str = "agent-a", uid: str = "u1", restarts: int = 0) -> AgentPod:
    return AgentPod(name=name, uid=uid, node="node-1", ip="10.0.0.7", restarts=restarts)


def counter(dropped: int, uid: str = "u1", restarts: int = 0) -> AgentDropCounter:
    return AgentDropCounter(pod="agent-a", uid=uid, restarts=restarts, dropped=dropped)


def test_each_agents_counter_is_read_from_its_exposition() -> None:
    otel = AGENT_METRICS[AgentType.OTEL_COLLECTOR]
    fluent_bit = AGENT_METRICS[AgentType.FLUENT_BIT]
    assert dropped_in(OTELCOL, otel.dropped_records) == 26901 + 4
    assert dropped_in(FLUENT_BIT, fluent_bit.dropped_records) == 123
    assert dropped_in("# nothing dropped yet\n", otel.dropped_records) == 0


def test_a_pod_seen_first_counts_its_whole_counter() -> None:
    count = count_drops([], [(pod(), 40)])
    assert count.new == {"agent-a": 40}
    assert count.counters == [counter(40)]


def test_only_growth_since_the_last_reading_of_the_same_process_counts() -> None:
    assert count_drops([counter(40)], [(pod(), 40)]).total == 0
    assert count_drops([counter(40)], [(pod(), 55)]).new == {"agent-a": 15}


def test_a_restarted_container_starts_its_counter_again() -> None:
    restarted = count_drops([counter(40)], [(pod(restarts=1), 7)])
    assert restarted.new == {"agent-a": 7}
    assert restarted.counters == [counter(7, restarts=1)]
    # A counter that went down without a recorded restart started again too.
    assert count_drops([counter(40)], [(pod(), 5)]).new == {"agent-a": 5}


def test_an_unreadable_pod_keeps_its_last_reading_and_a_gone_pod_is_forgotten() -> None:
    kept = count_drops([counter(40)], [(pod(), None)])
    assert (kept.total, kept.counters) == (0, [counter(40)])
    replaced = count_drops([counter(40)], [(pod(name="agent-b", uid="u2"), 0)])
    assert [c.uid for c in replaced.counters] == ["u2"]
    assert replaced.total == 0


def test_a_pod_is_read_only_once_running_with_an_address() -> None:
    wire = {
        "metadata": {"name": "agent-a", "uid": "u1"},
        "spec": {"nodeName": "node-1"},
        "status": {
            "phase": "Running",
            "podIP": "fd00::7",
            "containerStatuses": [{"restartCount": 2}],
        },
    }
    running = AgentPod.of(wire)
    assert running is not None
    assert running.restarts == 2
    assert running.url(AGENT_METRICS[AgentType.OTEL_COLLECTOR]) == "http://[fd00::7]:8888/metrics"
    assert AgentPod.of({**wire, "status": {"phase": "Pending"}}) is None

#!/usr/bin/env bash
# `kafka-server-start.sh server.properties`: the broker in the foreground, logging to stdout.
set -euo pipefail
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j.configuration=file:/opt/kafka/config/log4j.properties}
exec kafka-run-class.sh kafka.Kafka "$@"

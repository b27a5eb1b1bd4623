#!/usr/bin/env bash
# Run a Kafka class on the image's classpath: `kafka-run-class.sh CLASS ARGS...`. Like Kafka's own
# script it honours KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_OPTS and KAFKA_LOG4J_OPTS.
set -euo pipefail
heap=${KAFKA_HEAP_OPTS:--Xmx256M}
performance=${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}
logging=${KAFKA_LOG4J_OPTS:--Dlog4j.configuration=file:/opt/kafka/config/tools-log4j.properties}
# shellcheck disable=SC2086 # the option variables hold several options each
exec java $heap $performance $logging ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' "$@"

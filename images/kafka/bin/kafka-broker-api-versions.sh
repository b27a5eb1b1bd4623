#!/usr/bin/env bash
# `kafka-broker-api-versions.sh --bootstrap-server HOST:PORT`: the API versions each broker
# answers with (a readiness probe: only a broker that serves requests answers).
exec kafka-run-class.sh kafka.admin.BrokerApiVersionsCommand "$@"

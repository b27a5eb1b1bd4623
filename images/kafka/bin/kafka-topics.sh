#!/usr/bin/env bash
# `kafka-topics.sh --bootstrap-server HOST:PORT --create|--list|--describe ...`
exec kafka-run-class.sh org.apache.kafka.tools.TopicCommand "$@"

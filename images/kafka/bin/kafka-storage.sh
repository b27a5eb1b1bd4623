#!/usr/bin/env bash
# `kafka-storage.sh format|info|random-uuid ...`: KRaft storage of the log directories.
exec kafka-run-class.sh kafka.tools.StorageTool "$@"

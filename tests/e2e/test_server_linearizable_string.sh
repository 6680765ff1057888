#!/usr/bin/env bash
# test_server_linearizable_string.sh - the string commands (GET, SET, INCRBY,
# APPEND, GETSET, DEL) under the same nemesis as test_server_linearizable.sh
# (kill -9, pauses, cut links); the checker's string model judges the history.
#   tests/e2e/test_server_linearizable_string.sh BUILD [SECONDS] [SEED]
WORKLOAD=string exec bash "$(dirname "$0")/test_server_linearizable.sh" "$@"

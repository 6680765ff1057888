#!/usr/bin/env bash
# test_server_linearizable_expiry.sh - keys with deadlines (SET PXAT, GET,
# PTTL, PERSIST, DEL) under the same nemesis as test_server_linearizable.sh
# (kill -9, pauses, cut links); the checker's expiry model judges the
# history, each deadline against the leader's stamped clock (one machine).
#   tests/e2e/test_server_linearizable_expiry.sh BUILD [SECONDS] [SEED]
WORKLOAD=expiry exec bash "$(dirname "$0")/test_server_linearizable.sh" "$@"

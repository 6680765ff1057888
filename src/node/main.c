/* main.c - the raftkv binary: `raftkv [options]` runs a Maelstrom node on
 * stdin/stdout; `raftkv serve ...` runs the TCP/Redis server (src/server). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/version.h"
#include "node/node.h"
#include "node/node_log.h"
#include "node/node_loop.h"
#include "server/backup.h"
#include "server/server.h"


/* The server lives in src/server; this weak declaration leaves server_main
 * NULL in a build without it, and `serve` then says so. */
#pragma weak server_main
#pragma weak certs_main
#pragma weak backup_main
#pragma weak restore_main

static void usage(FILE *f)
{
    fprintf(f,
            "usage: raftkv [options]          a Maelstrom lin-kv node on stdin/stdout\n"
            "       raftkv serve [options]    the TCP/Redis-protocol server (see raftkv serve "
            "--help)\n"
            "       raftkv certs [options]    make a cluster's CA and certificates (see raftkv "
            "certs --help)\n"
            "       raftkv backup --from HOST:PORT FILE   a linearizable backup of a running cluster\n"
            "       raftkv restore FILE --data-dir DIR --id NAME --peers ... --cluster-token T\n"
            "                                 a member of a new cluster from a backup\n"
            "       raftkv --version | --help\n"
            "\n"
            "Maelstrom node options:\n"
            "  --log-level LEVEL          error|warn|info|debug|trace (default info; trace adds\n"
            "                             the Raft core's decision lines). Logs go to stderr.\n"
            "  --seed N                   seed of the election-timeout randomness (default:\n"
            "                             from the clock and pid; logged at start)\n"
            "  --election-timeout-ms MS   base election timeout, drawn from [MS, 2*MS)\n"
            "  --heartbeat-ms MS          leader heartbeat interval\n"
            "  --request-timeout-ms MS    how long a forwarded request waits for the leader\n"
            "                             before the client gets 13 (write) or 11 (read);\n"
            "                             default 1000\n"
            "  --max-requests N           requests in flight before new ones get error 11\n"
            "                             (default 65536)\n"
            "  --snapshot-entries N       snapshot the map and compact the log every N applied\n"
            "                             entries (default 10000), bounding memory and disk\n"
            "  --data-dir DIR             keep term, vote, log and snapshots durably in DIR\n"
            "                             (fsync before any message that depends on them);\n"
            "                             without it the node keeps its state in memory only.\n"
            "                             \"{node}\" in DIR is replaced by the node's name, so\n"
            "                             one command line serves a whole cluster\n"
            "  --unsafe-local-reads       DELIBERATE BUG for testing checkers: serve reads from\n"
            "                             local state on any node, with no proof of leadership;\n"
            "                             stale reads under partitions. Never use for real.\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "serve") == 0) {
        if (!server_main) {
            fprintf(stderr, "raftkv: this build has no server (src/server)\n");
            return 64;
        }
        return server_main(argc - 1, argv + 1);
    }
    if (argc > 1 && strcmp(argv[1], "certs") == 0) {
        if (!certs_main) {
            fprintf(stderr, "raftkv: this build has no server (src/server)\n");
            return 64;
        }
        return certs_main(argc - 1, argv + 1);
    }
    if (argc > 1 && (strcmp(argv[1], "backup") == 0 || strcmp(argv[1], "restore") == 0)) {
        int (*fn)(int, char **) = argv[1][0] == 'b' ? backup_main : restore_main;
        if (!fn) {
            fprintf(stderr, "raftkv: this build has no server (src/server)\n");
            return 64;
        }
        return fn(argc - 1, argv + 1);
    }
    struct node_options o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t num = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("raftkv %s\n", RAFTKV_VERSION);
            return 0;
        } else if (strcmp(a, "--unsafe-local-reads") == 0) {
            o.unsafe_local_reads = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "raftkv: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 64;
        }
        i++;
        if (strcmp(a, "--log-level") == 0) {
            int lvl = node_log_parse_level(v);
            if (lvl < 0) {
                fprintf(stderr, "raftkv: --log-level must be error|warn|info|debug|trace\n");
                return 64;
            }
            node_log_level = (enum node_log_level)lvl;
            continue;
        } else if (strcmp(a, "--data-dir") == 0) {
            o.data_dir = v;
            continue;
        }
        if (parse_u64(v, &num) != 0) {
            fprintf(stderr, "raftkv: %s needs a non-negative integer, got '%s'\n", a, v);
            return 64;
        }
        if (strcmp(a, "--seed") == 0)
            o.seed = num;
        else if (strcmp(a, "--election-timeout-ms") == 0 && num > 0)
            o.election_timeout_ms = num;
        else if (strcmp(a, "--heartbeat-ms") == 0 && num > 0)
            o.heartbeat_ms = num;
        else if (strcmp(a, "--request-timeout-ms") == 0 && num > 0)
            o.request_timeout_ms = num;
        else if (strcmp(a, "--max-requests") == 0 && num > 0)
            o.max_requests = num;
        else if (strcmp(a, "--snapshot-entries") == 0 && num > 0)
            o.snapshot_entries = num;
        else {
            fprintf(stderr, "raftkv: unknown option or bad value: %s %s\n", a, v);
            usage(stderr);
            return 64;
        }
    }
    /* A closed stdout must be an error we see (EPIPE), not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    struct node *n = node_new(&o);
    if (!n) {
        fprintf(stderr, "raftkv: out of memory\n");
        return 1;
    }
    int rc = node_loop_run(n);
    node_free(n);
    return rc;
}

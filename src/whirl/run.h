/* run.h - one `whirl test` run: the state every part of the runtime shares
 * (event loop, nodes, network, clients, nemesis, history) and the order of
 * its phases.
 *
 * Phases: spawn nodes -> init handshake -> workload and nemesis until the
 * time limit -> heal, let outstanding requests finish or time out -> quiet
 * period -> final reads of every key (with --final-reads or the kill
 * nemesis) -> close the nodes' stdin, then kill stragglers -> check -> write
 * the store. Everything happens on one libuv loop in one thread, so no part
 * needs locks; all times are nanoseconds since the run started.
 */
#ifndef RAFTKV_WHIRL_RUN_H
#define RAFTKV_WHIRL_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "common/rng.h"
#include "whirl/buf.h"
#include "whirl/history.h"
#include "whirl/opts.h"
#include "whirl/timers.h"

#define WHIRL_READ_CHUNK (64 * 1024)
/* A node line longer than this is junk: whirl never buffers unbounded input. */
#define WHIRL_MAX_LINE (16u * 1024 * 1024)

struct whirl_run;

/* One node slot n<i>: its process and pipes. Designed for restarts (the kill
 * nemesis): a slot outlives the processes run in it. */
struct whirl_node {
    struct whirl_run *run;
    int index;
    char id[16];
    uv_process_t proc;
    uv_pipe_t in, out, err;
    int open_handles;         /* handles not yet closed */
    bool running;             /* process spawned and not yet exited */
    bool stdin_open;
    bool init_ok;
    bool expected_exit;       /* whirl closed or killed it on purpose */
    bool crashed;             /* exited while whirl expected it to run */
    int64_t exit_status;
    int term_signal;
    int log_fd;               /* node-logs/<id>.log */
    char **args;              /* argv for the process, {data} substituted */
    char data_dir[4200];      /* <run>/data/<id>: survives restarts */
    uint64_t restarts;
    uint64_t restart_inits_missed; /* restarts not answered with init_ok in time */
    struct whirl_buf carry;   /* partial stdout line */
    bool discarding;          /* skipping the rest of an overlong line */
    struct whirl_buf errcarry;/* partial stderr line (--log-stderr) */
    struct whirl_buf outq;    /* bytes queued for stdin */
    struct whirl_buf inflight;/* bytes handed to uv_write */
    bool writing, dirty;
    uv_write_t wreq;
    uint64_t lines_out;       /* stdout lines read */
    uint64_t junk_lines;      /* stdout lines that were not valid messages */
    char first_junk[160];     /* the first one, and why */
    char read_buf[WHIRL_READ_CHUNK];
};

/* A message on its way: payload is the exact line (no newline). */
struct whirl_flight {
    int src_node;             /* -1 from a client */
    int dest_node;            /* -1 to a client */
    int64_t dest_client;      /* the client number N of "cN" */
    size_t log_index;         /* in the message log, or SIZE_MAX */
    size_t len;
    char data[];
};

struct whirl_msg_record {
    uint64_t send_ns, recv_ns;
    bool delivered, dropped;
    char *line;
    size_t len;
};

struct whirl_net_stats {
    uint64_t server_msgs;     /* node -> node, sent */
    uint64_t client_msgs;     /* client -> node and node -> client, sent */
    uint64_t dropped;         /* lost to partitions or dead nodes */
    uint64_t stale_replies;   /* replies to requests already timed out */
    uint64_t bad_dest;        /* messages to unknown ids */
};

struct whirl_client;
struct whirl_key_group;

/* A change of the cluster's health (a fault starting or ending) and how long
 * each node on the majority side took to answer again: the first ok of a
 * request sent to it after the change. Clusters above 64 nodes skip this. */
struct whirl_transition {
    uint64_t at_ns;
    uint64_t side_mask;       /* nodes expected to serve (bit i = node i); 0 = none */
    uint64_t asked_mask;      /* of those, nodes sent a request since the change */
    uint64_t ok_mask;         /* of those, nodes that answered one ok */
    uint64_t worst_ns;        /* the slowest first ok */
    char what[48];
};

struct whirl_run {
    struct whirl_opts *opts;
    uint64_t seed;
    int run_number;           /* 1-based within --test-count */
    char dir[4096];           /* the run folder */
    FILE *log;                /* whirl.log */
    uv_loop_t *loop;
    uv_timer_t timer;         /* drives timers */
    uint64_t timer_armed_ns;  /* deadline it is armed for, or UINT64_MAX */
    uv_prepare_t prepare;     /* flushes stdin batches, re-arms the timer */
    uv_timer_t progress;      /* live progress line */
    uv_signal_t sigint, sigterm; /* stop cleanly: kill the nodes, keep the history */
    bool progress_tty;
    uint64_t start_hr;        /* uv_hrtime() at start */
    uint64_t test_start_ns;   /* when init was done and the workload began */
    struct whirl_timers timers;

    struct rng rng_net, rng_nemesis, rng_workload, rng_rate;

    int n_nodes;
    struct whirl_node *nodes;
    int *dirty;               /* node indexes with queued stdin bytes */
    int n_dirty;

    bool *blocked;            /* [src * n + dest]: partitioned link */
    char net_state[96];       /* "healed" or the partition's shape */
    struct whirl_net_stats net;
    struct whirl_msg_record *msgs;
    size_t n_msgs;

    /* workload */
    struct whirl_client *clients;
    int n_clients;
    struct whirl_key_group *groups;
    int n_groups;
    int64_t next_key;
    uint64_t next_msg_id;
    uint64_t next_rate_ns;    /* earliest time of the next request */
    bool rate_timer_set;
    bool workload_open;       /* issuing new requests */
    uint64_t timeout_ns;
    uint64_t requests, ok, fail, info; /* completed client operations */
    uint64_t bad_replies;     /* client replies that break the protocol */
    int *idle;                /* ring of threads waiting for a request slot */
    int idle_head, idle_n;

    /* final reads: one successful read of every key after the faults end */
    bool final_open;
    uint64_t final_deadline_ns;
    int64_t *final_queue;     /* ring of keys still to read */
    int64_t final_head, final_n, n_final_keys;
    char **final_values;      /* per key: the value read (JSON), NULL if never read */
    int64_t final_done;

    /* nemesis */
    bool nemesis_open;
    bool partitioned;
    uint64_t nemesis_gen;
    int fault;                /* the fault in force: enum whirl_fault */
    struct whirl_transition *transitions;
    size_t n_transitions, cap_transitions;
    bool *fault_targets;      /* nodes killed or paused by it */

    struct whirl_history history;

    /* phase control */
    int phase;                /* enum whirl_phase */
    bool aborted;
    bool interrupted;         /* by SIGINT/SIGTERM: no further runs either */
    char abort_reason[512];
    int inits_pending;
    uint64_t n_crashed;
};

enum whirl_phase {
    WHIRL_PHASE_INIT, WHIRL_PHASE_TEST, WHIRL_PHASE_DRAIN, WHIRL_PHASE_QUIET, WHIRL_PHASE_FINAL, WHIRL_PHASE_STOP
};

/* Nanoseconds since the run started. */
uint64_t whirl_now(const struct whirl_run *run);
/* Schedules fn at run time at_ns. Returns 0 or -1. */
int whirl_at(struct whirl_run *run, uint64_t at_ns, whirl_timer_fn *fn, void *p, uint64_t arg);
/* Prints a console line (stdout) and appends it to whirl.log. */
void whirl_say(struct whirl_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Stops the run early with a reason (init failure, out of memory). */
void whirl_abort(struct whirl_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs one test; fills the run's history and stats. Returns 0, or -1 when the
 * test could not run (abort_reason says why). */
int whirl_run_test(struct whirl_run *run);
void whirl_run_free(struct whirl_run *run);

#endif

/* node_log.h - the node's log on stderr, by level. stdout belongs to the
 * protocol; nothing else is ever written there. */
#ifndef RAFTKV_NODE_LOG_H
#define RAFTKV_NODE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum node_log_level { NODE_LOG_ERROR, NODE_LOG_WARN, NODE_LOG_INFO, NODE_LOG_DEBUG, NODE_LOG_TRACE };

extern enum node_log_level node_log_level;

/* Parse "error|warn|info|debug|trace"; -1 if unknown. */
int node_log_parse_level(const char *name);
void node_log_set_name(const char *name);

#define node_log_enabled(lvl) ((lvl) <= node_log_level)
#define node_log(lvl, ...)                                                                         \
    do {                                                                                           \
        if (node_log_enabled(lvl))                                                                 \
            node_log_write((lvl), __VA_ARGS__);                                                    \
    } while (0)

void node_log_write(enum node_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A rate limit for one kind of line: at most one a second. Returns true
 * when a line may go out now, with *suppressed = the lines held back since
 * the last one (to say so in it); false counts one more held back. */
struct node_log_limit {
    uint64_t next_ms;
    uint64_t suppressed;
};
bool node_log_limit_pass(struct node_log_limit *l, uint64_t now_ms, uint64_t *suppressed);

#endif

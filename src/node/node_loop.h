/* node_loop.h - run a node on stdin/stdout until stdin closes. */
#ifndef RAFTKV_NODE_LOOP_H
#define RAFTKV_NODE_LOOP_H

#include <stdbool.h>
#include <uv.h>

#include "node/node.h"

/* Returns the process exit code: 0 after EOF, nonzero after a fatal error. */
int node_loop_run(struct node *node);

/* The same loop in steps (tests drive it with uv_run): the node reads lines
 * from in_fd and writes to out_fd on `loop`, whose data pointer it takes.
 * NULL when out of memory. Stopped at once (with exit code 1) when in_fd
 * cannot be read. */
struct node_loop *node_loop_open(struct node *node, uv_loop_t *loop, int in_fd, int out_fd);
/* EOF or a fatal error ended it (uv_stop was called). */
bool node_loop_stopped(const struct node_loop *l);
/* Close every handle on the loop, run it until they are closed, free;
 * returns the exit code. The caller closes the loop. */
int node_loop_close(struct node_loop *l);

#endif

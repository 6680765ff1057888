/* node_loop.h - run a node on stdin/stdout until stdin closes. */
#ifndef RAFTKV_NODE_LOOP_H
#define RAFTKV_NODE_LOOP_H

#include "node/node.h"

/* Returns the process exit code: 0 after EOF, nonzero after a fatal error. */
int node_loop_run(struct node *node);

#endif

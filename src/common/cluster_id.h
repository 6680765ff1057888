/* cluster_id.h - the 128-bit id a cluster is given once, when it is first
 * bootstrapped (drawn by the server, agreed through the Raft log, kept in
 * the state machine and each member's identity record), and its text form:
 * 32 lowercase hex digits. All zero means "not known yet". */
#ifndef RAFTKV_CLUSTER_ID_H
#define RAFTKV_CLUSTER_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLUSTER_ID_BYTES 16
#define CLUSTER_ID_HEX_LEN 32

bool cluster_id_is_zero(const uint8_t id[CLUSTER_ID_BYTES]);
/* 32 lowercase hex digits and a NUL into buf (at least 33 bytes). */
void cluster_id_hex(const uint8_t id[CLUSTER_ID_BYTES], char *buf);
/* Exactly 32 hex digits (either case), not all zero: 0; else -1 and id
 * unchanged. */
int cluster_id_parse(const char *hex, size_t len, uint8_t id[CLUSTER_ID_BYTES]);

#endif

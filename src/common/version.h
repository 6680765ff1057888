/* version.h - the project's version and the Redis version whose command
 * semantics the Redis front end follows: one place each, for `raftkv
 * --version`, INFO's raftkv_version and redis_version, HELLO and COMMAND
 * DOCS. A build may override RAFTKV_VERSION with -DRAFTKV_VERSION=... */
#ifndef RAFTKV_COMMON_VERSION_H
#define RAFTKV_COMMON_VERSION_H

#ifndef RAFTKV_VERSION
#define RAFTKV_VERSION "0.1.0"
#endif

/* Replies, error texts and INFO fields are those of this Redis release. */
#define RAFTKV_REDIS_VERSION "7.0.15"

#endif

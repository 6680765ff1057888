/* server.h - `raftkv serve`: raftkv as a TCP cluster member with a Redis-protocol
 * client port. The only entry point other folders use.
 *
 * src/node/main.c calls server_main(argc - 1, argv + 1) when argv[1] is
 * "serve", so here argv[0] is "serve" and options follow. `raftkv serve
 * --help` lists them; the README documents the commands and their errors.
 */
#ifndef RAFTKV_SERVER_H
#define RAFTKV_SERVER_H

/* Run a server until SIGTERM/SIGINT (graceful: exit 0) or a fatal error
 * (exit 1; bad usage: 64). */
int server_main(int argc, char **argv);

/* `raftkv certs`: make a cluster CA and member/client certificates
 * (certs_cmd.c). argv[0] is "certs". 0, 1 on failure, 64 on bad usage. */
int certs_main(int argc, char **argv);

#endif

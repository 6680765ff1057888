/* check_cmd.h - `whirl check`: linearizability verdicts for recorded
 * histories (whirl's history.jsonl, Maelstrom/Jepsen history.edn, Jepsen
 * log lines).
 */
#ifndef RAFTKV_WHIRL_CHECK_CMD_H
#define RAFTKV_WHIRL_CHECK_CMD_H

/* Exit codes, first match wins: 1 any file invalid, 3 a file could not be
 * read or parsed, 2 any unknown, 0 all valid; 64 bad usage. argv[0] is
 * "check". */
#define WHIRL_CHECK_EXIT_UNREADABLE 3
#define WHIRL_CHECK_EXIT_USAGE 64

int whirl_check_main(int argc, char **argv);

#endif

/* test_cmd.h - `whirl test`: the workbench's main command. */
#ifndef RAFTKV_WHIRL_TEST_CMD_H
#define RAFTKV_WHIRL_TEST_CMD_H

/* argv[0] is "test". Returns the process exit code: 0 valid, 1 invalid,
 * 2 unknown, 3 the test could not run, 64 bad usage. */
int whirl_test_main(int argc, char **argv);

#endif

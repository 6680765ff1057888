/* main.c - the whirl command: dispatches to test, check, serve and report. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "whirl/check_cmd.h"
#include "whirl/opts.h"
#include "whirl/report/report.h"
#include "whirl/test_cmd.h"

#define WHIRL_VERSION "0.1.0"

int main(int argc, char **argv)
{
    /* A node that dies with unread input must not take whirl with it. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        whirl_usage(stderr);
        return WHIRL_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        whirl_usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("whirl %s (lin-kv workbench of raftkv)\n", WHIRL_VERSION);
        return 0;
    }
    if (strcmp(cmd, "test") == 0) {
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--") == 0)
                break;
            if (strcmp(argv[i], "--help") == 0) {
                whirl_usage(stdout);
                return 0;
            }
        }
        return whirl_test_main(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "check") == 0)
        return whirl_check_main(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return whirl_serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0)
        return whirl_report_main(argc - 1, argv + 1);
    fprintf(stderr, "whirl: unknown command '%s'\n\n", cmd);
    whirl_usage(stderr);
    return WHIRL_EXIT_USAGE;
}

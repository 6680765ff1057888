/* server_auth.c - client authentication at start-up: the users of
 * --aclfile, the default user's password from --requirepass-file, and a
 * log line saying who may connect. */
#include <stdio.h>

#include "server/server_internal.h"

int server_auth_setup(struct server *s)
{
    const struct server_options *o = &s->opt;
    char err[PATH_MAX + 256];
    if (acl_init(&s->acl) != 0) {
        fprintf(stderr, "raftkv serve: out of memory\n");
        return -1;
    }
    if (o->aclfile[0] && acl_load_file(&s->acl, o->aclfile, err, sizeof err) != 0) {
        fprintf(stderr, "raftkv serve: %s\n", err);
        return -1;
    }
    if (o->requirepass_file[0] && acl_load_requirepass(&s->acl, o->requirepass_file, err, sizeof err) != 0) {
        fprintf(stderr, "raftkv serve: %s\n", err);
        return -1;
    }
    bool open = acl_default_open(&s->acl);
    server_log(open ? SLOG_WARN : SLOG_INFO, "client_auth",
               "users=%zu default_user=%s protected_mode=%s%s", s->acl.n_users,
               open ? "open" : acl_default_user(&s->acl)->on ? "password" : "off",
               o->protected_mode && open ? "yes" : "no",
               open ? (o->protected_mode ? " detail=\"no password: only loopback clients are served\""
                                         : " detail=\"no password and protected mode off: anyone who can reach "
                                           "the port may read and write\"")
                    : "");
    return 0;
}

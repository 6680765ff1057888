/* certs_cmd.c - `raftkv certs`: the command line that makes a cluster's CA
 * and the certificates of its members and clients (src/net/certs.h), so a
 * cluster starts with authenticated peers without any manual openssl work. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/certs.h"
#include "server/server.h"

#define CERTS_MAX_NAMES 64

static void certs_usage(FILE *f)
{
    fprintf(f,
            "usage: raftkv certs --dir DIR --members n1,n2,n3 [--clients c1,...] [options]\n"
            "\n"
            "Makes DIR/ca.crt and DIR/ca.key (the cluster's CA) if they are not there, then\n"
            "DIR/NAME.crt and DIR/NAME.key for each member and client named, signed by it.\n"
            "Existing files are never replaced, so running it again with a new name adds a\n"
            "member's certificate to the same CA. Keys are written mode 0600. Give every\n"
            "member ca.crt and its own NAME.crt and NAME.key (raftkv serve --certs-dir).\n"
            "\n"
            "  --dir DIR            where the files go (made, mode 0700, if missing)\n"
            "  --members LIST       member names, comma-separated (each certificate names\n"
            "                       its member; peers check the name)\n"
            "  --clients LIST       client certificate names, for the TLS client port\n"
            "  --hosts LIST         addresses and DNS names clients reach members by, added\n"
            "                       to every member certificate (default 127.0.0.1,::1,localhost)\n"
            "  --days N             validity (default 825)\n"
            "  --cluster NAME       a name for the CA (default raftkv)\n");
}

/* Split a comma-separated list in place; -1 when empty or too long. */
static int split(char *list, const char **out, size_t *n)
{
    *n = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == CERTS_MAX_NAMES)
            return -1;
        out[(*n)++] = t;
    }
    return *n ? 0 : -1;
}

static int exists(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s.crt", dir, name);
    return access(p, F_OK) == 0;
}

int certs_main(int argc, char **argv)
{
    const char *dir = NULL, *cluster = "raftkv";
    char *members = NULL, *clients = NULL, *hosts = NULL;
    int days = 825;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            certs_usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "raftkv certs: %s needs a value (or unknown option)\n", a);
            return 64;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--dir"))
            dir = v;
        else if (!strcmp(a, "--members"))
            members = strdup(v);
        else if (!strcmp(a, "--clients"))
            clients = strdup(v);
        else if (!strcmp(a, "--hosts"))
            hosts = strdup(v);
        else if (!strcmp(a, "--cluster"))
            cluster = v;
        else if (!strcmp(a, "--days")) {
            char *end;
            long d = strtol(v, &end, 10);
            if (*end || d < 1 || d > 36500) {
                fprintf(stderr, "raftkv certs: --days wants 1..36500, not %s\n", v);
                return 64;
            }
            days = (int)d;
        } else {
            fprintf(stderr, "raftkv certs: unknown option %s\n", a);
            certs_usage(stderr);
            return 64;
        }
    }
    const char *m[CERTS_MAX_NAMES], *c[CERTS_MAX_NAMES], *h[CERTS_MAX_NAMES];
    size_t nm = 0, nc = 0, nh = 0;
    char default_hosts[] = "127.0.0.1,::1,localhost";
    int rc = 64;
    if (!dir || (!members && !clients) || (members && split(members, m, &nm) != 0)) {
        fprintf(stderr, "raftkv certs: --dir and --members or --clients (at most %d names each) are required\n",
                CERTS_MAX_NAMES);
        goto out;
    }
    if ((clients && split(clients, c, &nc) != 0) ||
        split(hosts ? hosts : default_hosts, h, &nh) != 0) {
        fprintf(stderr, "raftkv certs: empty or too long --clients or --hosts\n");
        goto out;
    }
    rc = 1;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "raftkv certs: cannot make %s: %s\n", dir, strerror(errno));
        goto out;
    }
    char err[512];
    if (!exists(dir, "ca")) {
        if (certs_make_ca(dir, cluster, days, err, sizeof err) != 0) {
            fprintf(stderr, "raftkv certs: %s\n", err);
            goto out;
        }
        printf("made %s/ca.crt and %s/ca.key (keep ca.key off the members if you can)\n", dir, dir);
    }
    for (size_t i = 0; i < nm + nc; i++) {
        const char *name = i < nm ? m[i] : c[i - nm];
        if (exists(dir, name)) {
            printf("kept %s/%s.crt (exists)\n", dir, name);
            continue;
        }
        if (certs_make_leaf(dir, name, i < nm ? CERTS_MEMBER : CERTS_CLIENT, i < nm ? h : NULL, i < nm ? nh : 0, days, err, sizeof err) != 0) {
            fprintf(stderr, "raftkv certs: %s\n", err);
            goto out;
        }
        printf("made %s/%s.crt and %s/%s.key (%s)\n", dir, name, dir, name, i < nm ? "member" : "client");
    }
    rc = 0;
out:
    free(members);
    free(clients);
    free(hosts);
    return rc;
}

/* backup_cmd.c - `raftkv backup`: the client side of RAFTKV.BACKUP
 * (cmd_backup.c). It asks a member for a linearizable image of the whole
 * cluster's state (the leader takes it; a follower's "not leader" sends
 * the tool to its next --from address), reads the image in chunks, a few
 * requests in flight, writing each to FILE.tmp and checking it as it
 * comes (every block's CRC, every record, the trailer and the file's CRC:
 * the same loader a member uses), then fsyncs it, renames it to FILE and
 * fsyncs the directory. Memory stays a few chunks whatever the image's
 * size. A failure leaves no FILE.tmp and FILE as it was.
 *
 * --timeout-ms bounds waits without progress, not the whole backup: a
 * large image (10M keys, 1.5 GB) takes minutes to write before START
 * answers, so while it waits the tool watches the image grow (RAFTKV.BACKUP
 * STATUS on a second connection) and gives up only when neither the answer
 * nor a byte came for that long; each reply of the transfer likewise.
 * Past PROGRESS_AFTER_MS it reports on stderr every PROGRESS_EVERY_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kv/kv.h"
#include "storage/sio.h"
#include "server/backup.h"
#include "server/backup_progress.h"
#include "server/resp_conn.h"
#include "storage/snap_reader.h"

#define MAX_FROM 16
#define BACKUP_MAX_CHUNK (4u << 20)
#define BACKUP_WINDOW 4
#define PROGRESS_AFTER_MS 2000
#define PROGRESS_EVERY_MS 2000

static void usage(FILE *f)
{
    fprintf(f,
            "usage: raftkv backup --from HOST:PORT[,HOST:PORT...] [options] FILE\n"
            "\n"
            "Writes a linearizable snapshot of the whole cluster's state to FILE: it holds\n"
            "every write acknowledged before the command started. The leader takes it;\n"
            "give the members' client addresses (any order: a follower's 'not leader' moves\n"
            "on to the next). FILE is in raftkv's snapshot format (CRC'd blocks, a whole-file\n"
            "CRC), checked as it arrives, fsync'ed, and renamed into place from FILE.tmp.\n"
            "Restore it into a new cluster with raftkv restore.\n"
            "\n"
            "  --from LIST          members' client addresses (repeatable)\n"
            "  --tls                TLS to the client port (the member's --tls-port)\n"
            "  --cacert FILE        the CA that signed the members' certificates (with --tls)\n"
            "  --cert FILE, --key FILE   a client certificate and its key\n"
            "  --sni NAME           the name the member's certificate must carry (default:\n"
            "                       the host of the address)\n"
            "  --user NAME          AUTH as this user (needs RAFTKV.BACKUP: an admin)\n"
            "  --pass-file FILE     the password, FILE's first line; or REDISCLI_AUTH\n"
            "  --pass PASSWORD      the password on the command line (visible in ps: warned)\n"
            "  --chunk-bytes N      bytes per READ (default 1048576, at most 4194304); %d\n"
            "                       READs are in flight at a time\n"
            "  --timeout-ms MS      give up after MS without progress (default 120000): no\n"
            "                       answer byte and, while the leader writes the image, no\n"
            "                       growth of it; not a bound on the whole backup. A backup\n"
            "                       that runs past 2 s reports bytes and rate on stderr\n",
            BACKUP_WINDOW);
}

static char *read_pass_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "raftkv backup: --pass-file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char line[1024];
    char *p = fgets(line, sizeof line, f);
    fclose(f);
    if (!p) {
        fprintf(stderr, "raftkv backup: --pass-file %s is empty\n", path);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) {
        fprintf(stderr, "raftkv backup: --pass-file %s is empty\n", path);
        return NULL;
    }
    return strdup(line);
}

struct image {
    uint64_t id, bytes, index, term;
};

static bool field(const struct resp_reply *r, const char *name)
{
    return r->type == RESP_R_BULK && r->len == strlen(name) && memcmp(r->str, name, r->len) == 0;
}

/* START's answer: [id, I, bytes, N, index, I, term, T]. 0; 1 the member
 * is no leader, 2 another refusal (err has the member's words); -1 the
 * connection failed or the answer is malformed. */
static int read_start(struct resp_conn *c, struct image *im, char *err, size_t errlen)
{
    struct resp_reply r;
    if (resp_conn_read(c, &r, err, errlen) != 0)
        return -1;
    if (r.type == RESP_R_ERROR) {
        snprintf(err, errlen, "%.*s", (int)(r.len > 400 ? 400 : r.len), r.str);
        return r.len >= 14 && memcmp(r.str, "ERR not leader", 14) == 0 ? 1 : 2;
    }
    if (r.type != RESP_R_ARRAY || r.integer != 8) {
        snprintf(err, errlen, "unexpected answer to RAFTKV.BACKUP START");
        return -1;
    }
    uint64_t *dst[4] = {&im->id, &im->bytes, &im->index, &im->term};
    const char *names[4] = {"id", "bytes", "index", "term"};
    for (int i = 0; i < 4; i++) {
        struct resp_reply v;
        if (resp_conn_read(c, &r, err, errlen) != 0)
            return -1;
        bool ok = field(&r, names[i]);
        if (resp_conn_read(c, &v, err, errlen) != 0)
            return -1;
        if (!ok || v.type != RESP_R_INT || v.integer < 0) {
            snprintf(err, errlen, "unexpected answer to RAFTKV.BACKUP START (field %d)", i);
            return -1;
        }
        *dst[i] = (uint64_t)v.integer;
    }
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The member's images not yet ready (RAFTKV.BACKUP STATUS) into p: 0,
 * or -1 (an older member, or the connection failed). */
static int probe_images(struct resp_conn *c, struct backup_progress *p, char *err, size_t errlen)
{
    const char *cmd[2] = {"RAFTKV.BACKUP", "STATUS"};
    struct resp_reply r;
    if (resp_conn_send(c, 2, cmd, err, errlen) != 0 || resp_conn_read(c, &r, err, errlen) != 0)
        return -1;
    if (r.type != RESP_R_ARRAY || r.integer < 0)
        return -1;
    int64_t n = r.integer;
    for (int64_t i = 0; i < n; i++) {
        if (resp_conn_read(c, &r, err, errlen) != 0 || r.type != RESP_R_ARRAY || r.integer != 6)
            return -1;
        bool growing = false;
        int64_t id = 0, bytes = 0;
        for (int k = 0; k < 6; k++) {
            if (resp_conn_read(c, &r, err, errlen) != 0)
                return -1;
            if (k == 1 && r.type == RESP_R_INT)
                id = r.integer;
            if (k == 3)
                growing = r.type == RESP_R_BULK && r.len != 5; /* not "ready" */
            if (k == 5 && r.type == RESP_R_INT)
                bytes = r.integer;
        }
        if (growing)
            backup_progress_add(p, (uint64_t)id, bytes > 0 ? (uint64_t)bytes : 0);
    }
    return 0;
}

/* Wait for START's answer. It fails only after timeout_ms with neither
 * the answer nor growth of the image being written; from
 * PROGRESS_AFTER_MS on, a second connection asks STATUS and stderr shows
 * the growth. Then read_start's result. */
static int wait_start(struct resp_conn *c, const char *from, const char *host, int port,
                      const struct resp_conn_options *co, struct image *im, char *err, size_t errlen)
{
    uint64_t timeout = co->timeout_ms ? co->timeout_ms : 60000;
    int tick = (int)(timeout / 4 < 10 ? 10 : timeout / 4 > 500 ? 500 : timeout / 4);
    uint64_t probe_after = timeout / 2 < PROGRESS_AFTER_MS ? timeout / 2 : PROGRESS_AFTER_MS;
    uint64_t t0 = now_ms(), progress_ms = t0, printed_ms = t0;
    struct backup_progress seen = {0}, printed = {0}; /* the last probe's; the last printed */
    bool probed = false;
    struct resp_conn *probe = NULL;
    bool no_probe = false;
    for (;;) {
        int w = resp_conn_wait(c, tick);
        if (w != 0)
            break; /* an answer (or an error, which the read reports) */
        uint64_t now = now_ms();
        if (now - t0 >= probe_after && !no_probe) {
            char perr[300];
            struct backup_progress cur = {0};
            if (!probe)
                probe = resp_conn_open(host, port, co, perr, sizeof perr);
            if (!probe || probe_images(probe, &cur, perr, sizeof perr) != 0) {
                /* an older member: the timeout is then the whole wait */
                no_probe = true;
                resp_conn_close(probe);
                probe = NULL;
            } else if (!probed || backup_progress_grew(&seen, &cur)) {
                progress_ms = now; /* the first answer, or an image grew */
            }
            if (!no_probe) {
                probed = true;
                seen = cur;
            }
            if (!no_probe && now - t0 >= PROGRESS_AFTER_MS && now - printed_ms >= PROGRESS_EVERY_MS) {
                char line[512];
                backup_progress_line(&printed, &cur, now - printed_ms, line, sizeof line);
                if (line[0])
                    fprintf(stderr, "raftkv backup: %s: %s\n", from, line);
                printed_ms = now;
                printed = cur;
            }
        }
        if (now - progress_ms >= timeout) {
            char sizes[300];
            backup_progress_sizes(&seen, sizes, sizeof sizes);
            snprintf(err, errlen, "no answer to RAFTKV.BACKUP START and no progress for %" PRIu64 " ms (%s%s; "
                     "--timeout-ms)", timeout, no_probe ? "its progress cannot be seen: " : "",
                     no_probe ? "an older member" : sizes);
            resp_conn_close(probe);
            return -1;
        }
    }
    resp_conn_close(probe);
    return read_start(c, im, err, errlen);
}

static int send_read(struct resp_conn *c, uint64_t id, uint64_t off, uint64_t len, char *err,
                     size_t errlen)
{
    char a[24], b[24], d[24];
    snprintf(a, sizeof a, "%" PRIu64, id);
    snprintf(b, sizeof b, "%" PRIu64, off);
    snprintf(d, sizeof d, "%" PRIu64, len);
    const char *argv[5] = {"RAFTKV.BACKUP", "READ", a, b, d};
    return resp_conn_send(c, 5, argv, err, errlen);
}


/* Read the image into fd, checking it. 0, or -1 with err. */
static int transfer(struct resp_conn *c, const char *from, const struct image *im, uint64_t chunk, int fd,
                    uint64_t *records, char *err, size_t errlen)
{
    uint64_t t0 = now_ms(), printed_ms = t0, printed_got = 0;
    struct kv_loader *l = kv_loader_new(false);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint64_t sent = 0, got = 0;
    int inflight = 0, rc = -1;
    uint8_t head[SNAP_HEADER_FIXED + SNAP_MAX_META_BYTES];
    size_t head_len = 0;
    while (got < im->bytes) {
        while (inflight < BACKUP_WINDOW && sent < im->bytes) {
            uint64_t n = im->bytes - sent < chunk ? im->bytes - sent : chunk;
            if (send_read(c, im->id, sent, n, err, errlen) != 0)
                goto out;
            sent += n;
            inflight++;
        }
        struct resp_reply r;
        if (resp_conn_read(c, &r, err, errlen) != 0)
            goto out;
        inflight--;
        uint64_t want = im->bytes - got < chunk ? im->bytes - got : chunk;
        if (r.type == RESP_R_ERROR) {
            snprintf(err, errlen, "%.*s", (int)(r.len > 400 ? 400 : r.len), r.str);
            goto out;
        }
        if (r.type != RESP_R_BULK || r.len != want) {
            snprintf(err, errlen, "unexpected answer to READ at offset %" PRIu64, got);
            goto out;
        }
        if (sio_write_all(NULL, fd, r.str, r.len) != 0) {
            snprintf(err, errlen, "writing: %s", strerror(errno));
            goto out;
        }
        if (head_len < sizeof head) {
            size_t k = r.len < sizeof head - head_len ? r.len : sizeof head - head_len;
            memcpy(head + head_len, r.str, k);
            head_len += k;
        }
        if (kv_loader_feed(l, (const uint8_t *)r.str, r.len) != 0) {
            snprintf(err, errlen, "the image is damaged: %s", kv_loader_error(l));
            goto out;
        }
        got += r.len;
        uint64_t now = now_ms();
        if (now - t0 >= PROGRESS_AFTER_MS && now - printed_ms >= PROGRESS_EVERY_MS && got < im->bytes) {
            char a[32], b[32], rate[32];
            backup_human_bytes(got, a, sizeof a);
            backup_human_bytes(im->bytes, b, sizeof b);
            backup_human_bytes((uint64_t)((double)(got - printed_got) * 1000.0 / (double)(now - printed_ms)), rate, sizeof rate);
            fprintf(stderr, "raftkv backup: %s: read %s of %s (%.0f%%), %s/s\n", from, a, b,
                    100.0 * (double)got / (double)im->bytes, rate);
            printed_ms = now;
            printed_got = got;
        }
    }
    uint64_t index = 0, term = 0;
    if (kv_loader_finish(l, NULL, &index, &term) != 0) {
        snprintf(err, errlen, "the image is damaged: %s", kv_loader_error(l));
        goto out;
    }
    if (index != im->index || term != im->term) {
        snprintf(err, errlen, "the image says index %" PRIu64 " term %" PRIu64 ", the member said %" PRIu64
                 " %" PRIu64, index, term, im->index, im->term);
        goto out;
    }
    struct snap_header h;
    size_t need;
    char herr[200];
    *records = snap_header_peek(head, head_len, &h, &need, herr, sizeof herr) == 0 ? h.records : 0;
    rc = 0;
out:
    kv_loader_free(l);
    return rc;
}

static int fsync_dir_of(const char *path)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    int d = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return -1;
    int rc = fsync(d);
    close(d);
    return rc;
}

int backup_main(int argc, char **argv)
{
    char *from[MAX_FROM];
    int n_from = 0;
    const char *file = NULL, *pass_file = NULL;
    char *pass = NULL;
    struct resp_conn_options co = {.timeout_ms = 120000};
    uint64_t chunk = 1u << 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--tls") == 0) {
            co.tls = true;
            continue;
        }
        if (a[0] != '-' || a[1] != '-') {
            if (file) {
                fprintf(stderr, "raftkv backup: one FILE only (%s and %s)\n", file, a);
                return 64;
            }
            file = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "raftkv backup: %s needs a value (or is unknown)\n\n", a);
            usage(stderr);
            return 64;
        }
        const char *v = argv[++i];
        char *end;
        if (strcmp(a, "--from") == 0) {
            char *list = strdup(v);
            for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (n_from == MAX_FROM) {
                    fprintf(stderr, "raftkv backup: at most %d --from addresses\n", MAX_FROM);
                    return 64;
                }
                from[n_from++] = strdup(t);
            }
            free(list);
        } else if (strcmp(a, "--cacert") == 0) {
            co.cacert = v;
        } else if (strcmp(a, "--cert") == 0) {
            co.cert = v;
        } else if (strcmp(a, "--key") == 0) {
            co.key = v;
        } else if (strcmp(a, "--sni") == 0) {
            co.sni = v;
        } else if (strcmp(a, "--user") == 0) {
            co.user = v;
        } else if (strcmp(a, "--pass") == 0) {
            fprintf(stderr, "raftkv backup: warning: a password on the command line may be seen by other "
                            "users (ps); prefer --pass-file or REDISCLI_AUTH\n");
            pass = strdup(v);
        } else if (strcmp(a, "--pass-file") == 0) {
            pass_file = v;
        } else if (strcmp(a, "--chunk-bytes") == 0) {
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (errno || *end || n == 0 || n > BACKUP_MAX_CHUNK || v[0] == '-') {
                fprintf(stderr, "raftkv backup: --chunk-bytes must be 1 to %u\n", BACKUP_MAX_CHUNK);
                return 64;
            }
            chunk = n;
        } else if (strcmp(a, "--timeout-ms") == 0) {
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (errno || *end || n == 0 || v[0] == '-') {
                fprintf(stderr, "raftkv backup: bad --timeout-ms '%s'\n", v);
                return 64;
            }
            co.timeout_ms = n;
        } else {
            fprintf(stderr, "raftkv backup: unknown option %s\n\n", a);
            usage(stderr);
            return 64;
        }
    }
    if (!n_from || !file) {
        fprintf(stderr, "raftkv backup: %s is required\n\n", !n_from ? "--from" : "FILE");
        usage(stderr);
        return 64;
    }
    if (co.tls && !co.cacert) {
        fprintf(stderr, "raftkv backup: --tls needs --cacert (the CA that signed the members' "
                        "certificates), so the member is verified\n");
        return 64;
    }
    if ((co.cert != NULL) != (co.key != NULL)) {
        fprintf(stderr, "raftkv backup: --cert and --key go together\n");
        return 64;
    }
    if (pass_file) {
        free(pass);
        if (!(pass = read_pass_file(pass_file)))
            return 64;
    } else if (!pass && getenv("REDISCLI_AUTH") && getenv("REDISCLI_AUTH")[0]) {
        pass = strdup(getenv("REDISCLI_AUTH"));
    }
    co.pass = pass;
    if (co.user && !pass) {
        fprintf(stderr, "raftkv backup: --user needs a password (--pass-file or REDISCLI_AUTH)\n");
        return 64;
    }

    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", file) >= (int)sizeof tmp) {
        fprintf(stderr, "raftkv backup: path too long\n");
        return 64;
    }
    int rc = 1;
    char err[600];
    struct resp_conn *c = NULL;
    struct image im = {0};
    const char *used = NULL;
    for (int i = 0; i < n_from && !used; i++) {
        char host[256];
        int port;
        if (resp_conn_parse_addr(from[i], host, sizeof host, &port) != 0) {
            fprintf(stderr, "raftkv backup: bad address '%s' (HOST:PORT)\n", from[i]);
            rc = 64;
            goto done;
        }
        c = resp_conn_open(host, port, &co, err, sizeof err);
        int r = -1;
        if (c) {
            const char *start[2] = {"RAFTKV.BACKUP", "START"};
            r = resp_conn_send(c, 2, start, err, sizeof err);
            if (r == 0)
                r = wait_start(c, from[i], host, port, &co, &im, err, sizeof err);
        }
        if (r == 0) {
            used = from[i];
            break;
        }
        fprintf(stderr, "raftkv backup: %s: %s%s\n", from[i], err,
                r != 2 && i + 1 < n_from ? " (trying the next address)" : "");
        resp_conn_close(c);
        c = NULL;
        if (r == 2)
            goto done; /* refused: the next member would refuse too */
    }
    if (!used) {
        fprintf(stderr, "raftkv backup: no member took the backup; nothing written\n");
        goto done;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "raftkv backup: %s: %s\n", tmp, strerror(errno));
        goto done;
    }
    uint64_t records = 0;
    uint64_t t_read = now_ms();
    if (transfer(c, used, &im, chunk, fd, &records, err, sizeof err) != 0) {
        fprintf(stderr, "raftkv backup: %s: %s; nothing written\n", used, err);
        close(fd);
        unlink(tmp);
        goto done;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, file) != 0 || fsync_dir_of(file) != 0) {
        fprintf(stderr, "raftkv backup: saving %s: %s\n", file, strerror(errno));
        unlink(tmp);
        goto done;
    }
    char id[24];
    snprintf(id, sizeof id, "%" PRIu64, im.id);
    const char *end_cmd[3] = {"RAFTKV.BACKUP", "END", id};
    struct resp_reply r;
    if (resp_conn_send(c, 3, end_cmd, err, sizeof err) == 0)
        resp_conn_read(c, &r, err, sizeof err); /* the image goes with the connection anyway */
    printf("backup: %s from %s: %" PRIu64 " bytes, %" PRIu64 " keys, index %" PRIu64 " term %" PRIu64
           ", checked\n",
           file, used, im.bytes, records, im.index, im.term);
    uint64_t took = now_ms() - t_read;
    if (took >= PROGRESS_AFTER_MS) {
        char rate[32];
        backup_human_bytes((uint64_t)((double)im.bytes * 1000.0 / (double)took), rate, sizeof rate);
        fprintf(stderr, "raftkv backup: read in %.1f s, %s/s\n", (double)took / 1000.0, rate);
    }
    rc = 0;
done:
    resp_conn_close(c);
    for (int i = 0; i < n_from; i++)
        free(from[i]);
    free(pass);
    return rc;
}

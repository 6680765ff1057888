/* restore_cmd.c - `raftkv restore`: one member's data directory of a NEW
 * cluster made from a backup file (raftkv backup).
 *
 * First the whole file is checked, as a member checks a snapshot before
 * loading it (header, every block's CRC, every record, the trailer, the
 * file's CRC); a damaged file is refused and nothing is created. Then the
 * directory is built aside (DIR.restore-XXXXXX next to DIR) and renamed
 * into place only when complete, so DIR is either untouched or whole:
 *   - the snapshot at the file's index i and term t, its "cluster_id"
 *     entry replaced by the new cluster's id and its hash key by one
 *     derived from the file and that id (restore_map_key in backup.h), so
 *     every member loads its map hashed under the new cluster's key at
 *     once (restore_image.h);
 *   - hard state: term t, no vote; an empty log after i (the next leader
 *     is elected in a term above t and appends from i + 1);
 *   - the identity record: the member's name, the member names of
 *     --peers, the new cluster id.
 * The new id must be the same on every member and differ from the old
 * cluster's: it is derived from the file's SHA-256, the member names and
 * a --cluster-token the operator gives every member alike
 * (restore_cluster_id in backup.h), or given whole with --cluster-id. A
 * member of the old cluster then refuses the new one at the handshake
 * (cluster_id_mismatch), and the new one refuses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "kv/kv.h"
#include "storage/sio.h"
#include "server/backup.h"
#include "server/resp_conn.h"
#include "server/restore_image.h"
#include "server/server_internal.h"
#include "storage/identity.h"
#include "storage/storage.h"

#define READ_CHUNK (1u << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: raftkv restore FILE --data-dir DIR --id NAME --peers n1=HOST:PORT,...\n"
            "                      (--cluster-token TOKEN | --cluster-id HEX) [--config FILE]\n"
            "\n"
            "Makes DIR the data directory of member NAME of a NEW cluster holding the state\n"
            "in FILE (made by raftkv backup). Run it once per member, each with its own\n"
            "--id and --data-dir and the same FILE, --peers and --cluster-token; then start\n"
            "each with raftkv serve and the same --id, --peers and --data-dir.\n"
            "\n"
            "FILE is checked whole first (every CRC and record): a damaged file is refused\n"
            "and nothing is written. DIR must not exist or be empty; it is made aside and\n"
            "renamed into place only when complete.\n"
            "\n"
            "  --data-dir DIR        the new member's data directory\n"
            "  --id NAME (--name)    this member's name, one of --peers\n"
            "  --peers LIST          the new cluster's members, NAME=HOST:PORT,...\n"
            "  --cluster-token TOKEN names this restore: the new cluster id is derived from\n"
            "                        FILE's SHA-256, the member names and TOKEN, so every\n"
            "                        member restored alike gets the same id, and it differs\n"
            "                        from the old cluster's. Use a new token for each new\n"
            "                        cluster made from the same file (e.g. restore-2026-12-06)\n"
            "  --cluster-id HEX      or give the id itself: 32 hex digits\n"
            "  --config FILE         read id, peers and data-dir from a raftkv serve --config\n"
            "                        file (its other lines are serve's; the command line wins)\n");
}

void restore_cluster_id(const uint8_t file_sha256[32], const char *token, const char *const *members,
                        int n, uint8_t out[CLUSTER_ID_BYTES])
{
    const char **sorted = malloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
    for (int i = 0; sorted && i < n; i++) {
        int j = i;
        while (j > 0 && strcmp(sorted[j - 1], members[i]) > 0) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = members[i];
    }
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", file_sha256[i]);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t digest[32];
    unsigned int dl = 0;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, "raftkv-restore-1\n", 17);
    EVP_DigestUpdate(md, hex, 64);
    EVP_DigestUpdate(md, "\n", 1);
    EVP_DigestUpdate(md, token, strlen(token));
    EVP_DigestUpdate(md, "\n", 1);
    for (int i = 0; sorted && i < n; i++) {
        if (i)
            EVP_DigestUpdate(md, ",", 1);
        EVP_DigestUpdate(md, sorted[i], strlen(sorted[i]));
    }
    EVP_DigestUpdate(md, "\n", 1);
    EVP_DigestFinal_ex(md, digest, &dl);
    EVP_MD_CTX_free(md);
    free(sorted);
    memcpy(out, digest, CLUSTER_ID_BYTES);
    if (cluster_id_is_zero(out))
        out[0] = 1;
}

void restore_map_key(const uint8_t file_sha256[32], const uint8_t cluster_id[CLUSTER_ID_BYTES],
                     uint8_t out[16])
{
    uint8_t digest[32];
    unsigned int dl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, "raftkv-restore-map-key-1\n", 25);
    EVP_DigestUpdate(md, file_sha256, 32);
    EVP_DigestUpdate(md, cluster_id, CLUSTER_ID_BYTES);
    EVP_DigestFinal_ex(md, digest, &dl);
    EVP_MD_CTX_free(md);
    memcpy(out, digest, 16);
    if (cluster_id_is_zero(out))
        out[0] = 1;
}

struct restore_opts {
    char data_dir[PATH_MAX];
    char id[PEER_MAX_NAME + 1];
    char peers[4096];
};

static int set_opt(struct restore_opts *o, const char *key, const char *v, const char *where)
{
    char *dst = NULL;
    size_t cap = 0;
    if (strcmp(key, "data-dir") == 0) {
        dst = o->data_dir;
        cap = sizeof o->data_dir;
    } else if (strcmp(key, "id") == 0 || strcmp(key, "name") == 0) {
        dst = o->id;
        cap = sizeof o->id;
    } else if (strcmp(key, "peers") == 0) {
        dst = o->peers;
        cap = sizeof o->peers;
    } else {
        return 1; /* not ours */
    }
    if (!v[0] || strlen(v) >= cap) {
        fprintf(stderr, "raftkv restore: %s%sbad value for %s\n", where ? where : "", where ? ": " : "", key);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

/* --config: only id, peers and data-dir matter here. */
static int config_line(void *ctx, const char *key, const char *val, const char *where)
{
    struct restore_opts *o = ctx;
    if (strcmp(key, "name") == 0)
        return 0; /* not a serve option */
    int rc = set_opt(o, key, val, where);
    return rc < 0 ? 64 : 0;
}

/* The member names of "n1=host:port,...", validated; n set. */
static int peer_names(char *list, const char **names, int *n)
{
    *n = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        char host[256];
        int port;
        if (!eq || eq == t || resp_conn_parse_addr(eq + 1, host, sizeof host, &port) != 0) {
            fprintf(stderr, "raftkv restore: --peers entry '%s' is not NAME=HOST:PORT\n", t);
            return -1;
        }
        if (*n == RAFT_MAX_NODES) {
            fprintf(stderr, "raftkv restore: more than %d members in --peers\n", RAFT_MAX_NODES);
            return -1;
        }
        *eq = '\0';
        names[(*n)++] = t;
    }
    return *n ? 0 : -1;
}

/* 0 when path does not exist or is an empty directory; else -1 (said). */
static int check_target(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "raftkv restore: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "raftkv restore: %s exists and is not a directory; nothing was written\n", path);
        return -1;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "raftkv restore: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    if (n) {
        fprintf(stderr,
                "raftkv restore: %s is not empty; a restore makes a new member from nothing: give it an "
                "empty or new directory (nothing was written)\n",
                path);
        return -1;
    }
    return 0;
}

/* Pass 1: the whole file checked, its SHA-256, header and old id. */
struct checked {
    uint8_t sha[32];
    uint64_t index, term, bytes;
    bool had_id;
    uint8_t old_id[CLUSTER_ID_BYTES];
};

static int check_file(const char *file, struct checked *c, char *err, size_t errlen)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", file, strerror(errno));
        return -1;
    }
    struct kv_loader *l = kv_loader_new(false);
    uint8_t *buf = malloc(READ_CHUNK);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = -1;
    if (!l || !buf || !md) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    c->bytes = 0;
    for (;;) {
        ssize_t n = read(fd, buf, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s: read: %s", file, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)n);
        c->bytes += (uint64_t)n;
        if (kv_loader_feed(l, buf, (size_t)n) != 0) {
            snprintf(err, errlen, "%s is damaged: %s", file, kv_loader_error(l));
            goto out;
        }
    }
    if (kv_loader_finish(l, NULL, &c->index, &c->term) != 0) {
        snprintf(err, errlen, "%s is damaged: %s", file, kv_loader_error(l));
        goto out;
    }
    if (c->index == 0 || c->term == 0) {
        snprintf(err, errlen, "%s holds an image at index %" PRIu64 " term %" PRIu64
                 ": not a backup of a running cluster", file, c->index, c->term);
        goto out;
    }
    c->had_id = kv_loader_cluster_id(l, c->old_id);
    unsigned int dl = 0;
    EVP_DigestFinal_ex(md, c->sha, &dl);
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    free(buf);
    kv_loader_free(l);
    close(fd);
    return rc;
}

static int fd_sink(void *ctx, const void *data, size_t n)
{
    return sio_write_all(NULL, *(int *)ctx, data, n);
}

/* Pass 2: the copy with the new id, into the store's staging file. */
static int copy_image(const char *file, int out_fd, const uint8_t id[CLUSTER_ID_BYTES],
                      const uint8_t map_key[KV_MAP_KEY_BYTES], char *err, size_t errlen)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", file, strerror(errno));
        return -1;
    }
    struct restore_image x;
    uint8_t *buf = malloc(READ_CHUNK);
    int rc = -1;
    if (!buf || restore_image_init(&x, id, map_key, fd_sink, &out_fd) != 0) {
        snprintf(err, errlen, "out of memory");
        free(buf);
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t n = read(fd, buf, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s: read: %s", file, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (restore_image_feed(&x, buf, (size_t)n) != 0) {
            snprintf(err, errlen, "%s: %s", file, restore_image_error(&x));
            goto out;
        }
    }
    if (restore_image_finish(&x) != 0) {
        snprintf(err, errlen, "%s: %s", file, restore_image_error(&x));
        goto out;
    }
    if (fdatasync(out_fd) != 0) {
        snprintf(err, errlen, "fdatasync: %s", strerror(errno));
        goto out;
    }
    rc = 0;
out:
    restore_image_free(&x);
    free(buf);
    close(fd);
    return rc;
}

static int fsync_path(const char *path)
{
    int d = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return -1;
    int rc = fsync(d);
    close(d);
    return rc;
}

/* Remove the staging directory and what it holds (flat). */
static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(path);
}

/* Build the member's directory in `stage`. 0, or -1 with err. */
static int build(const char *stage, const char *file, const struct checked *c, const struct identity *idn,
                 char *err, size_t errlen)
{
    struct storage *s = NULL;
    struct raft_restore rs;
    int rc = storage_open(stage, NULL, &s, &rs, err, errlen);
    if (rc != STORAGE_OK)
        return -1;
    int fd = -1;
    if ((rc = storage_set_hard_state(s, c->term, RAFT_NO_NODE)) != STORAGE_OK ||
        (rc = storage_sync(s)) != STORAGE_OK ||
        (rc = storage_snapshot_recv_begin(s, c->index, &fd)) != STORAGE_OK) {
        snprintf(err, errlen, "%s", storage_error(s));
        storage_close(s);
        return -1;
    }
    uint8_t map_key[KV_MAP_KEY_BYTES];
    restore_map_key(c->sha, idn->cluster_id, map_key);
    if (copy_image(file, fd, idn->cluster_id, map_key, err, errlen) != 0) {
        close(fd);
        storage_snapshot_recv_abort(s);
        storage_close(s);
        return -1;
    }
    close(fd);
    if (storage_snapshot_adopt(s, c->index, c->term) != STORAGE_OK) {
        snprintf(err, errlen, "%s", storage_error(s));
        storage_close(s);
        return -1;
    }
    storage_close(s);
    return identity_write(stage, idn, err, errlen) == IDENTITY_OK ? 0 : -1;
}

int restore_main(int argc, char **argv)
{
    struct restore_opts o = {0};
    const char *file = NULL, *token = NULL, *hex = NULL, *config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (a[0] != '-' || a[1] != '-') {
            if (file) {
                fprintf(stderr, "raftkv restore: one FILE only (%s and %s)\n", file, a);
                return 64;
            }
            file = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "raftkv restore: %s needs a value (or is unknown)\n\n", a);
            usage(stderr);
            return 64;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--cluster-token") == 0) {
            token = v;
        } else if (strcmp(a, "--cluster-id") == 0) {
            hex = v;
        } else if (strcmp(a, "--config") == 0) {
            config = v;
        } else {
            int rc = set_opt(&o, a + 2, v, NULL);
            if (rc < 0)
                return 64;
            if (rc > 0) {
                fprintf(stderr,
                        "raftkv restore: unknown option %s (restore takes the options below; give the "
                        "other serve options to raftkv serve)\n\n",
                        a);
                usage(stderr);
                return 64;
            }
        }
    }
    if (config) {
        /* The file first, then the command line again over it. */
        struct restore_opts cmd = o;
        memset(&o, 0, sizeof o);
        int rc = server_config_file_read(config, config_line, &o);
        if (rc)
            return rc;
        if (cmd.data_dir[0])
            memcpy(o.data_dir, cmd.data_dir, sizeof o.data_dir);
        if (cmd.id[0])
            memcpy(o.id, cmd.id, sizeof o.id);
        if (cmd.peers[0])
            memcpy(o.peers, cmd.peers, sizeof o.peers);
    }
    const char *missing = !file ? "FILE" : !o.data_dir[0] ? "--data-dir" : !o.id[0] ? "--id" : !o.peers[0] ? "--peers" : NULL;
    if (missing) {
        fprintf(stderr, "raftkv restore: %s is required\n\n", missing);
        usage(stderr);
        return 64;
    }
    if ((token != NULL) == (hex != NULL)) {
        fprintf(stderr, "raftkv restore: give --cluster-token TOKEN (the same on every member) or "
                        "--cluster-id HEX, one of them\n");
        return 64;
    }
    if (token && !token[0]) {
        fprintf(stderr, "raftkv restore: --cluster-token must not be empty\n");
        return 64;
    }
    uint8_t given_id[CLUSTER_ID_BYTES];
    if (hex && cluster_id_parse(hex, strlen(hex), given_id) != 0) {
        fprintf(stderr, "raftkv restore: --cluster-id must be 32 hex digits, not all zero\n");
        return 64;
    }
    char peers[sizeof o.peers];
    memcpy(peers, o.peers, sizeof peers);
    const char *names[RAFT_MAX_NODES];
    int n = 0;
    if (peer_names(peers, names, &n) != 0)
        return 64;
    struct identity idn;
    if (identity_init(&idn, o.id, names, n) != 0) {
        fprintf(stderr, "raftkv restore: member names must be 1 to %d bytes and distinct\n", IDENTITY_MAX_NAME);
        return 64;
    }
    bool member = false;
    for (int i = 0; i < n; i++)
        member |= strcmp(names[i], o.id) == 0;
    if (!member) {
        fprintf(stderr, "raftkv restore: --id %s is not one of --peers\n", o.id);
        return 64;
    }
    if (check_target(o.data_dir) != 0)
        return 1;

    char err[1024];
    struct checked c;
    if (check_file(file, &c, err, sizeof err) != 0) {
        fprintf(stderr, "raftkv restore: %s; refused, nothing was written\n", err);
        return 1;
    }
    if (hex)
        memcpy(idn.cluster_id, given_id, CLUSTER_ID_BYTES);
    else
        restore_cluster_id(c.sha, token, names, n, idn.cluster_id);
    idn.has_cluster_id = true;
    char new_hex[CLUSTER_ID_HEX_LEN + 1], old_hex[CLUSTER_ID_HEX_LEN + 1] = "none";
    cluster_id_hex(idn.cluster_id, new_hex);
    if (c.had_id)
        cluster_id_hex(c.old_id, old_hex);
    if (c.had_id && memcmp(c.old_id, idn.cluster_id, CLUSTER_ID_BYTES) == 0) {
        fprintf(stderr, "raftkv restore: --cluster-id %s is the backed-up cluster's own id; a restored "
                        "cluster needs a new one\n", new_hex);
        return 64;
    }

    /* Aside, then renamed into place. */
    char parent_buf[PATH_MAX], stage[PATH_MAX + 32];
    size_t l = strlen(o.data_dir);
    while (l > 1 && o.data_dir[l - 1] == '/')
        o.data_dir[--l] = '\0';
    snprintf(parent_buf, sizeof parent_buf, "%s", o.data_dir);
    snprintf(stage, sizeof stage, "%s.restore-XXXXXX", o.data_dir);
    if (!mkdtemp(stage)) {
        fprintf(stderr, "raftkv restore: cannot make %s: %s; nothing was written\n", stage, strerror(errno));
        return 1;
    }
    if (build(stage, file, &c, &idn, err, sizeof err) != 0) {
        remove_dir(stage);
        fprintf(stderr, "raftkv restore: %s; nothing was written to %s\n", err, o.data_dir);
        return 1;
    }
    if (fsync_path(stage) != 0 || rename(stage, o.data_dir) != 0 ||
        fsync_path(dirname(parent_buf)) != 0) {
        fprintf(stderr, "raftkv restore: putting %s in place of %s: %s\n", stage, o.data_dir, strerror(errno));
        remove_dir(stage);
        return 1;
    }
    printf("restore: %s is member %s of a new cluster, cluster_id %s (the backup's was %s); "
           "index %" PRIu64 " term %" PRIu64 ", %" PRIu64 " bytes checked\n",
           o.data_dir, o.id, new_hex, old_hex, c.index, c.term, c.bytes);
    printf("restore: restore every member with the same FILE, --peers and %s, then start each with "
           "raftkv serve --id %s --peers %s --data-dir %s ...\n",
           token ? "--cluster-token" : "--cluster-id", o.id, o.peers, o.data_dir);
    return 0;
}

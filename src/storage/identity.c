/* identity.c - the member identity record of a data directory: its text
 * form, checked reading, atomic writing, and the comparison with the
 * options a member was started with (identity.h). */
#include "storage/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/crc32c.h"
#include "storage/sio.h"

#define IDENTITY_TMP "identity.tmp"
#define IDENTITY_MAX_BYTES 8192

static int name_order(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

int identity_init(struct identity *id, const char *name, const char *const *members, int n)
{
    memset(id, 0, sizeof *id);
    size_t ln = strlen(name);
    if (ln == 0 || ln > IDENTITY_MAX_NAME || n < 1 || n > IDENTITY_MAX_MEMBERS)
        return -1;
    memcpy(id->name, name, ln + 1);
    for (int i = 0; i < n; i++) {
        size_t lm = strlen(members[i]);
        if (lm == 0 || lm > IDENTITY_MAX_NAME)
            return -1;
        memcpy(id->members[i], members[i], lm + 1);
    }
    id->n_members = n;
    qsort(id->members, (size_t)n, sizeof id->members[0], name_order);
    for (int i = 1; i < n; i++)
        if (strcmp(id->members[i - 1], id->members[i]) == 0)
            return -1;
    return 0;
}

/* ---- text form ------------------------------------------------------------ */

struct out {
    char *p;
    size_t len, cap;
    bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || o->len + n >= o->cap) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static bool plain_byte(unsigned char c)
{
    return c > ' ' && c < 0x7f && c != '%';
}

static void put_name(struct out *o, const char *name)
{
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        if (plain_byte(*c)) {
            put(o, (const char *)c, 1);
        } else {
            char esc[4];
            snprintf(esc, sizeof esc, "%%%02X", *c);
            put(o, esc, 3);
        }
    }
}

int identity_encode(const struct identity *id, char *buf, size_t cap)
{
    struct out o = {buf, 0, cap, cap == 0};
    char line[64];
    snprintf(line, sizeof line, "raftkv-identity %d\nname ", IDENTITY_VERSION);
    put_str(&o, line);
    put_name(&o, id->name);
    put_str(&o, "\nmembers");
    for (int i = 0; i < id->n_members; i++) {
        put_str(&o, " ");
        put_name(&o, id->members[i]);
    }
    put_str(&o, "\ncluster_id ");
    if (id->has_cluster_id) {
        char hex[CLUSTER_ID_HEX_LEN + 1];
        cluster_id_hex(id->cluster_id, hex);
        put_str(&o, hex);
    } else {
        put_str(&o, "-");
    }
    put_str(&o, "\n");
    if (o.full)
        return -1;
    snprintf(line, sizeof line, "crc32c %08x\n", crc32c(buf, o.len));
    put_str(&o, line);
    return o.full ? -1 : (int)o.len;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One escaped name of [s, s+n) into out; 0 or -1. */
static int get_name(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hex_value(s[i + 1]) : -1, lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi << 4 | lo);
            if (c == 0 || plain_byte(c))
                return -1; /* only what put_name escapes */
            i += 2;
        } else if (!plain_byte(c)) {
            return -1;
        }
        if (k >= IDENTITY_MAX_NAME)
            return -1;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return k > 0 ? 0 : -1;
}

/* The next line of [*p, end) without its newline; -1 if none ends. */
static int next_line(const char **p, const char *end, const char **line, size_t *n)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl)
        return -1;
    *line = *p;
    *n = (size_t)(nl - *p);
    *p = nl + 1;
    return 0;
}

/* A line "key value": the value, or NULL when the key differs. */
static const char *field(const char *line, size_t n, const char *key, size_t *vlen)
{
    size_t k = strlen(key);
    if (n <= k || memcmp(line, key, k) != 0 || line[k] != ' ')
        return NULL;
    *vlen = n - k - 1;
    return line + k + 1;
}

int identity_decode(const char *buf, size_t len, struct identity *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *p = buf, *end = buf + len, *line, *v;
    size_t n, vlen;
    char text[IDENTITY_MAX_NAME * 3 + 1];
    if (next_line(&p, end, &line, &n) != 0 || !(v = field(line, n, "raftkv-identity", &vlen))) {
        snprintf(err, errlen, "not an identity record (no header line)");
        return IDENTITY_CORRUPT;
    }
    if (vlen != 1 || v[0] != '0' + IDENTITY_VERSION) {
        snprintf(err, errlen, "unknown format version \"%.*s\" (this build reads %d)",
                 (int)(vlen < 16 ? vlen : 16), v, IDENTITY_VERSION);
        return IDENTITY_CORRUPT;
    }
    /* The checksum line first: past damage nothing else is worth reading. */
    const char *body_end = NULL;
    for (const char *q = end - 1; q > buf; q--) {
        if (q[-1] == '\n') {
            body_end = q;
            break;
        }
    }
    unsigned long want;
    char *stop;
    if (!body_end || end[-1] != '\n' || !(v = field(body_end, (size_t)(end - 1 - body_end), "crc32c", &vlen)) ||
        vlen != 8 || (want = strtoul(v, &stop, 16), stop != v + 8)) {
        snprintf(err, errlen, "no checksum line at the end (torn or edited)");
        return IDENTITY_CORRUPT;
    }
    uint32_t have = crc32c(buf, (size_t)(body_end - buf));
    if (have != (uint32_t)want) {
        snprintf(err, errlen, "checksum mismatch (recorded %08lx, computed %08x): the file is damaged",
                 want, have);
        return IDENTITY_CORRUPT;
    }
    end = body_end;
    /* name */
    if (next_line(&p, end, &line, &n) != 0 || !(v = field(line, n, "name", &vlen)) ||
        vlen >= sizeof text || get_name(v, vlen, out->name) != 0)
        goto bad;
    /* members */
    if (next_line(&p, end, &line, &n) != 0 || !(v = field(line, n, "members", &vlen)))
        goto bad;
    for (const char *s = v, *e = v + vlen; s < e;) {
        const char *sp = memchr(s, ' ', (size_t)(e - s));
        const char *stop_at = sp ? sp : e;
        if (out->n_members >= IDENTITY_MAX_MEMBERS ||
            get_name(s, (size_t)(stop_at - s), out->members[out->n_members]) != 0)
            goto bad;
        if (out->n_members > 0 &&
            strcmp(out->members[out->n_members - 1], out->members[out->n_members]) >= 0)
            goto bad; /* sorted, no duplicates */
        out->n_members++;
        s = sp ? sp + 1 : e;
    }
    if (out->n_members == 0)
        goto bad;
    /* cluster_id */
    if (next_line(&p, end, &line, &n) != 0 || !(v = field(line, n, "cluster_id", &vlen)))
        goto bad;
    if (vlen == 1 && v[0] == '-')
        out->has_cluster_id = false;
    else if (cluster_id_parse(v, vlen, out->cluster_id) == 0)
        out->has_cluster_id = true;
    else
        goto bad;
    if (p != end)
        goto bad;
    return IDENTITY_OK;
bad:
    snprintf(err, errlen, "malformed record (checksum matches, contents do not parse)");
    return IDENTITY_CORRUPT;
}

/* ---- files ------------------------------------------------------------------ */

int identity_read(const char *dir, struct identity *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        snprintf(err, errlen, "%s: open: %s", dir, strerror(errno));
        return errno == ENOENT ? IDENTITY_MISSING : IDENTITY_IO;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = sio_read_file(dirfd, IDENTITY_FILE, &data, &len);
    int e = errno;
    close(dirfd);
    if (rc != 0) {
        snprintf(err, errlen, "%s/%s: read: %s", dir, IDENTITY_FILE, strerror(e));
        return e == ENOENT ? IDENTITY_MISSING : IDENTITY_IO;
    }
    char why[200];
    if (len > IDENTITY_MAX_BYTES) {
        snprintf(why, sizeof why, "%zu bytes, more than a record can hold", len);
        rc = IDENTITY_CORRUPT;
    } else {
        rc = identity_decode((const char *)data, len, out, why, sizeof why);
    }
    free(data);
    if (rc != IDENTITY_OK)
        snprintf(err, errlen, "%s/%s: %s", dir, IDENTITY_FILE, why);
    return rc;
}

int identity_write(const char *dir, const struct identity *id, char *err, size_t errlen)
{
    char buf[IDENTITY_MAX_BYTES];
    int n = identity_encode(id, buf, sizeof buf);
    if (n < 0) {
        snprintf(err, errlen, "%s/%s: the record does not fit %d bytes", dir, IDENTITY_FILE,
                 IDENTITY_MAX_BYTES);
        return IDENTITY_IO;
    }
    struct sio io = {0};
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        snprintf(err, errlen, "%s: open: %s", dir, strerror(errno));
        return IDENTITY_IO;
    }
    int fd = openat(dirfd, IDENTITY_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const char *step = "create";
    if (fd < 0)
        goto fail;
    step = "write";
    if (sio_write_all(&io, fd, buf, (size_t)n) < 0)
        goto fail;
    step = "fsync";
    if (sio_fdatasync(&io, fd) < 0)
        goto fail;
    close(fd);
    fd = -1;
    step = "rename";
    if (renameat(dirfd, IDENTITY_TMP, dirfd, IDENTITY_FILE) < 0)
        goto fail;
    step = "fsync directory";
    if (sio_fsync(&io, dirfd) < 0)
        goto fail;
    close(dirfd);
    return IDENTITY_OK;
fail:
    snprintf(err, errlen, "%s/%s: %s: %s", dir, IDENTITY_TMP, step, strerror(errno));
    if (fd >= 0)
        close(fd);
    close(dirfd);
    return IDENTITY_IO;
}

/* ---- comparison ---------------------------------------------------------------- */

int identity_check(const struct identity *recorded, const struct identity *given)
{
    if (strcmp(recorded->name, given->name) != 0)
        return IDENTITY_NAME_DIFFERS;
    if (recorded->n_members != given->n_members)
        return IDENTITY_MEMBERS_DIFFER;
    for (int i = 0; i < recorded->n_members; i++)
        if (strcmp(recorded->members[i], given->members[i]) != 0)
            return IDENTITY_MEMBERS_DIFFER;
    return IDENTITY_OK;
}

void identity_members_text(const struct identity *id, char *buf, size_t cap)
{
    struct out o = {buf, 0, cap, cap == 0};
    if (cap)
        buf[0] = '\0';
    for (int i = 0; i < id->n_members; i++) {
        if (i)
            put_str(&o, ",");
        put_name(&o, id->members[i]);
    }
}

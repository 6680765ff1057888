/* member_table.c - the member table's encodings, its file and RAFT.NODE's
 * request checks (member_table.h says what each holds). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/member_table.h"
#include "storage/crc32c.h"

int member_table_count(const struct member_table *t)
{
    int n = 0;
    for (int i = 0; i < RAFT_MAX_NODES; i++)
        n += t->m[i].used;
    return n;
}

int member_table_find_name(const struct member_table *t, const char *name)
{
    for (int i = 0; i < RAFT_MAX_NODES; i++)
        if (t->m[i].used && strcmp(t->m[i].name, name) == 0)
            return i;
    return -1;
}

int member_table_find_addr(const struct member_table *t, const char *host, int port)
{
    for (int i = 0; i < RAFT_MAX_NODES; i++)
        if (t->m[i].used && t->m[i].port == port && strcmp(t->m[i].host, host) == 0)
            return i;
    return -1;
}

void member_table_configuration(const struct member_table *t, struct raft_configuration *c)
{
    c->n = 0;
    for (int i = 0; i < RAFT_MAX_NODES; i++)
        if (t->m[i].used)
            c->members[c->n++] = (struct raft_member){.id = i, .role = t->m[i].role};
}

bool member_table_same(const struct member_table *a, const struct member_table *b)
{
    for (int i = 0; i < RAFT_MAX_NODES; i++) {
        const struct member_entry *x = &a->m[i], *y = &b->m[i];
        if (x->used != y->used)
            return false;
        if (x->used && (x->role != y->role || x->auto_promote != y->auto_promote || x->port != y->port || strcmp(x->name, y->name) != 0 ||
                        strcmp(x->host, y->host) != 0))
            return false;
    }
    return true;
}

size_t member_table_encode(const struct member_table *t, uint8_t *buf, size_t cap)
{
    size_t pos = 2;
    int n = 0;
    if (cap < 2)
        return 0;
    for (int i = 0; i < RAFT_MAX_NODES; i++) {
        const struct member_entry *e = &t->m[i];
        if (!e->used)
            continue;
        size_t ln = strlen(e->name), lh = strlen(e->host);
        if (ln < 1 || ln > MEMBER_MAX_NAME || lh < 1 || lh > MEMBER_MAX_HOST || e->port < 1 || e->port > 65535)
            return 0;
        if (pos + 6 + ln + lh > cap)
            return 0;
        buf[pos++] = (uint8_t)i;
        buf[pos++] = e->role == RAFT_LEARNER ? (e->auto_promote ? 2 : 1) : 0;
        buf[pos++] = (uint8_t)ln;
        memcpy(buf + pos, e->name, ln);
        pos += ln;
        buf[pos++] = (uint8_t)lh;
        memcpy(buf + pos, e->host, lh);
        pos += lh;
        buf[pos++] = (uint8_t)(e->port >> 8);
        buf[pos++] = (uint8_t)e->port;
        n++;
    }
    buf[0] = MEMBER_TABLE_VERSION;
    buf[1] = (uint8_t)n;
    return pos;
}

static bool printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '!' || p[i] > '~')
            return false;
    return true;
}

int member_table_decode(const uint8_t *buf, size_t len, struct member_table *out)
{
    struct member_table t;
    memset(&t, 0, sizeof t);
    if (len < 2 || buf[0] != MEMBER_TABLE_VERSION || buf[1] > RAFT_MAX_NODES)
        return -1;
    size_t pos = 2;
    int last = -1;
    for (int k = 0; k < buf[1]; k++) {
        if (len - pos < 3)
            return -1;
        int id = buf[pos], role = buf[pos + 1];
        size_t ln = buf[pos + 2];
        pos += 3;
        if (id >= RAFT_MAX_NODES || id <= last || role > 2 || ln < 1 || ln > MEMBER_MAX_NAME || len - pos < ln + 1)
            return -1;
        struct member_entry *e = &t.m[id];
        if (!printable(buf + pos, ln))
            return -1;
        memcpy(e->name, buf + pos, ln);
        e->name[ln] = '\0';
        pos += ln;
        size_t lh = buf[pos++];
        if (lh < 1 || len - pos < lh + 2 || !printable(buf + pos, lh))
            return -1;
        memcpy(e->host, buf + pos, lh);
        e->host[lh] = '\0';
        pos += lh;
        e->port = (buf[pos] << 8) | buf[pos + 1];
        pos += 2;
        if (e->port < 1 || member_table_find_name(&t, e->name) >= 0 ||
            member_table_find_addr(&t, e->host, e->port) >= 0)
            return -1;
        e->role = role ? RAFT_LEARNER : RAFT_VOTER;
        e->auto_promote = role == 2;
        e->used = true;
        last = id;
    }
    if (pos != len)
        return -1;
    t.index = out->index;
    *out = t;
    return 0;
}

int member_table_text(const struct member_table *t, char *buf, size_t cap)
{
    size_t pos = 0;
    int n = snprintf(buf, cap, "raftkv-members 1\nindex %" PRIu64 "\n", (uint64_t)t->index);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    pos = (size_t)n;
    for (int i = 0; i < RAFT_MAX_NODES; i++) {
        const struct member_entry *e = &t->m[i];
        if (!e->used)
            continue;
        n = snprintf(buf + pos, cap - pos, "member %d %s %s %s %d\n", i,
                     e->role == RAFT_VOTER ? "voter" : e->auto_promote ? "learner-auto" : "learner", e->name, e->host, e->port);
        if (n < 0 || (size_t)n >= cap - pos)
            return -1;
        pos += (size_t)n;
    }
    n = snprintf(buf + pos, cap - pos, "crc32c %08x\n", crc32c(buf, pos));
    if (n < 0 || (size_t)n >= cap - pos)
        return -1;
    return (int)(pos + (size_t)n);
}

int member_table_parse(const char *buf, size_t len, struct member_table *out, char *err, size_t errlen)
{
    struct member_table t;
    memset(&t, 0, sizeof t);
    char line[512];
    size_t pos = 0;
    int lineno = 0;
    bool header = false, have_index = false;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl) {
            snprintf(err, errlen, "line %d: no newline at the end", lineno + 1);
            return -1;
        }
        size_t ll = (size_t)(nl - (buf + pos));
        lineno++;
        if (ll >= sizeof line) {
            snprintf(err, errlen, "line %d: too long", lineno);
            return -1;
        }
        memcpy(line, buf + pos, ll);
        line[ll] = '\0';
        unsigned crc;
        char role[16], name[MEMBER_MAX_NAME + 2], host[MEMBER_MAX_HOST + 2], extra[2];
        int id, port;
        uint64_t index;
        if (!header) {
            if (strcmp(line, "raftkv-members 1") != 0) {
                snprintf(err, errlen, "line 1: not a members file of version 1");
                return -1;
            }
            header = true;
        } else if (sscanf(line, "index %" SCNu64 "%1s", &index, extra) == 1 && !have_index) {
            t.index = index;
            have_index = true;
        } else if (sscanf(line, "member %d %15s %65s %256s %d%1s", &id, role, name, host, &port, extra) == 5) {
            bool autop = strcmp(role, "learner-auto") == 0;
            bool learner = autop || strcmp(role, "learner") == 0;
            if (id < 0 || id >= RAFT_MAX_NODES || t.m[id].used || (!learner && strcmp(role, "voter") != 0) ||
                strlen(name) > MEMBER_MAX_NAME || strlen(host) > MEMBER_MAX_HOST || port < 1 || port > 65535 ||
                member_table_find_name(&t, name) >= 0) {
                snprintf(err, errlen, "line %d: bad member", lineno);
                return -1;
            }
            struct member_entry *e = &t.m[id];
            e->used = true;
            e->role = learner ? RAFT_LEARNER : RAFT_VOTER;
            e->auto_promote = autop;
            strcpy(e->name, name);
            strcpy(e->host, host);
            e->port = port;
        } else if (sscanf(line, "crc32c %8x%1s", &crc, extra) == 1 && have_index) {
            if (crc != crc32c(buf, pos)) {
                snprintf(err, errlen, "line %d: checksum mismatch", lineno);
                return -1;
            }
            if ((size_t)(nl + 1 - buf) != len) {
                snprintf(err, errlen, "line %d: bytes after the checksum", lineno);
                return -1;
            }
            *out = t;
            return 0;
        } else {
            snprintf(err, errlen, "line %d: unknown or misplaced line", lineno);
            return -1;
        }
        pos += ll + 1;
    }
    snprintf(err, errlen, "no checksum line (truncated)");
    return -1;
}

int member_table_read(const char *dir, struct member_table *t, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, MEMBER_FILE);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    bool big = n == sizeof buf;
    fclose(f);
    if (big) {
        snprintf(err, errlen, "%s: too large", path);
        return -1;
    }
    char why[256];
    if (member_table_parse(buf, n, t, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    return 0;
}

int member_table_write(const char *dir, const struct member_table *t, char *err, size_t errlen)
{
    static char buf[65536];
    int n = member_table_text(t, buf, sizeof buf);
    if (n < 0) {
        snprintf(err, errlen, "table too large");
        return -1;
    }
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, MEMBER_FILE);
    snprintf(path, sizeof path, "%s/%s", dir, MEMBER_FILE);
    const char *step = "open";
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    step = "write";
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = write(fd, buf + off, (size_t)n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            goto fail;
        }
        off += (size_t)w;
    }
    step = "fsync";
    if (fsync(fd) < 0) {
        close(fd);
        goto fail;
    }
    close(fd);
    step = "rename";
    if (rename(tmp, path) < 0)
        goto fail;
    step = "fsync directory";
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        goto fail;
    int rc = fsync(dfd);
    close(dfd);
    if (rc < 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "%s %s: %s", step, tmp, strerror(errno));
    return -1;
}

bool member_name_ok(const char *name, size_t len)
{
    if (len < 1 || len > MEMBER_MAX_NAME)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

int member_parse_addr(const char *text, size_t len, char *host, size_t host_cap, int *port)
{
    const char *colon = NULL;
    for (size_t i = len; i > 0; i--)
        if (text[i - 1] == ':') {
            colon = text + i - 1;
            break;
        }
    if (!colon)
        return -1;
    const char *h = text;
    size_t hl = (size_t)(colon - text);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl < 1 || hl >= host_cap || hl > MEMBER_MAX_HOST || !printable((const uint8_t *)h, hl))
        return -1;
    for (size_t i = 0; i < hl; i++)
        if (h[i] == '[' || h[i] == ']' || (h[i] == ':' && h != text + 1))
            return -1;
    size_t pl = len - (size_t)(colon + 1 - text);
    if (pl < 1 || pl > 5)
        return -1;
    int p = 0;
    for (size_t i = 0; i < pl; i++) {
        char ch = colon[1 + i];
        if (ch < '0' || ch > '9')
            return -1;
        p = p * 10 + (ch - '0');
    }
    if (p < 1 || p > 65535)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = p;
    return 0;
}

static int used_ids(const struct member_table *t, const struct raft_configuration *c, uint64_t *mask)
{
    *mask = 0;
    for (int i = 0; i < RAFT_MAX_NODES; i++)
        if (t->m[i].used)
            *mask |= 1ull << i;
    for (int k = 0; k < c->n; k++)
        *mask |= 1ull << c->members[k].id;
    for (int i = 0; i < RAFT_MAX_NODES; i++)
        if (!(*mask & (1ull << i)))
            return i;
    return -1;
}

int member_check_add(const struct member_table *t, const struct raft_configuration *c, const char *name,
                     const char *addr, size_t addr_len, char *host, int *port, char *why, size_t why_cap)
{
    if (!member_name_ok(name, strlen(name))) {
        snprintf(why, why_cap, "invalid member name (1 to 64 letters, digits, '.', '_', '-')");
        return -1;
    }
    if (member_parse_addr(addr, addr_len, host, MEMBER_MAX_HOST + 1, port) != 0) {
        snprintf(why, why_cap, "invalid address (want host:port)");
        return -1;
    }
    if (member_table_find_name(t, name) >= 0) {
        snprintf(why, why_cap, "a member named %s already exists", name);
        return -1;
    }
    int other = member_table_find_addr(t, host, *port);
    if (other >= 0) {
        snprintf(why, why_cap, "address %s:%d is already %s's", host, *port, t->m[other].name);
        return -1;
    }
    uint64_t mask;
    int id = used_ids(t, c, &mask);
    if (id < 0) {
        snprintf(why, why_cap, "too many members (%d)", RAFT_MAX_NODES);
        return -1;
    }
    return id;
}

/* The configuration's member called name (its id in *id), or NULL with
 * why filled. */
static const struct raft_member *named_member(const struct member_table *t, const struct raft_configuration *c,
                                              const char *name, int *id, char *why, size_t why_cap)
{
    *id = member_table_find_name(t, name);
    const struct raft_member *m = *id >= 0 ? raft_configuration_find(c, *id) : NULL;
    if (!m)
        snprintf(why, why_cap, "no member named %s", name);
    return m;
}

int member_check_promote(const struct member_table *t, const struct raft_configuration *c, const char *name,
                         char *why, size_t why_cap)
{
    int id;
    const struct raft_member *m = named_member(t, c, name, &id, why, why_cap);
    if (!m)
        return -1;
    if (m->role == RAFT_VOTER) {
        snprintf(why, why_cap, "%s is already a voter", name);
        return -1;
    }
    return id;
}

int member_check_remove(const struct member_table *t, const struct raft_configuration *c, const char *name,
                        char *why, size_t why_cap)
{
    int id;
    const struct raft_member *m = named_member(t, c, name, &id, why, why_cap);
    if (!m)
        return -1;
    if (m->role == RAFT_VOTER && raft_configuration_voters(c) == 1) {
        snprintf(why, why_cap, "cannot remove the last voter");
        return -1;
    }
    return id;
}

bool member_tell_removed(const struct member_table *t, raft_index commit, const char *self, const char *sender)
{
    return t->index > 0 && t->index <= commit && strcmp(sender, self) != 0 && member_table_find_name(t, sender) < 0;
}

bool member_removal_applies(const char *self, const char *name, uint64_t index, uint64_t known)
{
    return strcmp(self, name) == 0 && index > known;
}

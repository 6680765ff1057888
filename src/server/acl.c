/* acl.c - users, rules, password checks and protected mode (acl.h). No
 * I/O but reading the two files at start-up. */
#include "server/acl.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Redis 7's text, with our options for its configuration directives. */
const char acl_protected_mode_error[] =
    "DENIED raftkv is running in protected mode because protected mode is enabled and no password is set for "
    "the default user. In this mode connections are only accepted from the loopback interface. If you want to "
    "connect from external computers to raftkv you may adopt one of the following solutions: 1) Just disable "
    "protected mode by setting 'protected-mode = no' in the --config file, however MAKE SURE raftkv is not "
    "publicly accessible from internet if you do so, and restart the server. 2) If you started the server "
    "manually just for testing, restart it with the '--protected-mode no' option. 3) Set up an authentication "
    "password for the default user with '--requirepass-file FILE' (or users with '--aclfile FILE'). NOTE: You "
    "only need to do one of the above things in order for the server to start accepting connections from the "
    "outside.";

void acl_sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

static void user_reset(struct acl_user *u, const char *name, size_t len)
{
    memset(u, 0, sizeof *u);
    memcpy(u->name, name, len);
    u->name[len] = '\0';
}

int acl_init(struct acl *a)
{
    command_table_init();
    memset(a, 0, sizeof *a);
    a->users = calloc(1, sizeof *a->users);
    if (!a->users)
        return -1;
    a->n_users = 1;
    struct acl_user *d = &a->users[0];
    user_reset(d, "default", 7);
    d->on = d->nopass = d->allkeys = true;
    d->allowed = ~(acl_mask)0;
    return 0;
}

void acl_free(struct acl *a)
{
    free(a->users);
    memset(a, 0, sizeof *a);
}

static int fail(char *err, size_t errlen, const char *fmt, const char *arg, size_t len)
{
    char quoted[80];
    snprintf(quoted, sizeof quoted, "%.*s", (int)(len > 60 ? 60 : len), arg);
    snprintf(err, errlen, fmt, quoted);
    return -1;
}

static bool word_is(const char *rule, size_t len, const char *w)
{
    return strlen(w) == len && strncasecmp(rule, w, len) == 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int add_password(struct acl_user *u, const uint8_t digest[32], char *err, size_t errlen)
{
    for (int i = 0; i < u->n_passwords; i++)
        if (memcmp(u->passwords[i], digest, 32) == 0)
            return 0;
    if (u->n_passwords >= ACL_MAX_PASSWORDS) {
        snprintf(err, errlen, "user '%s' has more than %d passwords", u->name, ACL_MAX_PASSWORDS);
        return -1;
    }
    memcpy(u->passwords[u->n_passwords++], digest, 32);
    u->nopass = false;
    return 0;
}

/* The ids a +/- command or category rule covers. */
static int rule_mask(const char *what, size_t len, acl_mask *mask, char *err, size_t errlen)
{
    size_t n = command_count_ids();
    *mask = 0;
    if (what[0] == '@') {
        if (word_is(what + 1, len - 1, "all")) {
            *mask = ~(acl_mask)0;
            return 0;
        }
        int cat = command_category_lookup(what + 1, len - 1);
        if (cat < 0)
            return fail(err, errlen, "unknown command category '%s'", what, len);
        for (size_t id = 0; id < n; id++)
            if (command_categories(command_by_id((int)id)) & CAT(cat))
                *mask |= (acl_mask)1 << id;
        return 0;
    }
    const struct command_def *c = command_lookup_full(what, len, true);
    if (!c)
        return fail(err, errlen, "unknown command '%s'", what, len);
    *mask |= (acl_mask)1 << c->id;
    for (size_t i = 0; i < c->n_subs; i++)
        *mask |= (acl_mask)1 << c->subs[i].id;
    return 0;
}

int acl_user_rule(struct acl_user *u, const char *rule, size_t len, char *err, size_t errlen)
{
    if (len == 0)
        return fail(err, errlen, "empty rule%s", "", 0);
    if (word_is(rule, len, "on")) {
        u->on = true;
    } else if (word_is(rule, len, "off")) {
        u->on = false;
    } else if (word_is(rule, len, "nopass")) {
        u->nopass = true;
        u->n_passwords = 0;
    } else if (word_is(rule, len, "resetpass")) {
        u->nopass = false;
        u->n_passwords = 0;
    } else if (rule[0] == '>') {
        if (len - 1 > ACL_MAX_PASSWORD_BYTES)
            return fail(err, errlen, "a password is longer than 4096 bytes%s", "", 0);
        uint8_t d[32];
        acl_sha256(rule + 1, len - 1, d);
        return add_password(u, d, err, errlen);
    } else if (rule[0] == '#') {
        uint8_t d[32];
        if (len != 65)
            return fail(err, errlen, "'%s' is not '#' and a SHA-256 in 64 hex digits", rule, len);
        for (int i = 0; i < 32; i++) {
            int hi = hexval(rule[1 + 2 * i]), lo = hexval(rule[2 + 2 * i]);
            if (hi < 0 || lo < 0)
                return fail(err, errlen, "'%s' is not '#' and a SHA-256 in 64 hex digits", rule, len);
            d[i] = (uint8_t)(hi << 4 | lo);
        }
        return add_password(u, d, err, errlen);
    } else if (word_is(rule, len, "~*") || word_is(rule, len, "allkeys")) {
        u->allkeys = true;
    } else if (word_is(rule, len, "resetkeys")) {
        u->allkeys = false;
    } else if (rule[0] == '~' || rule[0] == '%') {
        return fail(err, errlen, "key pattern '%s' is not supported (only ~* for every key)", rule, len);
    } else if (word_is(rule, len, "&*") || word_is(rule, len, "allchannels") ||
               word_is(rule, len, "resetchannels")) {
        /* no pub/sub: nothing to allow or deny */
    } else if (word_is(rule, len, "allcommands")) {
        u->allowed = ~(acl_mask)0;
    } else if (word_is(rule, len, "nocommands")) {
        u->allowed = 0;
    } else if (word_is(rule, len, "reset")) {
        char name[ACL_MAX_NAME + 1];
        memcpy(name, u->name, sizeof name);
        user_reset(u, name, strlen(name));
    } else if ((rule[0] == '+' || rule[0] == '-') && len > 1) {
        acl_mask mask;
        if (rule_mask(rule + 1, len - 1, &mask, err, errlen) != 0)
            return -1;
        if (rule[0] == '+')
            u->allowed |= mask;
        else
            u->allowed &= ~mask;
    } else {
        return fail(err, errlen, "unknown rule '%s'", rule, len);
    }
    return 0;
}

const struct acl_user *acl_find(const struct acl *a, const char *name, size_t len)
{
    for (size_t i = 0; i < a->n_users; i++)
        if (strlen(a->users[i].name) == len && memcmp(a->users[i].name, name, len) == 0)
            return &a->users[i];
    return NULL;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* The next whitespace-separated word of *p; its length, 0 at the end. */
static size_t next_word(const char **p, const char **word)
{
    const char *s = *p;
    while (*s && is_space(*s))
        s++;
    *word = s;
    while (*s && !is_space(*s))
        s++;
    *p = s;
    return (size_t)(s - *word);
}

/* users[0] is the default user; a line naming it starts it afresh. */
int acl_parse_line(struct acl *a, const char *line, char *err, size_t errlen)
{
    const char *p = line, *w;
    size_t n = next_word(&p, &w);
    if (n == 0 || w[0] == '#')
        return 0;
    if (!word_is(w, n, "user"))
        return fail(err, errlen, "expected 'user NAME rules...', not '%s'", w, n);
    const char *name;
    size_t nl = next_word(&p, &name);
    if (nl == 0)
        return fail(err, errlen, "'user' needs a name%s", "", 0);
    if (nl > ACL_MAX_NAME)
        return fail(err, errlen, "user name '%s...' is longer than 64 bytes", name, 40);
    for (size_t i = 0; i < nl; i++)
        if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e || name[i] == '|')
            return fail(err, errlen, "user name '%s' has a character other than printable ASCII", name, nl);
    struct acl_user *u = (struct acl_user *)acl_find(a, name, nl);
    bool is_default = u == &a->users[0];
    if (u && (!is_default || a->default_in_file))
        return fail(err, errlen, "user '%s' is defined twice", name, nl);
    struct acl_user fresh;
    user_reset(&fresh, name, nl);
    while ((n = next_word(&p, &w)) > 0)
        if (acl_user_rule(&fresh, w, n, err, errlen) != 0)
            return -1;
    if (is_default) {
        a->users[0] = fresh;
        a->default_in_file = true;
        return 0;
    }
    if (a->n_users >= ACL_MAX_USERS)
        return fail(err, errlen, "more than 1024 users%s", "", 0);
    struct acl_user *grown = realloc(a->users, (a->n_users + 1) * sizeof *grown);
    if (!grown)
        return fail(err, errlen, "out of memory%s", "", 0);
    a->users = grown;
    a->users[a->n_users++] = fresh;
    return 0;
}

/* Open a secret file: a regular file that other users cannot read. */
static FILE *open_secret(const char *what, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: cannot read: %s", what, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s %s: not a regular file", what, path);
        close(fd);
        return NULL;
    }
    if (st.st_mode & S_IROTH) {
        snprintf(err, errlen, "%s %s: readable by every user; refused (chmod 600 it)", what, path);
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        close(fd);
    }
    return f;
}

int acl_load_file(struct acl *a, const char *path, char *err, size_t errlen)
{
    FILE *f = open_secret("--aclfile", path, err, errlen);
    if (!f)
        return -1;
    /* The default user is off unless the file says otherwise. */
    struct acl_user saved_default = a->users[0];
    user_reset(&a->users[0], "default", 7);
    size_t saved_n = a->n_users;
    bool saved_in_file = a->default_in_file;
    char line[16384];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path, lineno, sizeof line - 2);
            rc = -1;
            break;
        }
        char why[256];
        if (acl_parse_line(a, line, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    fclose(f);
    if (rc != 0) {
        a->users[0] = saved_default;
        a->n_users = saved_n;
        a->default_in_file = saved_in_file;
        return -1;
    }
    a->from_file = true;
    return 0;
}

int acl_load_requirepass(struct acl *a, const char *path, char *err, size_t errlen)
{
    FILE *f = open_secret("--requirepass-file", path, err, errlen);
    if (!f)
        return -1;
    char *buf = malloc(ACL_MAX_PASSWORD_BYTES + 3);
    size_t n = buf ? fread(buf, 1, ACL_MAX_PASSWORD_BYTES + 2, f) : 0;
    int rc = -1;
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "--requirepass-file %s: out of memory", path);
        return -1;
    }
    /* One line: the password, with or without its line break. */
    size_t len = n;
    if (len && buf[len - 1] == '\n')
        len--;
    if (len && buf[len - 1] == '\r')
        len--;
    if (n > ACL_MAX_PASSWORD_BYTES + 1)
        snprintf(err, errlen, "--requirepass-file %s: longer than %d bytes", path, ACL_MAX_PASSWORD_BYTES);
    else if (len == 0)
        snprintf(err, errlen, "--requirepass-file %s: empty (the password is the file's one line)", path);
    else if (memchr(buf, '\n', len))
        snprintf(err, errlen, "--requirepass-file %s: more than one line (the password is the file's one line)",
                 path);
    else if (a->default_in_file)
        snprintf(err, errlen, "--requirepass-file %s: the --aclfile defines the default user too; set its "
                 "password in one place", path);
    else {
        struct acl_user *d = &a->users[0];
        uint8_t digest[32];
        acl_sha256(buf, len, digest);
        user_reset(d, "default", 7);
        d->on = d->allkeys = true;
        d->allowed = ~(acl_mask)0;
        rc = add_password(d, digest, err, errlen);
        a->has_password = rc == 0;
    }
    OPENSSL_cleanse(buf, ACL_MAX_PASSWORD_BYTES + 3);
    free(buf);
    return rc;
}

const struct acl_user *acl_authenticate(const struct acl *a, const char *user, size_t ul, const char *pw,
                                        size_t pl)
{
    static const uint8_t nothing[32] = {0};
    uint8_t digest[32];
    acl_sha256(pw, pl, digest);
    const struct acl_user *u = acl_find(a, user, ul);
    /* The same digest and comparisons whether or not the user exists. */
    int n = u ? u->n_passwords : 1;
    int match = 0;
    for (int i = 0; i < n; i++)
        match |= CRYPTO_memcmp(digest, u ? u->passwords[i] : nothing, 32) == 0;
    if (!u || !u->on)
        return NULL;
    return (u->nopass || match) ? u : NULL;
}

bool acl_default_open(const struct acl *a)
{
    return a->users[0].on && a->users[0].nopass;
}

enum acl_verdict acl_check(const struct acl_user *u, const struct command_def *c)
{
    if (c->flags & CMDF_NO_AUTH)
        return ACL_ALLOW;
    if (!u)
        return ACL_NOAUTH;
    if (!((u->allowed >> c->id) & 1))
        return ACL_NOPERM_CMD;
    if (c->first_key > 0 && !u->allkeys)
        return ACL_NOPERM_KEY;
    return ACL_ALLOW;
}

const char *acl_verdict_error(enum acl_verdict v, const struct command_def *c, char *buf, size_t cap)
{
    switch (v) {
    case ACL_NOAUTH:
        return "NOAUTH Authentication required.";
    case ACL_NOPERM_CMD:
        snprintf(buf, cap, "NOPERM this user has no permissions to run the '%s' command", c->name);
        return buf;
    case ACL_NOPERM_KEY:
        return "NOPERM this user has no permissions to access one of the keys used as arguments";
    case ACL_ALLOW:
    default:
        return NULL;
    }
}

bool acl_protected_refuses(const struct acl *a, bool protected_mode, const struct sockaddr *peer)
{
    if (!protected_mode || !acl_default_open(a))
        return false;
    if (peer->sa_family == AF_UNIX)
        return false;
    if (peer->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
        return in->sin_addr.s_addr != htonl(INADDR_LOOPBACK);
    }
    if (peer->sa_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(in6))
            return false;
        static const uint8_t mapped_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
        return memcmp(in6->s6_addr, mapped_loopback, 16) != 0;
    }
    return true;
}

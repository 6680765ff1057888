/* history.c - the run's history and its three file formats. */
#include "whirl/history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const whirl_ev_type_names[4] = {"invoke", "ok", "fail", "info"};
const char *const whirl_ev_f_names[9] = {"read", "write", "cas", "start-partition", "stop-partition",
                                         "kill", "restart", "pause", "resume"};

static void event_release(struct whirl_event *e)
{
    free(e->value_json);
    free(e->error_text);
    free(e->text);
}

long whirl_history_add(struct whirl_history *h, const struct whirl_event *e)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 4096;
        struct whirl_event *p = realloc(h->ev, cap * sizeof *p);
        if (!p) {
            struct whirl_event copy = *e;
            event_release(&copy);
            return -1;
        }
        h->ev = p;
        h->cap = cap;
    }
    h->ev[h->n] = *e;
    return (long)h->n++;
}

void whirl_history_free(struct whirl_history *h)
{
    for (size_t i = 0; i < h->n; i++)
        event_release(&h->ev[i]);
    free(h->ev);
    h->ev = NULL;
    h->n = h->cap = 0;
}

/* Writes s as a JSON string. */
static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* The event's value as JSON, as docs/STORE.md lays it out. */
static void put_value_json(FILE *f, const struct whirl_event *e)
{
    if (e->process == WHIRL_PROCESS_NEMESIS) {
        fputs(e->value_json ? e->value_json : "null", f);
        return;
    }
    switch (e->f) {
    case WHIRL_F_READ: fputs(e->type == WHIRL_EV_OK && e->value_json ? e->value_json : "null", f); break;
    case WHIRL_F_WRITE: fprintf(f, "%d", e->a); break;
    default: fprintf(f, "[%d,%d]", e->a, e->b); break;
    }
}

/* JSON text -> EDN text for the values whirl produces: null -> nil, commas
 * kept (EDN treats them as whitespace), strings unchanged, objects as maps. */
static void put_edn_from_json(FILE *f, const char *json)
{
    const char *p = json;
    while (*p) {
        if (*p == '"') {
            const char *q = p + 1;
            while (*q && *q != '"') {
                if (*q == '\\' && q[1])
                    q++;
                q++;
            }
            if (*q)
                q++;
            fwrite(p, 1, (size_t)(q - p), f);
            p = q;
        } else if (strncmp(p, "null", 4) == 0) {
            fputs("nil", f);
            p += 4;
        } else if (*p == ':') {
            fputc(' ', f);
            p++;
        } else {
            fputc(*p++, f);
        }
    }
}

static void put_edn_value(FILE *f, const struct whirl_event *e)
{
    if (e->process == WHIRL_PROCESS_NEMESIS) {
        put_edn_from_json(f, e->value_json ? e->value_json : "null");
        return;
    }
    fprintf(f, "[%lld ", (long long)e->key);
    switch (e->f) {
    case WHIRL_F_READ:
        put_edn_from_json(f, e->type == WHIRL_EV_OK && e->value_json ? e->value_json : "null");
        break;
    case WHIRL_F_WRITE: fprintf(f, "%d", e->a); break;
    default: fprintf(f, "[%d %d]", e->a, e->b); break;
    }
    fputc(']', f);
}

int whirl_history_write(const struct whirl_history *h, const char *dir, char **node_ids, char *err, size_t errlen)
{
    char path[4200];
    FILE *fj, *ft, *fe;
    snprintf(path, sizeof path, "%s/history.jsonl", dir);
    fj = fopen(path, "w");
    snprintf(path, sizeof path, "%s/history.txt", dir);
    ft = fopen(path, "w");
    snprintf(path, sizeof path, "%s/history.edn", dir);
    fe = fopen(path, "w");
    if (!fj || !ft || !fe) {
        snprintf(err, errlen, "cannot write the history into %s", dir);
        if (fj) fclose(fj);
        if (ft) fclose(ft);
        if (fe) fclose(fe);
        return -1;
    }
    for (size_t i = 0; i < h->n; i++) {
        const struct whirl_event *e = &h->ev[i];
        const char *type = whirl_ev_type_names[e->type];
        const char *fname = whirl_ev_f_names[e->f];
        int nemesis = e->process == WHIRL_PROCESS_NEMESIS;

        /* history.jsonl */
        fprintf(fj, "{\"index\":%zu,\"time\":%llu,\"process\":", i, (unsigned long long)e->time_ns);
        if (nemesis)
            fputs("\"nemesis\"", fj);
        else
            fprintf(fj, "%lld", (long long)e->process);
        fprintf(fj, ",\"type\":\"%s\",\"f\":\"%s\"", type, fname);
        if (!nemesis)
            fprintf(fj, ",\"key\":%lld", (long long)e->key);
        fputs(",\"value\":", fj);
        put_value_json(fj, e);
        if (!nemesis && e->node >= 0) {
            fputs(",\"node\":", fj);
            put_json_string(fj, node_ids[e->node]);
        }
        if (e->has_error) {
            fprintf(fj, ",\"error\":[%d,", e->error_code);
            put_json_string(fj, e->error_text ? e->error_text : "");
            fputc(']', fj);
        }
        if (e->text) {
            fputs(",\"text\":", fj);
            put_json_string(fj, e->text);
        }
        fputs("}\n", fj);

        /* history.txt: Jepsen's columns */
        if (nemesis)
            fputs(":nemesis", ft);
        else
            fprintf(ft, "%lld", (long long)e->process);
        fprintf(ft, "\t:%s\t:%s\t", type, fname);
        put_edn_value(ft, e);
        if (e->has_error) {
            fprintf(ft, "\t[%d ", e->error_code);
            put_json_string(ft, e->error_text ? e->error_text : "");
            fputc(']', ft);
        }
        fputc('\n', ft);

        /* history.edn: Jepsen's op maps */
        fprintf(fe, "{:type :%s, :f :%s, :value ", type, fname);
        put_edn_value(fe, e);
        if (nemesis)
            fputs(", :process :nemesis", fe);
        else
            fprintf(fe, ", :process %lld", (long long)e->process);
        fprintf(fe, ", :time %llu, :index %zu", (unsigned long long)e->time_ns, i);
        if (e->has_error) {
            fprintf(fe, ", :error [%d ", e->error_code);
            put_json_string(fe, e->error_text ? e->error_text : "");
            fputc(']', fe);
        }
        fputs("}\n", fe);
    }
    int bad = ferror(fj) || ferror(ft) || ferror(fe);
    bad |= fclose(fj) != 0;
    bad |= fclose(ft) != 0;
    bad |= fclose(fe) != 0;
    if (bad) {
        snprintf(err, errlen, "error writing the history into %s", dir);
        return -1;
    }
    return 0;
}

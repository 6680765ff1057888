/* history.h - the run's history of client operations and nemesis events, in
 * memory while the run goes, then written as history.jsonl, history.txt and
 * history.edn (formats in docs/STORE.md).
 */
#ifndef RAFTKV_WHIRL_HISTORY_H
#define RAFTKV_WHIRL_HISTORY_H

#include <stddef.h>
#include <stdint.h>

enum whirl_ev_type { WHIRL_EV_INVOKE, WHIRL_EV_OK, WHIRL_EV_FAIL, WHIRL_EV_INFO };
enum whirl_ev_f {
    WHIRL_F_READ, WHIRL_F_WRITE, WHIRL_F_CAS,
    WHIRL_F_START_PARTITION, WHIRL_F_STOP_PARTITION, WHIRL_F_KILL, WHIRL_F_RESTART,
    WHIRL_F_PAUSE, WHIRL_F_RESUME,
};

#define WHIRL_PROCESS_NEMESIS (-1)

struct whirl_event {
    uint64_t time_ns;
    int64_t process;      /* WHIRL_PROCESS_NEMESIS for faults */
    uint8_t type;         /* enum whirl_ev_type */
    uint8_t f;            /* enum whirl_ev_f */
    int node;             /* node index the request went to, -1 for none */
    int64_t key;
    int32_t a, b;         /* write value; cas from, to */
    char *value_json;     /* read ok: the value as compact JSON; nemesis: its value */
    int error_code;       /* when has_error */
    char *error_text;
    uint8_t has_error;
    char *text;           /* nemesis: a description */
};

struct whirl_history {
    struct whirl_event *ev;
    size_t n, cap;
};

extern const char *const whirl_ev_type_names[4];
extern const char *const whirl_ev_f_names[9];

/* Appends a copy of *e (owning its strings from now on). Returns its index,
 * or -1 when out of memory (the strings are then freed). */
long whirl_history_add(struct whirl_history *h, const struct whirl_event *e);
void whirl_history_free(struct whirl_history *h);

/* Writes history.jsonl, history.txt and history.edn into dir; node_ids names
 * the nodes by index. Returns 0 or -1 with err. */
int whirl_history_write(const struct whirl_history *h, const char *dir, char **node_ids, char *err, size_t errlen);

#endif

/* gen_corpus.c - writes the binary seed inputs of the fuzz corpora with the
 * project's own encoders: peer frames, WAL segments and snapshot files.
 * Run by gen_corpus.sh; the output is committed in tests/fuzz/corpus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "server/member_table.h"
#include "server/peer_codec.h"
#include "storage/crc32c.h"
#include "storage/le.h"
#include "storage/wal_format.h"

static const char *root;

static void put(const char *target, const char *name, uint8_t ctl, int with_ctl, const void *data,
                size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || (with_ctl && fwrite(&ctl, 1, 1, f) != 1) ||
        (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* A kv command as log-entry bytes: write key value, or cas key from to. */
static uint8_t *command(enum kv_op op, const char *key, const char *a, const char *b, size_t *len)
{
    struct kv_command c = {.op = op, .key = json_loads(key, JSON_DECODE_ANY, NULL)};
    if (op == KV_WRITE)
        c.value = json_loads(a, JSON_DECODE_ANY, NULL);
    if (op == KV_CAS) {
        c.from = json_loads(a, JSON_DECODE_ANY, NULL);
        c.to = json_loads(b, JSON_DECODE_ANY, NULL);
    }
    uint8_t *out;
    if (kv_command_encode(&c, &out, len) != 0)
        exit(1);
    json_decref(c.key);
    json_decref(c.value);
    json_decref(c.from);
    json_decref(c.to);
    return out;
}

static void peer_frames(void)
{
    struct peer_wbuf all = {0}, w = {0};
    struct peer_hello h = {.sender = "n1", .receiver = "n2", .cluster_fingerprint = 0x9e3779b97f4a7c15ull};
    peer_encode_hello(&w, &h);
    put("peer_frame", "hello", 0, 0, w.data, w.len);
    peer_encode_hello(&all, &h);
    peer_wbuf_free(&w);

    size_t l1, l2;
    uint8_t *c1 = command(KV_WRITE, "1", "3", NULL, &l1), *c2 = command(KV_CAS, "\"k\"", "3", "4", &l2);
    struct raft_entry entries[3] = {
        {.index = 8, .term = 2, .type = RAFT_ENTRY_NOOP},
        {.index = 9, .term = 2, .type = RAFT_ENTRY_COMMAND, .data = c1, .len = (uint32_t)l1},
        {.index = 10, .term = 3, .type = RAFT_ENTRY_COMMAND, .data = c2, .len = (uint32_t)l2},
    };
    const char *snap = "{\"1\":3,\"\\\"k\\\"\":[1,2]}";
    static const char *names[RAFT_MSG_TYPE_COUNT] = {"prevote", "prevote_resp", "vote", "vote_resp",
                                                     "append", "append_resp", "snapshot", "snapshot_resp",
                                                     "timeout_now"};
    for (int t = 0; t < RAFT_MSG_TYPE_COUNT; t++) {
        struct raft_msg m = {.type = (enum raft_msg_type)t, .from = 1, .to = 0, .term = 3,
                             .last_log_index = 10, .last_log_term = 3, .granted = t == RAFT_MSG_VOTE_RESP,
                             .seq = 5, .transfer = t == RAFT_MSG_VOTE};
        if (t == RAFT_MSG_APPEND) {
            m.prev_index = 7;
            m.prev_term = 2;
            m.commit = 7;
            m.entries = entries;
            m.n_entries = 3;
        }
        if (t == RAFT_MSG_APPEND_RESP || t == RAFT_MSG_SNAPSHOT_RESP) {
            m.success = t == RAFT_MSG_SNAPSHOT_RESP;
            m.match_index = 10;
            m.reject_index = 7;
            m.hint_index = 5;
            m.hint_term = 2;
        }
        if (t == RAFT_MSG_SNAPSHOT) {
            m.snap_index = 10;
            m.snap_term = 3;
            m.snap_data = (uint8_t *)snap;
            m.snap_len = strlen(snap);
        }
        char name[64];
        snprintf(name, sizeof name, "raft_%s", names[t]);
        if (peer_encode_raft(&w, &m) != PEER_OK)
            exit(1);
        put("peer_frame", name, 0, 0, w.data, w.len);
        peer_encode_raft(&all, &m);
        peer_wbuf_free(&w);
    }
    struct peer_proxy_req q = {.id = 77, .command = c2, .command_len = l2};
    peer_encode_proxy_req(&w, &q);
    put("peer_frame", "proxy_req", 0, 0, w.data, w.len);
    peer_encode_proxy_req(&all, &q);
    peer_wbuf_free(&w);
    struct peer_proxy_resp p = {.id = 77, .status = 0, .leader = 2, .kv_code = 22,
                                .result = (const uint8_t *)"[1,2]", .result_len = 5, .text = "precondition failed",
                                .text_len = 19};
    peer_encode_proxy_resp(&w, &p);
    put("peer_frame", "proxy_resp", 0, 0, w.data, w.len);
    peer_encode_proxy_resp(&all, &p);
    peer_wbuf_free(&w);
    /* A snapshot transfer: offer, a chunk (its CRC right), the answers. */
    struct peer_snap_offer o = {.id = 0x1234, .size = 3};
    o.msg = (struct raft_msg){.type = RAFT_MSG_SNAPSHOT, .from = 0, .to = 1, .term = 3, .commit = 9,
                              .seq = 4, .snap_index = 9, .snap_term = 2};
    peer_encode_snap_offer(&w, &o);
    put("peer_frame", "snap_offer", 0, 0, w.data, w.len);
    peer_encode_snap_offer(&all, &o);
    peer_wbuf_free(&w);
    static const uint8_t img[3] = {'R', 'K', 'V'};
    struct peer_snap_chunk ch = {.id = 0x1234, .offset = 0, .crc = crc32c(img, 3), .data = img, .len = 3};
    peer_encode_snap_chunk(&w, &ch);
    put("peer_frame", "snap_chunk", 0, 0, w.data, w.len);
    peer_encode_snap_chunk(&all, &ch);
    peer_wbuf_free(&w);
    struct peer_snap_ack ack = {.id = 0x1234, .offset = 3, .status = PEER_SNAP_GO_ON};
    peer_encode_snap_ack(&w, &ack);
    put("peer_frame", "snap_ack", 0, 0, w.data, w.len);
    peer_encode_snap_ack(&all, &ack);
    peer_wbuf_free(&w);
    ack.status = PEER_SNAP_REFUSED;
    peer_encode_snap_ack(&w, &ack);
    put("peer_frame", "snap_ack_refused", 0, 0, w.data, w.len);
    peer_wbuf_free(&w);
    /* MEMBERS (member_table.h's bytes: version 1, one member, id 0, voter,
     * "n1", "127.0.0.1", port 7101) and REMOVED. */
    static const uint8_t table[] = {1, 1, 0, 0, 2, 'n', '1', 9, '1', '2', '7', '.', '0', '.', '0', '.', '1',
                                    0x1b, 0xbd};
    peer_encode_members(&w, 12, table, sizeof table);
    put("peer_frame", "members", 0, 0, w.data, w.len);
    peer_encode_members(&all, 12, table, sizeof table);
    peer_wbuf_free(&w);
    peer_encode_removed(&w, 12, "n3");
    put("peer_frame", "removed", 0, 0, w.data, w.len);
    peer_encode_removed(&all, 12, "n3");
    peer_wbuf_free(&w);
    put("peer_frame", "stream", 0, 0, all.data, all.len);
    peer_wbuf_free(&all);
    free(c1);
    free(c2);
}

/* A segment starting at `first` with n records, terms 1,1,2,2,... */
static size_t segment(uint8_t *buf, uint64_t first, int n)
{
    wal_encode_header(buf, first);
    size_t off = WAL_HEADER_BYTES;
    for (int i = 0; i < n; i++) {
        size_t len;
        uint8_t *c = command(KV_WRITE, "1", i % 2 ? "\"x\"" : "5", NULL, &len);
        struct raft_entry e = {.index = first + (uint64_t)i, .term = 1 + (uint64_t)i / 2,
                               .type = i == 0 ? RAFT_ENTRY_NOOP : RAFT_ENTRY_COMMAND,
                               .data = i == 0 ? NULL : c, .len = i == 0 ? 0 : (uint32_t)len};
        wal_encode_record(buf + off, &e);
        off += WAL_RECORD_HEADER + e.len;
        free(c);
    }
    return off;
}

static void wal_segments(void)
{
    uint8_t buf[4096];
    size_t n = segment(buf, 1, 5);
    put("wal_record", "five_records", 0, 1, buf, n);
    put("wal_record", "five_records_snap2", 2 << 2 | 1 << 4, 1, buf, n); /* snapshot at 2, term 1 */
    put("wal_record", "torn_tail", 0, 1, buf, n - 7);
    memset(buf + n, 0, 64);
    put("wal_record", "zero_filled_tail", 0, 1, buf, n + 64);
    size_t m = segment(buf, 1, 3);
    buf[m - 1] ^= 0xff; /* a damaged last record */
    put("wal_record", "bad_crc_last", 0, 1, buf, m);
    put("wal_record", "bad_crc_fixed", 1, 1, buf, m);
    n = segment(buf, 6, 3);
    put("wal_record", "starts_at_6_snap5", 3 << 2 | 2 << 4, 1, buf, n);
    put("wal_record", "header_only", 0, 1, buf, WAL_HEADER_BYTES);
    /* Commit marks (wal.h): after entry 3 (naming 2) and at the end
     * (naming 5), as syncs write them; then one naming a term the log does
     * not hold, at the end (a torn tail) and before a record (damage). */
    n = segment(buf, 1, 5);
    size_t at = WAL_HEADER_BYTES;
    for (int r = 0; r < 3; r++)
        at += WAL_RECORD_HEADER + le_get32(buf + at);
    memmove(buf + at + WAL_RECORD_HEADER, buf + at, n - at);
    wal_encode_commit(buf + at, 2, 1);
    n += WAL_RECORD_HEADER;
    wal_encode_commit(buf + n, 5, 3);
    put("wal_record", "commit_marks", 0, 1, buf, n + WAL_RECORD_HEADER);
    put("wal_record", "commit_marks_snap2", 2 << 2 | 1 << 4, 1, buf, n + WAL_RECORD_HEADER);
    wal_encode_commit(buf + n, 5, 9);
    put("wal_record", "commit_mark_wrong_term", 0, 1, buf, n + WAL_RECORD_HEADER);
    wal_encode_commit(buf + at, 2, 7);
    put("wal_record", "commit_mark_wrong_term_mid", 0, 1, buf, n);
}

static void snapshot_of(const char *name, const struct kv_store *s, uint64_t index, uint64_t term)
{
    uint8_t *image;
    size_t len;
    if (kv_snapshot(s, index, term, &image, &len) != 0)
        exit(1);
    put("snapshot", name, 0, 1, image, len);
    free(image);
}

static void snapshots(void)
{
    struct kv_store *s = kv_store_new();
    snapshot_of("empty_map", s, 7, 1);
    const char *writes[][2] = {{"1", "3"}, {"\"k\"", "[1,2]"}, {"{\"a\":1}", "{\"b\":null}"},
                               {"2.5", "\"v\\\"q\""}, {"null", "true"}};
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        size_t len;
        uint8_t *c = command(KV_WRITE, writes[i][0], writes[i][1], NULL, &len);
        struct kv_result r;
        kv_apply_bytes(s, c, len, 0, &r);
        json_decref(r.value);
        free(c);
    }
    snapshot_of("five_keys", s, 42, 3);
    /* The cluster id, as the header's metadata entry. */
    struct kv_command id = {.op = KV_CLUSTER_ID, .value = json_string("0123456789abcdeffedcba9876543210")};
    struct kv_result r;
    kv_apply(s, &id, 0, &r);
    json_decref(id.value);
    if (r.code != 0)
        exit(1);
    snapshot_of("five_keys_cluster_id", s, 43, 3);
    /* More than one block (64 KiB each). */
    char key[32], value[80];
    for (int i = 0; i < 700; i++) {
        snprintf(key, sizeof key, "\"key:%d\"", i);
        snprintf(value, sizeof value, "\"%060d\"", i);
        size_t len;
        uint8_t *c = command(KV_WRITE, key, value, NULL, &len);
        struct kv_result r;
        kv_apply_bytes(s, c, len, 0, &r);
        free(c);
    }
    snapshot_of("two_blocks", s, 800, 4);
    kv_store_free(s);

    /* Since membership changes: the cluster id with the map's hash key
     * ("map_key"), and the configuration as of the image ("raft_config":
     * the core's bytes, then the server's member table), as a server writes
     * them after a RAFT.NODE ADD of a learner n4. */
    s = kv_store_new();
    struct kv_command idk = {.op = KV_CLUSTER_ID,
                             .value = json_string("00112233445566778899aabbccddeeff"),
                             .to = json_string("0f1e2d3c4b5a69788796a5b4c3d2e1f0")};
    kv_apply(s, &idk, 0, &r);
    json_decref(idk.value);
    json_decref(idk.to);
    if (r.code != 0)
        exit(1);
    uint8_t k16[16];
    if (!kv_cluster_id(s, k16))
        exit(1);
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "\"m%d\"", i);
        size_t len;
        uint8_t *c = command(KV_WRITE, key, "1", NULL, &len);
        kv_apply_bytes(s, c, len, 0, &r);
        free(c);
    }
    snapshot_of("map_key", s, 12, 2);
    struct member_table t = {.index = 11};
    for (int i = 0; i < 4; i++) {
        t.m[i].used = true;
        t.m[i].role = i == 3 ? RAFT_LEARNER : RAFT_VOTER;
        t.m[i].auto_promote = i == 3;
        snprintf(t.m[i].name, sizeof t.m[i].name, "n%d", i + 1);
        snprintf(t.m[i].host, sizeof t.m[i].host, "127.0.0.1");
        t.m[i].port = 7101 + i;
    }
    struct raft_configuration cfg;
    member_table_configuration(&t, &cfg);
    static uint8_t config[RAFT_CONFIGURATION_MAX_BYTES + MEMBER_TABLE_MAX_BYTES];
    size_t n = raft_configuration_encode(&cfg, config, sizeof config);
    size_t extra = n ? member_table_encode(&t, config + n, sizeof config - n) : 0;
    if (!extra || kv_set_configuration(s, 11, config, n + extra) != 0)
        exit(1);
    snapshot_of("map_key_raft_config", s, 12, 2);
    kv_store_free(s);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus CORPUS_DIR\n");
        return 64;
    }
    root = argv[1];
    peer_frames();
    wal_segments();
    snapshots();
    return 0;
}

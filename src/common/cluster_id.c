/* cluster_id.c - the cluster id's checks and text form (cluster_id.h). */
#include "common/cluster_id.h"

#include <string.h>

bool cluster_id_is_zero(const uint8_t id[CLUSTER_ID_BYTES])
{
    uint8_t any = 0;
    for (int i = 0; i < CLUSTER_ID_BYTES; i++)
        any |= id[i];
    return any == 0;
}

void cluster_id_hex(const uint8_t id[CLUSTER_ID_BYTES], char *buf)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < CLUSTER_ID_BYTES; i++) {
        buf[2 * i] = digits[id[i] >> 4];
        buf[2 * i + 1] = digits[id[i] & 15];
    }
    buf[CLUSTER_ID_HEX_LEN] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cluster_id_parse(const char *hex, size_t len, uint8_t id[CLUSTER_ID_BYTES])
{
    uint8_t out[CLUSTER_ID_BYTES];
    if (!hex || len != CLUSTER_ID_HEX_LEN)
        return -1;
    for (int i = 0; i < CLUSTER_ID_BYTES; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    if (cluster_id_is_zero(out))
        return -1;
    memcpy(id, out, sizeof out);
    return 0;
}

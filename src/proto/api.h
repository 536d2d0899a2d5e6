/*
 * api.h - the table of Kafka APIs that Runnel serves, one entry per schema file.
 *
 * Layer: src/proto. The table itself is generated (build/gen/proto_gen.c)
 * from the schema files; this header declares its shape so that hand-written
 * code can include it without the generated header.
 */
#ifndef RN_PROTO_API_H
#define RN_PROTO_API_H

#include <stdint.h>

typedef struct rn_api_desc {
    int16_t api_key;
    const char *name;
    int16_t min_version, max_version; /* the range served */
    int16_t flexible_min;             /* first flexible version; -1: never */
} rn_api_desc;

extern const rn_api_desc rn_api_table[];
extern const int rn_api_table_len;

/* Returns the entry for api_key, or NULL when Runnel does not serve it. */
const rn_api_desc *rn_api_find(int16_t api_key);

static inline int rn_api_is_flexible(const rn_api_desc *d, int16_t version)
{
    return d->flexible_min >= 0 && version >= d->flexible_min;
}

#endif

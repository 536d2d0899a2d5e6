/*
 * header.h - Kafka request and response headers, by hand (not in schema files).
 *
 * Layer: src/proto. Wire formats (big-endian), after the int32 frame size:
 *
 *   request header v1:  int16 api_key | int16 api_version | int32 correlation_id
 *                       | client_id: int16 length + bytes, -1 = null
 *   request header v2:  v1 + tagged-field section (KIP-482). client_id stays a
 *                       classic nullable string even in v2.
 *   response header v0: int32 correlation_id
 *   response header v1: v0 + tagged-field section (always empty from Runnel)
 *
 * A request uses header v2 when its API's version is flexible, else v1; the
 * response header follows suit (v1 / v0), with one exception: ApiVersions
 * responses always use header v0, so that a client that does not yet know
 * the broker's versions can read the error code (KIP-511).
 *
 * Threads: stateless; any thread.
 */
#ifndef RN_PROTO_HEADER_H
#define RN_PROTO_HEADER_H

#include <stdint.h>

#include "common/buf.h"

typedef struct rn_request_header {
    int16_t api_key, api_version;
    int32_t correlation_id;
    rn_str client_id; /* points into the reader's buffer; len -1 = null */
} rn_request_header;

/* Reads a request header. The v1 part is always read. When api_key is served
 * (rn_api_find) and api_version is within its served range and flexible, the
 * header's tagged fields are read (and skipped) too and *flexible_out is 1:
 * the body is then in the flexible encoding. ApiVersions follows Kafka: its
 * header is v2 for every version >= 3, even one above the served range
 * (a newer client); the body of such a request is not to be parsed.
 * For an unknown API or an unserved version otherwise, *flexible_out is 0 and
 * 0 is returned: the caller answers UNSUPPORTED_VERSION.
 * Returns 0, or -1 when the bytes are malformed (r->err set). */
int rn_request_header_decode(rn_reader *r, rn_request_header *h, int *flexible_out);

/* Writes a response header: v1 (with an empty tagged-field section) when
 * flexible, else v0. Callers pass flexible = 0 for ApiVersions responses,
 * whatever the request version (ApiVersions responses always use header v0).
 * Failures show up as w->oom. */
void rn_response_header_encode(rn_writer *w, int32_t correlation_id, int flexible);

#endif

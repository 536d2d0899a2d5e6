/* header.c - request/response headers; see header.h for formats and rules. */
#include "proto/header.h"

#include "proto/api.h"

#define RN_APIKEY_API_VERSIONS 18

/* Whether the request header for (api_key, version) is v2. */
static int header_is_flexible(int16_t api_key, int16_t version)
{
    const rn_api_desc *d = rn_api_find(api_key);
    if (!d)
        return 0;
    if (api_key == RN_APIKEY_API_VERSIONS && version > d->max_version)
        return rn_api_is_flexible(d, version); /* Kafka: v2 for every version >= 3 */
    if (version < d->min_version || version > d->max_version)
        return 0;
    return rn_api_is_flexible(d, version);
}

int rn_request_header_decode(rn_reader *r, rn_request_header *h, int *flexible_out)
{
    *flexible_out = 0;
    h->api_key = rn_get_i16(r);
    h->api_version = rn_get_i16(r);
    h->correlation_id = rn_get_i32(r);
    h->client_id = rn_get_string(r, 0, 1);
    if (r->err)
        return -1;
    if (header_is_flexible(h->api_key, h->api_version)) {
        rn_skip_unknown_tags(r); /* no header tags are defined yet */
        if (r->err)
            return -1;
        *flexible_out = 1;
    }
    return 0;
}

void rn_response_header_encode(rn_writer *w, int32_t correlation_id, int flexible)
{
    rn_put_i32(w, correlation_id);
    if (flexible)
        rn_put_uvarint(w, 0); /* empty tagged-field section */
}

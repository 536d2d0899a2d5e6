/* bin.c - flat big-endian records and FNV-1a; see bin.h for the contract. */
#include "common/bin.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void rn_bin_store_be(uint8_t *p, uint64_t v, int nbytes)
{
    assert(nbytes >= 1 && nbytes <= 8);
    for (int i = nbytes - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t rn_bin_load_be(const uint8_t *p, int nbytes)
{
    assert(nbytes >= 1 && nbytes <= 8);
    uint64_t v = 0;
    for (int i = 0; i < nbytes; i++)
        v = (v << 8) | p[i];
    return v;
}

/* ---- writing ---- */

void rn_bin_put_raw(rn_bin_writer *w, const void *data, size_t n)
{
    if (n == 0)
        return;
    if (n > w->cap - w->len) {
        if (n > SIZE_MAX / 4 - w->len)
            abort(); /* no record comes near this; doubling would overflow */
        size_t cap = w->cap ? w->cap * 2 : 256;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb)
            abort();
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
    assert(w->len <= w->cap);
}

void rn_bin_put_be(rn_bin_writer *w, uint64_t v, int nbytes)
{
    uint8_t t[8];
    rn_bin_store_be(t, v, nbytes);
    rn_bin_put_raw(w, t, (size_t)nbytes);
}

void rn_bin_put_str(rn_bin_writer *w, const char *s)
{
    if (!s) {
        rn_bin_put_be(w, (uint16_t)-1, 2);
        return;
    }
    size_t n = strlen(s);
    rn_bin_put_be(w, n, 2);
    rn_bin_put_raw(w, s, n);
}

void rn_bin_put_bytes(rn_bin_writer *w, const uint8_t *p, int32_t len)
{
    rn_bin_put_be(w, (uint32_t)(len < 0 ? 0 : len), 4);
    if (len > 0)
        rn_bin_put_raw(w, p, (size_t)len);
}

void rn_bin_writer_release(rn_bin_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}

/* ---- reading ---- */

uint64_t rn_bin_get_be(rn_bin_reader *r, int nbytes)
{
    assert(r->p <= r->end);
    if (r->end - r->p < nbytes) {
        r->err = 1;
        return 0;
    }
    uint64_t v = rn_bin_load_be(r->p, nbytes);
    r->p += nbytes;
    return v;
}

char *rn_bin_get_str_dup(rn_bin_reader *r)
{
    int16_t n = (int16_t)rn_bin_get_be(r, 2);
    if (r->err || n < 0)
        return NULL;
    if (r->end - r->p < n) {
        r->err = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s)
        abort();
    memcpy(s, r->p, (size_t)n);
    s[n] = 0;
    r->p += n;
    return s;
}

/* ---- hashing ---- */

uint64_t rn_hash_bytes(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64-bit offset basis */
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL; /* FNV-1a 64-bit prime */
    }
    return h;
}

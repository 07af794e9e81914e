/* timeline_history.c - parsing timeline history files (see timeline_history.h). */
#include "walship/timeline_history.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Parses digits of the given base from *p up to `end`; at least one, no
 * overflow past max. */
static bool parse_num(const char **p, const char *end, unsigned base, uint64_t max, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;

    if (s == end)
        return false;
    for (; s < end; s++) {
        unsigned d;

        if (*s >= '0' && *s <= '9')
            d = (unsigned) (*s - '0');
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned) (*s - 'A' + 10);
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned) (*s - 'a' + 10);
        else
            break;
        if (v > (max - d) / base)
            return false;
        v = v * base + d;
    }
    if (s == *p)
        return false;
    *p = s;
    *out = v;
    return true;
}

static int add_entry(ws_tli_history *h, size_t *cap, uint32_t tli, uint64_t begin, uint64_t end, ws_err *err)
{
    if (h->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        ws_tli_entry *ne = realloc(h->e, ncap * sizeof *ne);

        if (!ne)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        h->e = ne;
        *cap = ncap;
    }
    h->e[h->n].tli = tli;
    h->e[h->n].begin = begin;
    h->e[h->n].end = end;
    h->n++;
    return 0;
}

/* Parses one non-comment line [p, end) into tli and switchpoint. */
static int parse_line(const char *p, const char *end, uint32_t *tli, uint64_t *lsn, const char *what, unsigned lineno,
                      ws_err *err)
{
    uint64_t t, hi, lo;

    if (!parse_num(&p, end, 10, UINT32_MAX, &t))
        return ws_err_set(err, WS_ERR_INVALID, "%s:%u: syntax error: expected a numeric timeline ID", what, lineno);
    if (p == end || !is_blank(*p))
        return ws_err_set(err, WS_ERR_INVALID, "%s:%u: syntax error: expected a tab after the timeline ID", what,
                          lineno);
    while (p < end && is_blank(*p))
        p++;
    if (!parse_num(&p, end, 16, UINT32_MAX, &hi) || p == end || *p != '/')
        return ws_err_set(err, WS_ERR_INVALID, "%s:%u: syntax error: expected a switchpoint location X/X", what,
                          lineno);
    p++;
    if (!parse_num(&p, end, 16, UINT32_MAX, &lo))
        return ws_err_set(err, WS_ERR_INVALID, "%s:%u: syntax error: expected a switchpoint location X/X", what,
                          lineno);
    /* Anything after white space is the free-text reason. */
    if (p < end && !is_blank(*p))
        return ws_err_set(err, WS_ERR_INVALID, "%s:%u: syntax error: junk after the switchpoint location", what,
                          lineno);
    if (t == 0)
        return ws_err_set(err, WS_ERR_INVALID, "%s:%u: timeline ID 0 is not valid", what, lineno);
    *tli = (uint32_t) t;
    *lsn = hi << 32 | lo;
    return 0;
}

int ws_tli_history_parse(const char *buf, size_t len, uint32_t tli, const char *what, ws_tli_history *out, ws_err *err)
{
    const char *p = buf, *end = buf + len;
    uint64_t prev_end = 0;
    size_t cap = 0;
    unsigned lineno = 0;

    out->n = 0;
    out->e = NULL;
    if (memchr(buf, '\0', len))
        return ws_err_set(err, WS_ERR_INVALID, "%s: not a text file (contains NUL bytes)", what);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t) (end - p));
        const char *lend = eol ? eol : end;
        uint32_t t = 0;
        uint64_t lsn = 0;

        lineno++;
        while (p < lend && is_blank(*p))
            p++;
        if (p < lend && *p != '#') {
            if (parse_line(p, lend, &t, &lsn, what, lineno, err) < 0)
                goto fail;
            if (out->n > 0 && t <= out->e[out->n - 1].tli) {
                ws_err_set(err, WS_ERR_INVALID, "%s:%u: timeline IDs must increase (%" PRIu32 " after %" PRIu32 ")",
                           what, lineno, t, out->e[out->n - 1].tli);
                goto fail;
            }
            if (lsn < prev_end) {
                ws_err_set(err, WS_ERR_INVALID, "%s:%u: switchpoint goes back from the previous line", what, lineno);
                goto fail;
            }
            if (add_entry(out, &cap, t, prev_end, lsn, err) < 0)
                goto fail;
            prev_end = lsn;
        }
        p = eol ? eol + 1 : end;
    }
    if (out->n == 0) {
        ws_err_set(err, WS_ERR_INVALID, "%s: no timeline listed", what);
        goto fail;
    }
    if (out->e[out->n - 1].tli >= tli) {
        ws_err_set(err, WS_ERR_INVALID, "%s: timeline %" PRIu32 " listed, but the file is for timeline %" PRIu32, what,
                   out->e[out->n - 1].tli, tli);
        goto fail;
    }
    if (add_entry(out, &cap, tli, prev_end, WS_LSN_END, err) < 0)
        goto fail;
    return 0;
fail:
    ws_tli_history_free(out);
    return -1;
}

void ws_tli_history_free(ws_tli_history *h)
{
    free(h->e);
    h->e = NULL;
    h->n = 0;
}

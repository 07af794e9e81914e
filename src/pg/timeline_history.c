/* timeline_history.c - timeline history files as PostgreSQL reads them (see timeline_history.h). */
#include "walship/timeline_history.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/buf.h"

/* PostgreSQL reads the file with fgets() into a buffer of MAXPGPATH
 * (1024) bytes: a longer line is read as several. */
#define PG_LINE_BUF 1024

/* isspace() in the C locale. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int add_entry(ws_tli_history *h, size_t *cap, uint32_t tli, uint64_t begin, uint64_t end, ws_err *err)
{
    void *v = h->e;

    if (ws_buf_grow_array(&v, cap, h->n + 1, sizeof *h->e, err) < 0)
        return -1;
    h->e = v;
    h->e[h->n].tli = tli;
    h->e[h->n].begin = begin;
    h->e[h->n].end = end;
    h->n++;
    return 0;
}

int ws_tli_history_parse(const char *buf, size_t len, uint32_t tli, const char *what, ws_tli_history *out, ws_err *err)
{
    const char *p = buf, *end = buf + len;
    uint64_t prevend = 0;
    uint32_t lasttli = 0;
    size_t cap = 0;
    unsigned lineno = 1;

    out->n = 0;
    out->e = NULL;
    while (p < end) {
        char line[PG_LINE_BUF];
        size_t n = 0;
        const char *s;
        unsigned this_line = lineno;
        unsigned t, hi, lo;
        int nfields;

        /* One fgets(): through a newline, at most PG_LINE_BUF - 1 bytes.
         * The text ends at a NUL byte, as a C string does. */
        while (p < end && n < sizeof line - 1) {
            line[n++] = *p;
            if (*p++ == '\n') {
                lineno++;
                break;
            }
        }
        line[n] = '\0';
        for (s = line; *s && is_space(*s); s++)
            ;
        if (*s == '\0' || *s == '#')
            continue;
        /* The line syntax is sscanf()'s, as in readTimeLineHistory. */
        nfields = sscanf(line, "%u\t%X/%X", &t, &hi, &lo);
        if (nfields < 1) {
            ws_err_set(err, WS_ERR_INVALID, "%s:%u: syntax error: expected a numeric timeline ID", what, this_line);
            goto fail;
        }
        if (nfields != 3) {
            ws_err_set(err, WS_ERR_INVALID, "%s:%u: syntax error: expected a switchpoint location X/X", what,
                       this_line);
            goto fail;
        }
        if (out->n > 0 && t <= lasttli) {
            ws_err_set(err, WS_ERR_INVALID, "%s:%u: timeline IDs must increase (%u after %" PRIu32 ")", what, this_line,
                       t, lasttli);
            goto fail;
        }
        lasttli = t;
        /* Switchpoints need not increase: the entry may be empty. */
        if (add_entry(out, &cap, t, prevend, (uint64_t) hi << 32 | lo, err) < 0)
            goto fail;
        prevend = (uint64_t) hi << 32 | lo;
    }
    if (out->n > 0 && tli <= lasttli) {
        ws_err_set(err, WS_ERR_INVALID, "%s: timeline %" PRIu32 " listed, but the file is for timeline %" PRIu32, what,
                   lasttli, tli);
        goto fail;
    }
    /* The file's own timeline, from the last switchpoint on. */
    if (add_entry(out, &cap, tli, prevend, WS_LSN_END, err) < 0)
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

/* An entry's bounds as PostgreSQL's InvalidXLogRecPtr (0) reads them: a
 * begin of 0 bounds nothing below, an end of 0 nothing above. */
static bool entry_holds(const ws_tli_entry *e, uint64_t lsn)
{
    return (e->begin == 0 || e->begin <= lsn) && (e->end == 0 || lsn < e->end);
}

uint32_t ws_tli_history_tli_at(const ws_tli_history *h, uint64_t lsn)
{
    for (size_t i = h->n; i-- > 0;)
        if (entry_holds(&h->e[i], lsn))
            return h->e[i].tli;
    return 0;
}

bool ws_tli_history_switch_point(const ws_tli_history *h, uint32_t tli, uint64_t *end, uint32_t *next)
{
    uint32_t newer = 0;

    for (size_t i = h->n; i-- > 0;) {
        if (h->e[i].tli == tli) {
            *end = h->e[i].end;
            *next = newer;
            return true;
        }
        newer = h->e[i].tli;
    }
    return false;
}

bool ws_tli_entry_may_hold_segment(const ws_tli_entry *e, uint64_t segno, uint32_t seg_size)
{
    return e->begin == 0 || segno >= e->begin / seg_size;
}

uint64_t ws_tli_history_newer_from(const ws_tli_history *h, uint32_t tli, uint32_t seg_size)
{
    uint64_t from = UINT64_MAX;
    size_t i = 0;

    while (i < h->n && h->e[i].tli != tli)
        i++;
    for (i++; i < h->n; i++) {
        uint64_t s = h->e[i].begin == 0 ? 0 : h->e[i].begin / seg_size;

        if (s < from)
            from = s;
    }
    return from;
}

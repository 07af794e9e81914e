/*
 * meta.c - the small name/value set stored beside an object.
 *
 * The rules are the intersection of what S3 (x-amz-meta-* headers) and Linux
 * user xattrs round-trip unchanged: lower-case names, printable ASCII values
 * without leading or trailing blanks (HTTP trims those).
 */
#include <string.h>

#include "walship/storage.h"

bool ws_meta_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n >= WS_META_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

bool ws_meta_value_valid(const char *value)
{
    size_t n = strlen(value);

    if (n >= WS_META_VALUE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (value[i] < 0x20 || value[i] > 0x7e)
            return false;
    if (n > 0 && (value[0] == ' ' || value[n - 1] == ' '))
        return false;
    return true;
}

static int check_entry(const char *name, const char *value, ws_err *err)
{
    if (!ws_meta_name_valid(name))
        return ws_err_set(err, WS_ERR_INVALID, "invalid metadata name '%.*s': want 1..%d characters of [a-z0-9-]",
                          WS_META_NAME_MAX, name, WS_META_NAME_MAX - 1);
    if (!ws_meta_value_valid(value))
        return ws_err_set(err, WS_ERR_INVALID,
                          "invalid value for metadata '%s': want at most %d printable ASCII "
                          "characters without leading or trailing blanks",
                          name, WS_META_VALUE_MAX - 1);
    return 0;
}

int ws_meta_set(ws_meta *m, const char *name, const char *value, ws_err *err)
{
    if (check_entry(name, value, err) < 0)
        return -1;
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->e[i].name, name) == 0) {
            strcpy(m->e[i].value, value);
            return 0;
        }
    }
    if (m->n >= WS_META_MAX)
        return ws_err_set(err, WS_ERR_INVALID, "cannot add metadata '%s': already %d entries", name, WS_META_MAX);
    strcpy(m->e[m->n].name, name);
    strcpy(m->e[m->n].value, value);
    m->n++;
    return 0;
}

const char *ws_meta_get(const ws_meta *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->e[i].name, name) == 0)
            return m->e[i].value;
    return NULL;
}

int ws_meta_check(const ws_meta *m, ws_err *err)
{
    if (m->n > WS_META_MAX)
        return ws_err_set(err, WS_ERR_INVALID, "metadata has %zu entries, at most %d allowed", m->n, WS_META_MAX);
    for (size_t i = 0; i < m->n; i++) {
        /* Entries filled by hand may lack their terminator. */
        if (!memchr(m->e[i].name, '\0', sizeof m->e[i].name) || !memchr(m->e[i].value, '\0', sizeof m->e[i].value))
            return ws_err_set(err, WS_ERR_INVALID, "metadata entry %zu is not terminated", i);
        if (check_entry(m->e[i].name, m->e[i].value, err) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->e[i].name, m->e[j].name) == 0)
                return ws_err_set(err, WS_ERR_INVALID, "metadata '%s' appears twice", m->e[i].name);
    }
    return 0;
}

/*
 * backup_list.h - `walship backups`: the catalog as a table or JSON, read
 * from the records only; `walship backups-clean`: removing what interrupted
 * backups left.
 */
#ifndef WALSHIP_BACKUP_LIST_H
#define WALSHIP_BACKUP_LIST_H

#include <stdbool.h>
#include <stdio.h>

#include "walship/error.h"
#include "walship/repo_object.h"

/* Prints every record: a table (id, status, stop time, stop LSN, timeline,
 * size, stored, duration) or a JSON array of the records.  A record that
 * cannot be read is listed as "unreadable" with its error and makes the
 * call fail after the listing. */
int ws_backup_list_print(ws_repo *repo, bool json, FILE *out, ws_err *err);

/* Cleans up interrupted backups, saying what was removed on out. */
int ws_backup_list_clean(ws_repo *repo, FILE *out, ws_err *err);

#endif

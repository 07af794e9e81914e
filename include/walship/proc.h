/*
 * proc.h - facts about a running process from /proc (Linux): its parent
 * and its start time, which tells it apart from a later process that got
 * the same pid.
 */
#ifndef WALSHIP_PROC_H
#define WALSHIP_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "walship/error.h"

/* A process, told apart from a later one with the same pid by its start
 * time (field 22 of /proc/PID/stat). */
typedef struct ws_proc_id {
    pid_t pid;
    unsigned long long start;
} ws_proc_id;

/* Reads pid's parent and start time from /proc; -1 when it does not exist. */
int ws_proc_read(pid_t pid, pid_t *ppid, unsigned long long *start, ws_err *err);

/* True while the process runs (not a zombie, same start time). */
bool ws_proc_alive(const ws_proc_id *p);

#endif

/*
 * log.h - one-line messages to stderr: "progname: LEVEL: message".
 *
 * The rule: only the command layers log -- src/cmd/, and the modules of
 * src/archive/, src/restore/, src/backup/ and src/tool/ (what a command
 * does, as it does it).  The layers below them (common, io, storage, pg,
 * repo) never log: they return errors (error.h) and results, and the
 * command layer decides what is said.  One exception, listed in
 * doc/architecture.md: the S3 driver says which source supplied its
 * credentials (s3_creds.c).  The program name and the level are
 * set once at start-up from the configuration and are the only process
 * state here.
 */
#ifndef WALSHIP_LOG_H
#define WALSHIP_LOG_H

#include "walship/config.h"
#include "walship/error.h"

/* Sets the name shown before each message (directories are stripped) and
 * the most verbose level printed.  Before this: "walship" and notice. */
void ws_log_init(const char *progname, ws_log_level level);

/* Prints the message when level is at or above the configured severity. */
void ws_log(ws_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints err's message at ERROR level. */
void ws_log_err(const ws_err *err);

ws_log_level ws_log_get_level(void);

/* The levels' names as settings spell them, indexed by ws_log_level,
 * NULL-terminated; and one of them ("unknown" when out of range). */
extern const char *const ws_log_level_names[];
const char *ws_log_level_name(ws_log_level l);

#endif

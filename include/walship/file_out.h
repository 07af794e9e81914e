/*
 * file_out.h - a local file written atomically: a temp file in the same
 * directory receives the bytes through a sink; commit fsyncs it, renames it
 * over the final path and fsyncs the directory.  Until commit nothing exists
 * under the final name; freeing without commit removes the temp file.
 */
#ifndef WALSHIP_FILE_OUT_H
#define WALSHIP_FILE_OUT_H

#include "walship/sink.h"

typedef struct ws_file_out ws_file_out;

ws_file_out *ws_file_out_open(const char *path, int mode, ws_err *err);
ws_sink *ws_file_out_sink(ws_file_out *f);
int ws_file_out_commit(ws_file_out *f, ws_err *err);
void ws_file_out_free(ws_file_out *f);

/* fsync a directory (after a rename or a create within it). */
int ws_fsync_dir(const char *dir, ws_err *err);

#endif

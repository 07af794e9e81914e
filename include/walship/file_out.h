/*
 * file_out.h - a local file written atomically through a sink: a temp file
 * in the same directory (localfile.h) receives the bytes; commit fsyncs it,
 * renames it over the final path and fsyncs the directory.  Until commit
 * nothing exists under the final name; freeing without commit removes the
 * temp file.
 */
#ifndef WALSHIP_FILE_OUT_H
#define WALSHIP_FILE_OUT_H

#include "walship/sink.h"

typedef struct ws_file_out ws_file_out;

ws_file_out *ws_file_out_open(const char *path, int mode, ws_err *err);
ws_sink *ws_file_out_sink(ws_file_out *f);
int ws_file_out_commit(ws_file_out *f, ws_err *err);
/* Commit with localfile.h's WS_LOCALFILE_* flags (WS_LOCALFILE_NOSYNC: the
 * rename without either fsync, for a reader that makes it durable itself). */
int ws_file_out_commit_flags(ws_file_out *f, unsigned flags, ws_err *err);
void ws_file_out_free(ws_file_out *f);

#endif

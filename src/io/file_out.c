/* file_out.c - a local file written through a sink, appearing atomically (see file_out.h). */
#include "walship/file_out.h"

#include <stdlib.h>

#include "walship/localfile.h"

struct ws_file_out {
    ws_localfile_tmp tmp;
    ws_sink *fd_sink;
};

ws_file_out *ws_file_out_open(const char *path, int mode, ws_err *err)
{
    ws_file_out *f = calloc(1, sizeof *f);

    if (!f) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (ws_localfile_tmp_create(path, mode, &f->tmp, err) < 0) {
        free(f);
        return NULL;
    }
    f->fd_sink = ws_sink_fd_new(f->tmp.fd, path);
    if (!f->fd_sink) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        ws_file_out_free(f);
        return NULL;
    }
    return f;
}

ws_sink *ws_file_out_sink(ws_file_out *f)
{
    return f->fd_sink;
}

int ws_file_out_commit(ws_file_out *f, ws_err *err)
{
    return ws_localfile_tmp_commit(&f->tmp, 0, err);
}

int ws_file_out_commit_flags(ws_file_out *f, unsigned flags, ws_err *err)
{
    return ws_localfile_tmp_commit(&f->tmp, flags, err);
}

void ws_file_out_free(ws_file_out *f)
{
    if (!f)
        return;
    ws_sink_free(f->fd_sink);
    ws_localfile_tmp_discard(&f->tmp);
    free(f);
}

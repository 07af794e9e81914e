/*
 * codec_bench.c - throughput of the object codec on real WAL segments.
 *
 * Usage: codec_bench [--reps N] [--rss-gib G] [--only ID,...] [--tsv] DIR
 *
 * Loads every regular file in DIR (normally 64 WAL segments of 16 MiB, see
 * bench/make-wal-corpus) into memory once, so file I/O is excluded, then
 * times each filter alone and the whole encoder / decoder chain over all of
 * them, one object per segment, written in WS_IO_BLOCK pieces as
 * ws_sink_pump_fd() does.  Every figure is plaintext MB (10^6 bytes) per second
 * of wall-clock time and per second of CPU time (all threads), each the
 * median of --reps runs.  Before loading the corpus it streams a G GiB
 * object (segments cycled, read in blocks) through encoder -> decoder with
 * lz4 + AES-256-GCM and reports the process's peak RSS, which shows that
 * memory stays bounded whatever the object size.
 *
 * Output is a Markdown table, or with --tsv one "id<TAB>label<TAB>value..."
 * line per figure for bench/run-codec-bench to merge with the raw tools.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "walship/codec.h"
#include "walship/filter_aesgcm.h"
#include "walship/filter_lz4.h"
#include "walship/filter_sha256.h"
#include "walship/key.h"
#include "walship/log.h"
#include "walship/sink.h"

#define MAX_REPS 101

typedef struct {
    uint8_t *data;
    size_t len;
} blob;

typedef struct {
    char **names; /* full paths, sorted */
    size_t n;
} file_list;

typedef enum {
    OP_SHA256,
    OP_LZ4_COMPRESS,
    OP_LZ4_DECOMPRESS,
    OP_GCM_ENCRYPT,
    OP_GCM_DECRYPT,
    OP_ENCODE,
    OP_DECODE
} op_kind;

/* One measurement: which stage(s), with what options, on which input. */
typedef struct {
    const char *id;
    const char *label;
    op_kind kind;
    bool encrypt;  /* OP_ENCODE: with a key */
    bool pipeline; /* OP_ENCODE: codec_opts.pipeline */
} op_def;

typedef struct {
    ws_key *key;                        /* for the codec */
    uint8_t gcm_key[WS_AESGCM_KEY_LEN]; /* for the bare AES-GCM filter */
    uint8_t aad[WS_HEADER_LEN];         /* stands in for the object header */
} bench_keys;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
           (double) ru.ru_stime.tv_usec / 1e6;
}

static long peak_rss_kib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* KiB on Linux */
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}

static void file_list_free(file_list *fl)
{
    for (size_t i = 0; i < fl->n; i++)
        free(fl->names[i]);
    free(fl->names);
    fl->names = NULL;
    fl->n = 0;
}

/* The non-empty regular files of dir, not starting with '.', sorted. */
static int list_dir(const char *dir, file_list *fl, ws_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t cap = 0;

    fl->names = NULL;
    fl->n = 0;
    if (!d)
        return ws_err_sys(err, errno, "could not open directory \"%s\"", dir);
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        char *path;

        if (de->d_name[0] == '.')
            continue;
        if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
            ws_err_set(err, WS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
            free(path);
            continue;
        }
        if (fl->n == cap) {
            char **p = realloc(fl->names, (cap ? cap * 2 : 64) * sizeof *p);

            if (!p) {
                free(path);
                ws_err_set(err, WS_ERR_NOMEM, "out of memory");
                goto fail;
            }
            fl->names = p;
            cap = cap ? cap * 2 : 64;
        }
        fl->names[fl->n++] = path;
    }
    closedir(d);
    if (fl->n == 0)
        return ws_err_set(err, WS_ERR_INVALID, "no input files in \"%s\" (run bench/make-wal-corpus)", dir);
    qsort(fl->names, fl->n, sizeof *fl->names, cmp_str);
    return 0;
fail:
    closedir(d);
    file_list_free(fl);
    return -1;
}

static int read_file(const char *path, blob *out, ws_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    size_t got = 0;

    if (fd < 0)
        return ws_err_sys(err, errno, "could not open \"%s\"", path);
    if (fstat(fd, &st) < 0) {
        ws_err_sys(err, errno, "could not stat \"%s\"", path);
        goto fail;
    }
    out->len = (size_t) st.st_size;
    out->data = malloc(out->len ? out->len : 1);
    if (!out->data) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory reading \"%s\"", path);
        goto fail;
    }
    while (got < out->len) {
        ssize_t n = read(fd, out->data + got, out->len - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                ws_err_sys(err, errno, "could not read \"%s\"", path);
            else
                ws_err_set(err, WS_ERR_IO, "\"%s\" shrank while being read", path);
            free(out->data);
            out->data = NULL;
            goto fail;
        }
        got += (size_t) n;
    }
    close(fd);
    return 0;
fail:
    close(fd);
    return -1;
}

static void blobs_free(blob *b, size_t n)
{
    if (!b)
        return;
    for (size_t i = 0; i < n; i++)
        free(b[i].data);
    free(b);
}

/*
 * Builds the stage(s) of op writing into out, pushes in through them in
 * WS_IO_BLOCK pieces, finishes, and frees the stages.
 */
static int run_one(const op_def *op, const bench_keys *k, const blob *in, ws_sink *out, ws_err *err)
{
    ws_sink *f = NULL, *entry = NULL;
    ws_encoder *enc = NULL;
    ws_decoder *dec = NULL;
    int rc;

    switch (op->kind) {
    case OP_SHA256:
        entry = f = ws_filter_sha256_new(out, err);
        break;
    case OP_LZ4_COMPRESS:
        entry = f = ws_filter_lz4_compress_new(out, 0, err);
        break;
    case OP_LZ4_DECOMPRESS:
        entry = f = ws_filter_lz4_decompress_new(out, "segment", err);
        break;
    case OP_GCM_ENCRYPT:
        entry = f =
            ws_filter_aesgcm_encrypt_new(out, k->gcm_key, WS_CHUNK_DEFAULT, k->aad, sizeof k->aad, NULL, NULL, err);
        break;
    case OP_GCM_DECRYPT:
        entry = f = ws_filter_aesgcm_decrypt_new(out, k->gcm_key, WS_CHUNK_DEFAULT, k->aad, sizeof k->aad, NULL, NULL,
                                                 "segment", err);
        break;
    case OP_ENCODE: {
        ws_codec_opts o = {
            .compress = WS_COMPRESS_LZ4, .key = op->encrypt ? k->key : NULL, .chunk_size = 0, .pipeline = op->pipeline};

        enc = ws_encoder_new(&o, out, err);
        entry = enc ? ws_encoder_sink(enc) : NULL;
        break;
    }
    case OP_DECODE:
        dec = ws_decoder_new(k->key, "segment", out, err);
        entry = dec ? ws_decoder_sink(dec) : NULL;
        break;
    }
    if (!entry)
        return ws_err_prefix(err, "%s", op->label);
    rc = ws_sink_pump_mem(in->data, in->len, WS_IO_BLOCK, entry, err);
    if (rc < 0)
        ws_err_prefix(err, "%s", op->label);
    ws_encoder_free(enc);
    ws_decoder_free(dec);
    ws_sink_free(f);
    return rc;
}

/* Runs op over every input, keeping each output (to feed a later measurement). */
static blob *transform_all(const op_def *op, const bench_keys *k, const blob *in, size_t n, ws_err *err)
{
    blob *out = calloc(n, sizeof *out);

    if (!out) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        ws_sink *mem = ws_sink_mem_new();
        const uint8_t *p;

        if (!mem) {
            ws_err_set(err, WS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (run_one(op, k, &in[i], mem, err) < 0) {
            ws_sink_free(mem);
            goto fail;
        }
        p = ws_sink_mem_data(mem, &out[i].len);
        out[i].data = malloc(out[i].len ? out[i].len : 1);
        if (!out[i].data) {
            ws_sink_free(mem);
            ws_err_set(err, WS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (out[i].len)
            memcpy(out[i].data, p, out[i].len);
        ws_sink_free(mem);
    }
    return out;
fail:
    blobs_free(out, n);
    return NULL;
}

typedef struct {
    double mbps;  /* median plaintext MB per wall-clock second */
    double mbcpu; /* median plaintext MB per CPU second (all threads): the
                   * work done, less sensitive to other load on the machine */
} result;

/*
 * Times reps passes of op over all inputs into a counting sink.  expect_out
 * (if not 0) is the byte count every pass must produce, a guard against
 * measuring a chain that silently does nothing.
 */
static int measure(const op_def *op, const bench_keys *k, const blob *in, size_t n, uint64_t plain_bytes,
                   uint64_t expect_out, int reps, result *res, ws_err *err)
{
    double mb[MAX_REPS], cpu[MAX_REPS];

    for (int r = 0; r < reps; r++) {
        ws_sink *null = ws_sink_null_new();
        double t0, c0, t, c;

        if (!null)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        t0 = now_s();
        c0 = cpu_s();
        for (size_t i = 0; i < n; i++)
            if (run_one(op, k, &in[i], null, err) < 0) {
                ws_sink_free(null);
                return -1;
            }
        t = now_s() - t0;
        c = cpu_s() - c0;
        mb[r] = (double) plain_bytes / 1e6 / t;
        cpu[r] = (double) plain_bytes / 1e6 / (c > 1e-6 ? c : 1e-6);
        if (expect_out && ws_sink_null_count(null) != expect_out) {
            unsigned long long got = (unsigned long long) ws_sink_null_count(null);

            ws_sink_free(null);
            return ws_err_set(err, WS_ERR_CORRUPT, "%s: produced %llu bytes, expected %llu", op->label, got,
                              (unsigned long long) expect_out);
        }
        ws_sink_free(null);
    }
    qsort(mb, (size_t) reps, sizeof mb[0], cmp_double);
    qsort(cpu, (size_t) reps, sizeof cpu[0], cmp_double);
    res->mbps = mb[reps / 2];
    res->mbcpu = cpu[reps / 2];
    return 0;
}

/* --- bounded-memory streaming test ---------------------------------------- */

/*
 * Streams `total` bytes, cycling through the files in WS_IO_BLOCK reads,
 * through encoder (lz4 + AES-GCM, pipelined) straight into decoder into a
 * counting sink.  The decoder verifies size and SHA-256 at finish.
 */
static int stream_test(const file_list *fl, const bench_keys *k, uint64_t total, long *rss_before, long *rss_peak,
                       double *secs, ws_err *err)
{
    ws_codec_opts o = {.compress = WS_COMPRESS_LZ4, .key = k->key, .chunk_size = 0, .pipeline = true};
    ws_sink *null = ws_sink_null_new();
    ws_decoder *dec = NULL;
    ws_encoder *enc = NULL;
    uint8_t *buf = malloc(WS_IO_BLOCK);
    uint64_t sent = 0;
    size_t fi = 0;
    int fd = -1, rc = -1;
    double t0;

    *rss_before = peak_rss_kib();
    if (!null || !buf) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto out;
    }
    t0 = now_s();
    if (!(dec = ws_decoder_new(k->key, "1 GiB stream", null, err)) ||
        !(enc = ws_encoder_new(&o, ws_decoder_sink(dec), err)))
        goto out;
    while (sent < total) {
        size_t want = total - sent < WS_IO_BLOCK ? (size_t) (total - sent) : WS_IO_BLOCK;
        ssize_t n;

        if (fd < 0) {
            fd = open(fl->names[fi], O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                ws_err_sys(err, errno, "could not open \"%s\"", fl->names[fi]);
                goto out;
            }
        }
        n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ws_err_sys(err, errno, "could not read \"%s\"", fl->names[fi]);
            goto out;
        }
        if (n == 0) { /* next file, round and round */
            close(fd);
            fd = -1;
            fi = (fi + 1) % fl->n;
            continue;
        }
        if (ws_sink_write(ws_encoder_sink(enc), buf, (size_t) n, err) < 0)
            goto out;
        sent += (uint64_t) n;
    }
    if (ws_sink_finish(ws_encoder_sink(enc), err) < 0)
        goto out;
    *secs = now_s() - t0;
    if (ws_sink_null_count(null) != total) {
        ws_err_set(err, WS_ERR_CORRUPT, "stream test: decoded %llu bytes, expected %llu",
                   (unsigned long long) ws_sink_null_count(null), (unsigned long long) total);
        goto out;
    }
    *rss_peak = peak_rss_kib();
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    ws_encoder_free(enc);
    ws_decoder_free(dec);
    ws_sink_free(null);
    free(buf);
    if (rc < 0)
        ws_err_prefix(err, "streaming test");
    return rc;
}

/* --- main ----------------------------------------------------------------- */

static const op_def OPS[] = {
    {"sha256", "SHA-256 (ws_filter_sha256)", OP_SHA256, false, false},
    {"lz4_compress", "LZ4 compress (frame, fast)", OP_LZ4_COMPRESS, false, false},
    {"lz4_decompress", "LZ4 decompress", OP_LZ4_DECOMPRESS, false, false},
    {"gcm_encrypt", "AES-256-GCM encrypt (256 KiB chunks)", OP_GCM_ENCRYPT, false, false},
    {"gcm_decrypt", "AES-256-GCM decrypt (256 KiB chunks)", OP_GCM_DECRYPT, false, false},
    {"encode_lz4", "encode: sha256+lz4", OP_ENCODE, false, false},
    {"encode_lz4_pipe", "encode: sha256+lz4, pipeline", OP_ENCODE, false, true},
    {"encode_lz4_aes", "encode: sha256+lz4+aes-gcm", OP_ENCODE, true, false},
    {"encode_lz4_aes_pipe", "encode: sha256+lz4+aes-gcm, pipeline", OP_ENCODE, true, true},
    {"decode_lz4", "decode: lz4+sha256 verify", OP_DECODE, false, false},
    {"decode_lz4_aes", "decode: aes-gcm+lz4+sha256 verify", OP_DECODE, true, false},
};

/* Is id one of the comma-separated names in list? */
static bool selected(const char *list, const char *id)
{
    size_t n = strlen(id);

    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t) (end - p) : strlen(p);

        if (len == n && strncmp(p, id, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

static size_t count_items(const char *list)
{
    size_t n = 1;

    for (const char *p = list; *p; p++)
        n += *p == ',';
    return n;
}

static size_t count_known(const char *list)
{
    size_t n = 0;

    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        n += selected(list, OPS[i].id);
    return n;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: codec_bench [--reps N] [--rss-gib G] [--only ID,...] [--tsv] DIR\n"
               "Times walship's codec filters and chains on the files in DIR (held in memory).\n"
               "  --reps N     passes per measurement, the median is reported (default 5)\n"
               "  --rss-gib G  size of the bounded-memory streaming test, 0 to skip (default 1)\n"
               "  --only IDS   only these measurements (comma-separated ids, see --tsv output)\n"
               "  --tsv        machine-readable output for bench/run-codec-bench\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"reps", required_argument, NULL, 'r'}, {"rss-gib", required_argument, NULL, 'g'},
        {"tsv", no_argument, NULL, 't'},        {"only", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    int reps = 5, rss_gib = 1, c;
    bool tsv = false, run[sizeof OPS / sizeof OPS[0]];
    const char *only = NULL;
    const char *dir;
    file_list fl = {NULL, 0};
    bench_keys k;
    uint8_t material[32];
    blob *plain = NULL, *lz4 = NULL, *gcm = NULL, *obj_plain = NULL, *obj_enc = NULL;
    uint64_t plain_bytes = 0, lz4_bytes = 0, obj_bytes = 0, obj_enc_bytes = 0;
    long rss_before = 0, rss_peak = 0;
    double stream_secs = 0;
    result res[sizeof OPS / sizeof OPS[0]];
    ws_err err;
    int status = 1;

    ws_log_init(argv[0], WS_LOG_NOTICE);
    ws_err_clear(&err);
    memset(&k, 0, sizeof k);
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            reps = atoi(optarg);
            if (reps < 1 || reps > MAX_REPS) {
                ws_log(WS_LOG_ERROR, "--reps must be between 1 and %d, got \"%s\"", MAX_REPS, optarg);
                return 2;
            }
            break;
        case 'g':
            rss_gib = atoi(optarg);
            if (rss_gib < 0 || rss_gib > 64) {
                ws_log(WS_LOG_ERROR, "--rss-gib must be between 0 and 64, got \"%s\"", optarg);
                return 2;
            }
            break;
        case 't':
            tsv = true;
            break;
        case 'o':
            only = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    dir = argv[optind];
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        run[i] = !only || selected(only, OPS[i].id);
    if (only && count_known(only) != count_items(only)) {
        ws_log(WS_LOG_ERROR,
               "--only: unknown or repeated measurement in \"%s\" (ids: sha256, lz4_compress, ...; see --tsv)", only);
        return 2;
    }

    if (ws_key_random_bytes(material, sizeof material, &err) < 0 ||
        ws_key_from_bytes(material, sizeof material, &k.key, &err) < 0 ||
        ws_key_random_bytes(k.gcm_key, sizeof k.gcm_key, &err) < 0 || list_dir(dir, &fl, &err) < 0)
        goto done;

    /* First, while the process is still small: the bounded-memory test. */
    if (rss_gib > 0 && stream_test(&fl, &k, (uint64_t) rss_gib << 30, &rss_before, &rss_peak, &stream_secs, &err) < 0)
        goto done;

    plain = calloc(fl.n, sizeof *plain);
    if (!plain) {
        ws_err_set(&err, WS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < fl.n; i++) {
        if (read_file(fl.names[i], &plain[i], &err) < 0)
            goto done;
        plain_bytes += plain[i].len;
    }

    /* Inputs of the decoding measurements. */
    if (!(lz4 = transform_all(&OPS[1], &k, plain, fl.n, &err)) ||
        !(gcm = transform_all(&OPS[3], &k, plain, fl.n, &err)) ||
        !(obj_plain = transform_all(&OPS[5], &k, plain, fl.n, &err)) ||
        !(obj_enc = transform_all(&OPS[7], &k, plain, fl.n, &err)))
        goto done;
    for (size_t i = 0; i < fl.n; i++) {
        lz4_bytes += lz4[i].len;
        obj_bytes += obj_plain[i].len;
        obj_enc_bytes += obj_enc[i].len;
    }

    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        const op_def *op = &OPS[i];
        const blob *in = plain;
        uint64_t expect = 0;

        switch (op->kind) {
        case OP_LZ4_DECOMPRESS:
            in = lz4;
            expect = plain_bytes;
            break;
        case OP_GCM_DECRYPT:
            in = gcm;
            expect = plain_bytes;
            break;
        case OP_DECODE:
            in = op->encrypt ? obj_enc : obj_plain;
            expect = plain_bytes;
            break;
        default:
            break;
        }
        if (!run[i])
            continue;
        if (measure(op, &k, in, fl.n, plain_bytes, expect, reps, &res[i], &err) < 0)
            goto done;
        if (!tsv)
            fprintf(stderr, "codec_bench: %-40s %9.1f MB/s %9.1f MB/CPU-s\n", op->label, res[i].mbps, res[i].mbcpu);
    }

    if (tsv) {
        printf("corpus\t%zu files\t%llu\n", fl.n, (unsigned long long) plain_bytes);
        printf("reps\tmedian of\t%d\n", reps);
        for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
            if (run[i])
                printf("%s\t%s\t%.1f\t%.1f\n", OPS[i].id, OPS[i].label, res[i].mbps, res[i].mbcpu);
        printf("ratio_lz4\tLZ4 frames\t%llu\t%.3f\n", (unsigned long long) lz4_bytes,
               (double) plain_bytes / (double) lz4_bytes);
        printf("ratio_object\tobjects (lz4)\t%llu\t%.3f\n", (unsigned long long) obj_bytes,
               (double) plain_bytes / (double) obj_bytes);
        printf("ratio_object_aes\tobjects (lz4+aes-gcm)\t%llu\t%.3f\n", (unsigned long long) obj_enc_bytes,
               (double) plain_bytes / (double) obj_enc_bytes);
        if (rss_gib > 0)
            printf("rss\t%d GiB stream\t%ld\t%ld\t%.2f\n", rss_gib, rss_before, rss_peak, stream_secs);
    } else {
        printf("Corpus: %zu files, %llu bytes, in memory; plaintext MB/s (10^6 B/s), median of %d\n\n", fl.n,
               (unsigned long long) plain_bytes, reps);
        printf("| Measurement | MB/s | MB per CPU-s |\n|---|---:|---:|\n");
        for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
            if (run[i])
                printf("| %s | %.0f | %.0f |\n", OPS[i].label, res[i].mbps, res[i].mbcpu);
        printf("\nCompression: LZ4 frames %.3f:1; whole objects %.3f:1 (lz4), %.3f:1 (lz4+aes-gcm)\n",
               (double) plain_bytes / (double) lz4_bytes, (double) plain_bytes / (double) obj_bytes,
               (double) plain_bytes / (double) obj_enc_bytes);
        if (rss_gib > 0)
            printf("Streaming %d GiB encoder->decoder (lz4+aes-gcm, pipeline): peak RSS %.1f MiB "
                   "(%.1f MiB before), %.1f s\n",
                   rss_gib, (double) rss_peak / 1024, (double) rss_before / 1024, stream_secs);
    }
    status = 0;
done:
    if (status != 0)
        ws_log_err(&err);
    blobs_free(plain, fl.n);
    blobs_free(lz4, fl.n);
    blobs_free(gcm, fl.n);
    blobs_free(obj_plain, fl.n);
    blobs_free(obj_enc, fl.n);
    file_list_free(&fl);
    ws_key_free(k.key);
    return status;
}

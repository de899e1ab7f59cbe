/* stream_store_int: what the stream store's files share, for them alone.
 *
 * stream_store.c opens, closes, creates and deletes streams and holds the
 * helpers below; stream_store_reconcile.c repairs what a crash left;
 * stream_store_marker.c is the clean-stop marker; stream_store_buffer.c the
 * uncommitted buffer; stream_store_commit.c turns it into a partition;
 * stream_store_files.c reads and uploads files; stream_store_outbox.c keeps
 * the stats outbox. */
#ifndef ST_STREAM_STORE_INT_H
#define ST_STREAM_STORE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "scv/stream_store.h"
#include "util/log.h"
#include "util/status.h"

#define SEED_DIR "files"
#define TAGS_DIR "tags"
#define BUFFER_DIR "buffer_files"
#define CHECKPOINT_DIR "checkpoint_files"
#define ERROR_LOG "error_log.txt"
/* Temporaries start with '.', which no stream id or request path may. */
#define NEW_PREFIX ".new-"
#define TRASH_PREFIX ".trash-"
#define UPLOAD_PREFIX ".upload-"

struct stream_store {
    char *data_dir;
    char *streams_dir;
    int streams_fd;
    scv_db *db;
    /* Ids of streams that may have a buffer_files/ (a tsearch tree): noted
     * before a buffer is made, forgotten once it is renamed or removed, so a
     * clean stop removes what is left without visiting every stream. */
    pthread_mutex_t buffers_lock;
    void *buffers;
    /* Set by any disk or database failure in a call that changes a stream:
     * it may have left something only the reconcile walk repairs, so the
     * clean-stop marker is not written. */
    atomic_int needs_walk;
    /* The crash tests' fault injection: SIEGETANK_CRASH_AFTER_RENAME=N
     * kills the process the instant the Nth commit has renamed its
     * partition, the moment exactly-once credit must survive. 0: never. */
    long crash_after_rename;
    atomic_long commits;
};

/* Fails st with the reason and logs it when it is the server's own failure
 * (STATUS_IO); evaluates to the code. */
#define ss_fail(st, code, ...) ss_logged((st), status_fail((st), (code), __VA_ARGS__))

static inline status_code ss_logged(const struct status *st, status_code code)
{
    if (code == STATUS_IO)
        log_error("stream store: %s", st != NULL ? st->msg : status_name(code));
    return code;
}

/* Who is at fault for a failed file operation's errno. */
status_code ss_errno_code(int e);
void ss_close_fd(int fd);
status_code ss_check_id(const char *id, struct status *st);
/* Opens the stream folder of id into *fd. */
status_code ss_open_stream(stream_store *s, const char *id, int *fd, struct status *st);
/* a/b[/c] into buf (PATH_MAX bytes); -1 with ENAMETOOLONG. */
int ss_join_path(char *buf, const char *a, const char *b, const char *c);
/* Removes streams_dir/a[/b] and everything below it; missing is fine. */
int ss_remove_tree(stream_store *s, const char *a, const char *b);
int ss_is_dir_at(int dirfd, const char *name);
/* Passes code through, remembering a failure of the server's own. */
status_code ss_note_failure(stream_store *s, status_code code);
/* Writes every file of map (may be NULL) into the sub-folder sub of dirfd,
 * fsyncing each file and the sub-folder. -1 with errno on failure. */
int ss_write_file_map(int dirfd, const char *sub, const json_t *map);
/* Highest partition of an open stream folder (0 when none); -1 on failure. */
int64_t ss_latest_partition(int fd);

/* Buffers a clean stop must remove. note: before a buffer may be made (-1
 * when out of memory); forget: once it is renamed or removed; remove_all:
 * -1 after logging the first that cannot be removed. */
int ss_buffer_note(stream_store *s, const char *id);
void ss_buffer_forget(stream_store *s, const char *id);
int ss_buffers_remove_all(stream_store *s);

/* The walk of every stream folder (stream_store_open says what it does),
 * then the credit of activations the last run left open. */
status_code ss_reconcile(stream_store *s, struct status *st);
status_code ss_close_open_fragments(stream_store *s, struct status *st);

/* The clean-stop marker. take: reads and removes it durably; *clean = 1
 * when it was present and matches. write: makes the store durable and
 * writes it (scv.db must be closed). */
status_code ss_marker_take(stream_store *s, int *clean, struct status *st);
status_code ss_marker_write(stream_store *s, struct status *st);

/* The credit's fragment id and its JSON text (*text to free). A NULL credit
 * gives NULL and NULL. */
status_code ss_credit_text(const json_t *credit, const char **fid, char **text, struct status *st);

#endif

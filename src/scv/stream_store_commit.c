#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scv/stream_dir.h"
#include "scv/stream_store_int.h"

/* Steps 1-2 of a commit: checkpoint files into the buffer, then every file
 * and both folders fsynced. Returns -1 with errno on failure. */
static int prepare_buffer(stream_store *s, const char *id, int fd, const json_t *checkpoint_files)
{
    int rc = -1;
    int ck = -1;
    /* A failed earlier attempt may have left checkpoint files of other names. */
    char sub[NAME_MAX + 1];
    snprintf(sub, sizeof sub, "%s/%s", BUFFER_DIR, CHECKPOINT_DIR);
    int buf = stream_dir_open_or_make(fd, BUFFER_DIR);
    if (buf < 0 || ss_remove_tree(s, id, sub) != 0)
        goto out;
    if (ss_write_file_map(buf, CHECKPOINT_DIR, checkpoint_files) != 0)
        goto out;
    ck = stream_dir_open(buf, CHECKPOINT_DIR);
    if (ck < 0 || stream_dir_fsync_all(ck) != 0 || stream_dir_fsync_all(buf) != 0)
        goto out;
    rc = 0;
out:;
    int saved = errno;
    ss_close_fd(ck);
    ss_close_fd(buf);
    errno = saved;
    return rc;
}

static status_code buffer_commit(stream_store *s, const char *id, const json_t *checkpoint_files, int64_t k,
                                 const json_t *credit, int64_t *new_frames, struct status *st)
{
    if (k < 1)
        return ss_fail(st, STATUS_INVALID, "a commit needs at least one buffered frame, not %lld",
                       (long long)k);
    const char *fid = NULL;
    char *text = NULL;
    status_code rc = stream_store_check_files(checkpoint_files, "checkpoint file", 0, st);
    if (rc != STATUS_OK || (rc = ss_credit_text(credit, &fid, &text, st)) != STATUS_OK)
        return rc;
    int fd;
    if ((rc = ss_open_stream(s, id, &fd, st)) != STATUS_OK) {
        free(text);
        return rc;
    }
    /* The folders, not the record, decide the old count: they are the truth. */
    int64_t old = ss_latest_partition(fd);
    if (old < 0) {
        rc = ss_fail(st, STATUS_IO, "cannot list the partitions of stream %s: %s", id, strerror(errno));
        goto out;
    }
    if (k > 999999999999999999LL - old) {
        rc =
            ss_fail(st, STATUS_INVALID, "frame count %lld + %lld is too large", (long long)old, (long long)k);
        goto out;
    }
    if (ss_buffer_note(s, id) != 0 || prepare_buffer(s, id, fd, checkpoint_files) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot write the checkpoint of stream %s: %s", id, strerror(errno));
        goto out;
    }
    char name[32];
    snprintf(name, sizeof name, "%lld", (long long)(old + k));
    /* The credit is on disk before the partition can be. */
    if (fid != NULL && scv_db_commit_intent(s->db, id, old + k, fid, text) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot record the credit of partition %s of stream %s in scv.db", name,
                     id);
        goto out;
    }
    if (renameat(fd, BUFFER_DIR, fd, name) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot commit partition %s of stream %s: %s", name, id, strerror(errno));
        goto out;
    }
    ss_buffer_forget(s, id);
    if (fsync(fd) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot commit partition %s of stream %s durably: %s", name, id,
                     strerror(errno));
        goto out;
    }
    if (atomic_fetch_add(&s->commits, 1) + 1 == s->crash_after_rename)
        raise(SIGKILL);
    /* The partition is committed; a stale record is repaired by reconcile,
     * which the next start must then run, and the intent still there gives
     * the credit then. */
    if (scv_db_commit_done(s->db, id, old + k, fid, text) != 0) {
        log_error("stream store: stream %s committed %s frames but scv.db was not updated", id, name);
        atomic_store(&s->needs_walk, 1);
    }
    *new_frames = old + k;
    rc = STATUS_OK;
out:
    free(text);
    close(fd);
    return rc;
}

status_code stream_store_commit(stream_store *s, const char *id, const json_t *checkpoint_files, int64_t k,
                                const json_t *credit, int64_t *new_frames, struct status *st)
{
    return ss_note_failure(s, buffer_commit(s, id, checkpoint_files, k, credit, new_frames, st));
}

/* stream_dir: file and folder helpers relative to an open folder fd, for
 * the stream store. Nothing here follows a symlink in the last component,
 * and listings skip names starting with '.' (the store's temporaries).
 * Return 0 (or an fd) on success, -1 with errno set on failure. */
#ifndef ST_STREAM_DIR_H
#define ST_STREAM_DIR_H

#include <stddef.h>
#include <stdint.h>

/* Opens the sub-folder name of dirfd (read-only, O_DIRECTORY, O_NOFOLLOW). */
int stream_dir_open(int dirfd, const char *name);
/* Like stream_dir_open, making the folder first when missing. */
int stream_dir_open_or_make(int dirfd, const char *name);

enum { STREAM_DIR_APPEND = 1, STREAM_DIR_FSYNC = 2 };
/* Writes name (truncating, or appending with STREAM_DIR_APPEND; fsync with
 * STREAM_DIR_FSYNC). */
int stream_dir_write(int dirfd, const char *name, const void *data, size_t len, int flags);
/* Whole regular file, malloc'd; ERANGE (errno) when larger than max. */
char *stream_dir_read(int dirfd, const char *name, size_t max, size_t *len);

/* Sorted malloc'd names of the regular files in dirfd, minus exclude (may
 * be NULL). Free with stream_dir_names_free. */
int stream_dir_names(int dirfd, const char *exclude, char ***names, size_t *n);
void stream_dir_names_free(char **names, size_t n);
/* Sorted names of the folders in dirfd (symlinks are not folders). */
int stream_dir_folders(int dirfd, char ***names, size_t *n);
/* Names of every entry starting with '.' (but "." and ".."), any type. */
int stream_dir_temporaries(int dirfd, char ***names, size_t *n);

/* 1 and *frames when name is a partition name: a canonical positive decimal
 * (no sign, no leading zero) of at most 18 digits. Else 0. */
int stream_dir_parse_partition(const char *name, int64_t *frames);
/* Ascending malloc'd frame counts of the partition-named folders in dirfd. */
int stream_dir_partitions(int dirfd, int64_t **parts, size_t *n);

/* Everything a start-up check needs from one listing of a stream folder
 * (one pass instead of three: 100,000 streams are walked at every start):
 * the temporaries (as stream_dir_temporaries), whether an entry called
 * `name` exists, and the partitions (as stream_dir_partitions). */
struct stream_dir_scan {
    char **temps;
    size_t ntemps;
    int64_t *parts;
    size_t nparts;
    int has_name;
};
int stream_dir_scan(int dirfd, const char *name, struct stream_dir_scan *out);
void stream_dir_scan_free(struct stream_dir_scan *scan);

/* fsync every regular file in dirfd, then dirfd itself. */
int stream_dir_fsync_all(int dirfd);

#endif

/* stream_path: names and request paths confined below one folder.
 * A name is one path component of 1..255 bytes of valid UTF-8 with no '/',
 * no control character (C0 with NUL, DEL, C1: a name may end up in an HTTP
 * header or a terminal) and no leading '.' (so never "." or "..", and never
 * one of the store's own temporary entries). Every file name a request can
 * store (seed, tag, frame, checkpoint, upload) passes this one rule. A path is names joined by single '/':
 * not absolute, no empty components. Walking opens every component relative to the previous folder with
 * O_NOFOLLOW, so a symlink anywhere in a path is refused, never followed. Functions return 0, or -1 with
 * errno set: EINVAL for a refused name or path, ELOOP/ENOTDIR for a symlink or non-folder on the way, ENOENT
 * when missing. */
#ifndef ST_STREAM_PATH_H
#define ST_STREAM_PATH_H

#include <stddef.h>
#include <sys/types.h>

#define STREAM_PATH_NAME_MAX 255
#define STREAM_PATH_MAX 4096

/* 1 if acceptable, else 0. len is the byte length (embedded NULs refused). */
int stream_path_name_ok(const char *name, size_t len);
int stream_path_ok(const char *path, size_t len);
/* A NUL-terminated name made safe to show (in a log line or a JSON reply):
 * each byte of a control character or of bytes that are not UTF-8 becomes
 * \xNN. Cut short to fit outlen. */
void stream_path_escape(const char *name, char *out, size_t outlen);

/* Opens (read-only, O_DIRECTORY) the folder holding path's last component
 * and copies that component into last (STREAM_PATH_NAME_MAX + 1 bytes).
 * With create, missing folders are made (0700); *created (may be NULL)
 * counts how many, so a caller can tell a new top-level folder was made. */
int stream_path_open_parent(int rootfd, const char *path, size_t len, int create, char *last, int *created);

/* Opens a regular file for reading; *size is its length. */
int stream_path_open_file(int rootfd, const char *path, size_t len, int *fd, off_t *size);

#endif

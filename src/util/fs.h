/* fs: small POSIX file helpers with the durability steps spelled out.
 * All return 0 on success and -1 with errno set on failure unless noted. */
#ifndef ST_FS_H
#define ST_FS_H

#include <stddef.h>
#include <sys/types.h>

int fs_mkdir_p(const char *path, mode_t mode);
/* write(2) until all of data is written (retrying EINTR and short writes). */
int fs_write_all(int fd, const void *data, size_t len);
/* Write (truncate) path with data; fsync the file when do_fsync. */
int fs_write_file(const char *path, const void *data, size_t len, int do_fsync);
/* Append data to path (created if missing); fsync when do_fsync. */
int fs_append_file(const char *path, const void *data, size_t len, int do_fsync);
/* Write to path.tmp, fsync, rename over path, fsync the folder. */
int fs_write_atomic(const char *path, const void *data, size_t len);
/* fs_write_atomic for a secret: the file is mode 0600 from its creation on
 * (its temporary too), so it is never readable by others, even for an
 * instant, whatever the umask. */
int fs_write_secret(const char *path, const void *data, size_t len);
/* Whole file, malloc'd with a trailing NUL; NULL if missing or over max. */
char *fs_read_file(const char *path, size_t max, size_t *out_len);
int fs_fsync_path(const char *path); /* open + fsync a file or folder */
int fs_rm_rf(const char *path);      /* missing is not an error */
int fs_exists(const char *path);     /* 1 or 0 */
int fs_is_dir(const char *path);     /* 1 or 0 */

#endif

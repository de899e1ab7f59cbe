/* credentials: where the CLI keeps the CC address and the user's token.
 * The file is $XDG_CONFIG_HOME/siegetank/credentials (else
 * ~/.config/siegetank/credentials), JSON {"cc","token"}, mode 0600 in a 0700
 * folder, replaced atomically. SIEGETANK_CC and SIEGETANK_TOKEN override it.
 * Functions return 0, or -1 with a reason in msg. */
#ifndef ST_CLIENT_CREDENTIALS_H
#define ST_CLIENT_CREDENTIALS_H

#include <stddef.h>

#define CREDENTIALS_FIELD_MAX 1024

struct credentials {
    char cc[CREDENTIALS_FIELD_MAX];    /* "" when unknown */
    char token[CREDENTIALS_FIELD_MAX]; /* "" when unknown */
};

int credentials_default_path(char *out, size_t n, char *msg, size_t msg_n);
int credentials_save(const char *path, const struct credentials *cr, char *msg, size_t msg_n);
/* Reads the file only; a missing file is an error. */
int credentials_load(const char *path, struct credentials *cr, char *msg, size_t msg_n);
/* The file when it exists (path may be NULL: skip it), then the environment
 * overrides. Fails only when no CC address is known or the file is corrupt. */
int credentials_resolve(const char *path, struct credentials *cr, char *msg, size_t msg_n);

#endif

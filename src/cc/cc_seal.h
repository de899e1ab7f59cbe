/* cc_seal: the CC store's sealed secrets (engine keys, SCV passwords) and
 * the keys that open them (auth.h).
 *
 * open derives the current key from cc_pass and the database's sealing
 * salt, one key per previous cc_pass, and takes <data_dir>/secret.key of
 * older versions as a further unseal-only key when the file exists. again
 * gives what the store writes back when it moves a secret under the
 * current key. unseal reports a secret no key opens once per name and
 * sealed value, not at every cache reload, and the caller skips that row.
 * Thread-safe. */
#ifndef ST_CC_SEAL_H
#define ST_CC_SEAL_H

#include <stddef.h>

#include "cc/cc_store.h"
#include "util/status.h"

typedef struct cc_seal cc_seal;

/* salt: the database's sealing salt (hex). cc_pass_previous: NULL, or
 * earlier cc_pass values separated by spaces. NULL with the reason in st. */
cc_seal *cc_seal_open(const char *salt, const char *data_dir, const char *cc_pass,
                      const char *cc_pass_previous, struct status *st);
void cc_seal_close(cc_seal *s); /* NULL is fine */

/* Under the current key; malloc'd, NULL when too long or out of memory. */
char *cc_seal_seal(cc_seal *s, const char *plain);
/* The malloc'd plain text, or NULL after logging (once) that what (e.g.
 * "SCV 'name'") holds a secret no key of this CC opens. */
char *cc_seal_unseal(cc_seal *s, const char *what, const char *sealed);

/* The secret sealed again under the current key (malloc'd) when an older
 * key opened it; NULL when it is current already, or when no key opens it
 * (reported once). *opened: 1 when some key opened it. */
char *cc_seal_again(cc_seal *s, const char *what, const char *sealed, int *opened);
/* Logs the outcome of a pass that sealed secrets again. */
void cc_seal_migrated(cc_seal *s, size_t resealed, size_t unopened);

/* The names unseal logs rows by. */
#define CC_SEAL_WHAT_MAX (CC_SCV_NAME_MAX + CC_ENGINE_MAX + 64)
void cc_seal_what_key(const char *key_hash, const char *engine, char out[CC_SEAL_WHAT_MAX]);
void cc_seal_what_scv(const char *name, char out[CC_SEAL_WHAT_MAX]);

#endif

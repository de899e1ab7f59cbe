/* cc_seal: the CC store's sealed secrets (engine keys, SCV passwords) and
 * the keys that open them (auth.h).
 *
 * open reads the database's sealing salt through the backend (creating it
 * when the database has none: insert if absent, then read back), derives
 * the current key from cc_pass and one key per previous cc_pass, and takes
 * <data_dir>/secret.key of older versions as a further unseal-only key when
 * the file exists. migrate seals again under the current key every secret
 * found under another one (a compare-and-set on the old text, so
 * concurrent writes and other CCs doing the same are safe) and logs what it
 * did. unseal reports a secret no key opens once per name and sealed value,
 * not at every cache reload, and the caller skips that row. Thread-safe. */
#ifndef ST_CC_SEAL_H
#define ST_CC_SEAL_H

#include <stddef.h>

#include "cc/cc_store.h"

typedef struct cc_seal cc_seal;

/* cc_pass_previous: NULL, or earlier cc_pass values separated by spaces.
 * NULL with a reason in err. */
cc_seal *cc_seal_open(const cc_store_ops *ops, void *impl, const char *data_dir, const char *cc_pass,
                      const char *cc_pass_previous, char *err, size_t errlen);
void cc_seal_close(cc_seal *s); /* NULL is fine */

/* Under the current key; malloc'd, NULL when too long or out of memory. */
char *cc_seal_seal(cc_seal *s, const char *plain);
/* The malloc'd plain text, or NULL after logging (once) that what (e.g.
 * "SCV 'name'") holds a secret no key of this CC opens. */
char *cc_seal_unseal(cc_seal *s, const char *what, const char *sealed);

void cc_seal_migrate(cc_seal *s, const cc_store_ops *ops, void *impl);

/* The names unseal logs rows by. */
#define CC_SEAL_WHAT_MAX (CC_SCV_NAME_MAX + CC_ENGINE_MAX + 64)
void cc_seal_what_key(const cc_engine_key_row *row, char out[CC_SEAL_WHAT_MAX]);
void cc_seal_what_scv(const cc_scv_row *row, char out[CC_SEAL_WHAT_MAX]);

#endif

/* cc_fold: the CC's folder, a thread that credits the fragments POST /stats
 * queued (cc_store_credit_fold) so the request path only records them.
 *
 * It folds when told that fragments were queued (cc_fold_queued, after the
 * commit), and every CC_FOLD_IDLE_MS besides (rows another CC queued, or a
 * fold that failed or found another CC folding), but no sooner than
 * CC_FOLD_GAP_MS after the previous fold began; a full fold of CC_FOLD_MAX
 * rows goes straight on to the next. Under a burst the rows pile up
 * between folds and each fold takes them all at once: the aggregate rows
 * a fold writes are bounded by the donors, targets and teams, not by the
 * fragments.
 *
 * Its figures (cc_fold_read, for /metrics): pending is what the queue held
 * when this CC last folded plus what it queued since; it never reads 0
 * while a fragment this CC recorded is uncredited, so a caller that sees 0
 * after its POST /stats returned sees its credit. */
#ifndef ST_CC_FOLD_H
#define ST_CC_FOLD_H

#include <stddef.h>

#include "cc/cc_store.h"

#define CC_FOLD_IDLE_MS 250
#define CC_FOLD_GAP_MS 1000
#define CC_FOLD_MAX 50000

typedef struct cc_fold cc_fold;

typedef struct cc_fold_figures {
    long long pending; /* fragments recorded, not yet credited */
    long long folded;  /* fragments this CC's folds credited */
    double last_s;     /* the last fold's duration */
} cc_fold_figures;

/* Starts the thread; NULL when it cannot. */
cc_fold *cc_fold_start(cc_store *store);
/* Lock-free; all zero for NULL. */
cc_fold_figures cc_fold_read(const cc_fold *f);
/* n new fragments were committed to the queue: wakes the folder. */
void cc_fold_queued(cc_fold *f, size_t n);
/* Ends the fold in progress, if any, and the thread (NULL is fine); what is
 * still queued waits for the next start. */
void cc_fold_stop(cc_fold *f);

#endif

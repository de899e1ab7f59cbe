/* cc_store_cases: the cc_store unit-test cases, shared by the SQLite
 * (test_cc_store.c) and PostgreSQL (test_cc_store_pg.c) test programs.
 * Each program provides a fresh store_fixture per case (setup/teardown)
 * and a backend with two probes into the raw stored data. */
#ifndef ST_CC_STORE_CASES_H
#define ST_CC_STORE_CASES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cc/cc_store.h"

/* The cc_pass every test store seals with, unless a case changes it. */
#define STORE_TEST_PASS "store-test-pass"

typedef struct store_fixture store_fixture;

typedef struct store_backend {
    /* 1 when needle occurs anywhere in the stored users, keys, targets and SCVs. */
    int (*contains)(store_fixture *f, const char *needle);
    /* count(stats) * 1000000 + sum(frames), read around the store. */
    long long (*stats_rows)(store_fixture *f);
} store_backend;

struct store_fixture {
    char dir[64];         /* the data folder (cc.db for SQLite) */
    char database[256];   /* "sqlite" or a postgresql:// URL */
    const char *pass;     /* cc_pass to open with; NULL: STORE_TEST_PASS */
    const char *previous; /* cc_pass_previous, or NULL */
    char dbname[32];      /* PostgreSQL database name */
    cc_store *st;
    const store_backend *backend;
};

/* What the store answers through cc_store_load_changes: everything
 * (cc_snapshot_free), the engine of a plain key (NOT_FOUND when the key is
 * unknown), the SCVs whose password unseals (free() *out). */
status_code store_load_all(cc_store *st, cc_snapshot *out);
status_code store_key_lookup(cc_store *st, const char *key, char engine[CC_ENGINE_MAX + 1]);
status_code store_scv_list(cc_store *st, cc_scv **out, size_t *n);

/* Opens f->database with f->dir; NULL with the reason on stderr. */
cc_store *store_cases_open(store_fixture *f);
/* Closes and reopens f->st (asserts success). */
void store_cases_reopen(store_fixture *f);

typedef struct store_case {
    const char *name;
    CMUnitTestFunction fn;
} store_case;

extern const store_case store_cases[];
extern const size_t store_cases_n;

/* Runs the shared cases then extra (may be NULL), each with setup and
 * teardown; the cmocka group result. */
int store_cases_run(const char *group, CMFixtureFunction setup, CMFixtureFunction teardown,
                    const struct CMUnitTest *extra, size_t n_extra);

#endif

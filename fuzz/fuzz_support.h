/* fuzz_support: small helpers shared by the libFuzzer targets in fuzz/.
 *
 * FUZZ_CHECK aborts (a crash libFuzzer records with its input) when a
 * property the code under test promises does not hold. fuzz_cstr copies an
 * input into a fresh NUL-terminated heap string. fuzz_tmpdir makes one
 * private folder per process (under TMPDIR or /tmp) for targets that need
 * files; it is removed at exit. */
#ifndef ST_FUZZ_SUPPORT_H
#define ST_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))

_Noreturn void fuzz_fail(const char *what, const char *file, int line);
char *fuzz_cstr(const uint8_t *data, size_t size);
const char *fuzz_tmpdir(void);

#endif

/* number: a whole command-line word read as a number.
 *
 * number_long and number_double accept only a word that is entirely one
 * number (no empty word, no trailing text, no overflow; for doubles no
 * inf or nan) within [min, max], store it in *out and return 0; otherwise
 * they return -1 and leave *out alone. Callers word their own message. */
#ifndef ST_UTIL_NUMBER_H
#define ST_UTIL_NUMBER_H

int number_long(const char *text, long min, long max, long *out);
int number_double(const char *text, double min, double max, double *out);

#endif

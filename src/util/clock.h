/* clock: the two clocks the tree reads, in seconds as doubles (microsecond
 * resolution for ~280 years, ample for timestamps and timeouts).
 * clock_wall_s: Unix time, for what is stored, sent or compared across
 * processes (heartbeat deadlines, timestamps). clock_mono_s: CLOCK_MONOTONIC,
 * for intervals and local deadlines, which must not jump with the wall clock. */
#ifndef ST_CLOCK_H
#define ST_CLOCK_H

double clock_wall_s(void);
double clock_mono_s(void);

#endif

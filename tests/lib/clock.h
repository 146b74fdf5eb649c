/* The tests' clock, header-only so that both the test programs (through
 * lib/apitest.h) and tests/lib's own files use it: monotonic seconds for
 * deadlines and waits, and a sleep of a fraction of a second. */
#ifndef GS_TEST_CLOCK_H
#define GS_TEST_CLOCK_H

#include <time.h>

/* Seconds on the monotonic clock: for deadlines and waits in the tests. */
static inline double api_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleeps `seconds` (a fraction too): between polls, and to let a server act. */
static inline void api_sleep(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

#endif

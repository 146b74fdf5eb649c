/* A minimal test harness: each test file is a program of TEST functions run
 * from main with RUN(); every TEST reports one "PASS name" or "FAIL name" line
 * and the program ends with "N passed, N failed" (summed by tests/run.sh). */
#ifndef GS_CHECK_H
#define GS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed, check_current_failed;
static const char *check_current;

/* Record a failure of the running test without stopping it. */
#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            check_current_failed++;                                             \
            if (check_current_failed <= 5) {                                    \
                fprintf(stdout, "  %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
                fprintf(stdout, __VA_ARGS__);                                   \
                fputc('\n', stdout);                                            \
            }                                                                   \
        }                                                                       \
    } while (0)

/* |a - b| <= tol * max(1, |a|, |b|): relative where large, absolute near 0. */
static inline int check_close(double a, double b, double tol)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b)) return a == b;
    double scale = fmax(1.0, fmax(fabs(a), fabs(b)));
    return fabs(a - b) <= tol * scale;
}

#define CHECK_CLOSE(a, b, tol, what)                                            \
    CHECK(check_close((a), (b), (tol)), "%s: %.17g vs %.17g (tol %g)", (what),   \
          (double)(a), (double)(b), (double)(tol))

/* Begin and end one named test case; RUN wraps a function in them, and
 * data-driven tests (one case per fixture) call them directly. */
static inline void check_begin(const char *name)
{
    check_current = name;
    check_current_failed = 0;
}

static inline void check_end(void)
{
    if (check_current_failed) {
        check_failed++;
        printf("FAIL %s\n", check_current);
    } else {
        check_passed++;
        printf("PASS %s\n", check_current);
    }
    fflush(stdout);
}

#define RUN(fn) (check_begin(#fn), fn(), check_end())

#define CHECK_DONE()                                                            \
    (printf("%d passed, %d failed\n", check_passed, check_failed),              \
     check_failed ? 1 : 0)

#endif

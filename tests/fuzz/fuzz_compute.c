/* libFuzzer harness: whole requests in-process through compute_run, as the
 * HTTP handler runs them (parse, decode, core, encode), with one allocation in
 * two inputs made to fail.
 * Input format, invariants: fuzz_common.h. Build and run: `make fuzz`
 * (FUZZ_SECONDS per harness; see tests/fuzz/fuzz.mk). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_compute_one(data, size);
    return 0;
}

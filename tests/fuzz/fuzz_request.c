/* libFuzzer harness: request decoding and validation (request_decode, the
 * optimizer and its state, tensors in every encoding, base64), no computation.
 * Input format, invariants: fuzz_common.h. Build and run: `make fuzz`
 * (FUZZ_SECONDS per harness; see tests/fuzz/fuzz.mk). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode_one(data, size);
    return 0;
}

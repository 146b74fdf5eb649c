#include "assets.h"

/* The assembler includes the file's bytes in .rodata, then a NUL, and the
 * size as a symbol of its own. .incbin resolves its path from the compiler's
 * working directory: the Makefile builds from the repository's top, where
 * openapi.yaml lives (and is a dependency of the server objects, so an edit
 * to it rebuilds this file). A build without the file still links and
 * answers GET /openapi.yaml with 404. */
#if __has_include("../openapi.yaml")
__asm__(".section .rodata\n"
        ".balign 16\n"
        "gs_asset_openapi:\n"
        ".incbin \"openapi.yaml\"\n"
        "gs_asset_openapi_end:\n"
        ".byte 0\n"
        ".balign 8\n"
        "gs_asset_openapi_size:\n"
        ".quad gs_asset_openapi_end - gs_asset_openapi\n"
        ".previous\n");
extern const char gs_asset_openapi[];
extern const unsigned long long gs_asset_openapi_size;

const char *asset_openapi_yaml(size_t *len)
{
    *len = (size_t)gs_asset_openapi_size;
    return gs_asset_openapi;
}
#else
const char *asset_openapi_yaml(size_t *len)
{
    *len = 0;
    return NULL;
}
#endif

/* Files built into the binary, so the running server can serve its own
 * contract whatever directory it was started from. */
#ifndef GS_SERVER_ASSETS_H
#define GS_SERVER_ASSETS_H

#include <stddef.h>

/* openapi.yaml as it was at build time (NUL-terminated), or NULL when the
 * build had none. */
const char *asset_openapi_yaml(size_t *len);

#endif

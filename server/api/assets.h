/* Files built into the binary, so the running server can serve its own
 * contract and the playground whatever directory it was started from. */
#ifndef GS_SERVER_ASSETS_H
#define GS_SERVER_ASSETS_H

#include <stddef.h>

/* openapi.yaml as it was at build time (NUL-terminated), or NULL when the
 * build had none. */
const char *asset_openapi_yaml(size_t *len);

/* A file of the playground (server/static/: "index.html", "app.js", ...) and
 * its content type, or NULL when there is no such file. */
const char *asset_static(const char *name, const char **content_type, size_t *len);

#endif

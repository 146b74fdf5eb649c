#include "api/assets.h"

#include <string.h>

/* The assembler includes the file's bytes in .rodata, then a NUL, and the
 * size as a symbol of its own. .incbin resolves its path from the compiler's
 * working directory: the Makefile builds from the repository's top, where
 * openapi.yaml lives (and is a dependency of the server objects, so an edit
 * to it rebuilds this file). A build without the file still links and
 * answers GET /openapi.yaml with 404. */
#if __has_include("../../openapi.yaml")
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

/* ---- the playground (server/static/, and the JavaScript client) ------------- */

/* One file (its path from the repository's top) as symbols NAME, NAME_end
 * (NAME_size bytes, then a NUL). The Makefile makes every file of
 * server/static/ and clients/js/ a dependency of this object. */
#define STATIC_FILE(sym, path)                                                   \
    __asm__(".section .rodata\n"                                                 \
            ".balign 16\n" #sym ":\n"                                            \
            ".incbin \"" path "\"\n" #sym "_end:\n"                               \
            ".byte 0\n"                                                          \
            ".balign 8\n" #sym "_size:\n"                                        \
            ".quad " #sym "_end - " #sym "\n"                                    \
            ".previous\n");                                                      \
    extern const char sym[];                                                     \
    extern const unsigned long long sym##_size;

STATIC_FILE(gs_static_index, "server/static/index.html")
STATIC_FILE(gs_static_style, "server/static/style.css")
STATIC_FILE(gs_static_app, "server/static/app.js")
STATIC_FILE(gs_static_data, "server/static/data.js")
STATIC_FILE(gs_static_plot, "server/static/plot.js")
STATIC_FILE(gs_static_chain, "server/static/chain.js")
STATIC_FILE(gs_static_dom, "server/static/dom.js")
STATIC_FILE(gs_static_settings, "server/static/settings.js")
STATIC_FILE(gs_static_model, "server/static/model.js")
STATIC_FILE(gs_static_netview, "server/static/netview.js")
STATIC_FILE(gs_static_sweep, "server/static/sweep.js")
/* the page talks to the server through the client users get: one copy */
STATIC_FILE(gs_static_client, "clients/js/gradserve.js")

#define HTML "text/html; charset=utf-8"
#define JS "text/javascript; charset=utf-8"
#define CSS "text/css; charset=utf-8"

static const struct {
    const char *name, *type;
    const char *data;
    const unsigned long long *size;
} STATIC_FILES[] = {
    {"index.html", HTML, gs_static_index, &gs_static_index_size},
    {"style.css", CSS, gs_static_style, &gs_static_style_size},
    {"app.js", JS, gs_static_app, &gs_static_app_size},
    {"data.js", JS, gs_static_data, &gs_static_data_size},
    {"plot.js", JS, gs_static_plot, &gs_static_plot_size},
    {"chain.js", JS, gs_static_chain, &gs_static_chain_size},
    {"dom.js", JS, gs_static_dom, &gs_static_dom_size},
    {"settings.js", JS, gs_static_settings, &gs_static_settings_size},
    {"model.js", JS, gs_static_model, &gs_static_model_size},
    {"netview.js", JS, gs_static_netview, &gs_static_netview_size},
    {"sweep.js", JS, gs_static_sweep, &gs_static_sweep_size},
    {"gradserve.js", JS, gs_static_client, &gs_static_client_size},
};

const char *asset_static(const char *name, const char **content_type, size_t *len)
{
    for (size_t i = 0; i < sizeof STATIC_FILES / sizeof STATIC_FILES[0]; i++)
        if (strcmp(STATIC_FILES[i].name, name) == 0) {
            *content_type = STATIC_FILES[i].type;
            *len = (size_t)*STATIC_FILES[i].size;
            return STATIC_FILES[i].data;
        }
    return NULL;
}

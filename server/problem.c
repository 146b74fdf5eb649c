#include "problem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json_writer.h"

void ptr_key(char out[PTR_MAX], const char *base, const char *key)
{
    char tmp[PTR_MAX];
    size_t n = (size_t)snprintf(tmp, sizeof tmp, "%s/", base);
    if (n >= sizeof tmp) n = sizeof tmp - 1;
    for (; *key && n + 3 < sizeof tmp; key++) {
        if (*key == '~' || *key == '/') {
            tmp[n++] = '~';
            tmp[n++] = *key == '~' ? '0' : '1';
        } else {
            tmp[n++] = *key;
        }
    }
    tmp[n] = 0;
    memcpy(out, tmp, n + 1);
}

void ptr_index(char out[PTR_MAX], const char *base, size_t i)
{
    char tmp[PTR_MAX];
    snprintf(tmp, sizeof tmp, "%s/%zu", base, i);
    memcpy(out, tmp, sizeof tmp);
}

static void add_entry(diag *d, const char *pointer, const char *fmt, va_list ap)
{
    if (d->n == DIAG_MAX) {
        d->dropped++;
        return;
    }
    diag_entry *e = &d->errors[d->n++];
    snprintf(e->pointer, sizeof e->pointer, "%s", pointer);
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
}

void diag_invalid(diag *d, const char *pointer, const char *fmt, ...)
{
    va_list ap;
    if (!d->status) {
        d->status = 400;
        d->slug = "invalid-request"; /* detail: counted when rendered */
    }
    va_start(ap, fmt);
    add_entry(d, pointer, fmt, ap);
    va_end(ap);
}

void diag_limit(diag *d, const char *limit, double value, const char *pointer, const char *fmt,
                ...)
{
    va_list ap;
    if (!d->status) {
        d->status = 422;
        d->slug = "limit-exceeded";
        d->limit = limit;
        d->limit_value = value;
        va_start(ap, fmt);
        vsnprintf(d->detail, sizeof d->detail, fmt, ap);
        va_end(ap);
    }
    va_start(ap, fmt);
    add_entry(d, pointer, fmt, ap);
    va_end(ap);
}

void diag_set(diag *d, int status, const char *slug, const char *fmt, ...)
{
    if (d->status) return;
    d->status = status;
    d->slug = slug;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->detail, sizeof d->detail, fmt, ap);
    va_end(ap);
}

void diag_nonfinite(diag *d, const char *pointer, const char *fmt, ...)
{
    va_list ap;
    if (d->status) return;
    d->status = 422;
    d->slug = "non-finite";
    snprintf(d->detail, sizeof d->detail,
             "A response value is not finite, which JSON numbers cannot carry; ask for "
             "\"encoding\": \"b64\" to receive it as it is.");
    va_start(ap, fmt);
    add_entry(d, pointer, fmt, ap);
    va_end(ap);
}

static const struct {
    const char *slug, *title;
} TITLES[] = {
    {"malformed-json", "Malformed JSON"},
    {"invalid-request", "Invalid request"},
    {"unauthorized", "Unauthorized"},
    {"not-found", "Not found"},
    {"method-not-allowed", "Method not allowed"},
    {"payload-too-large", "Payload too large"},
    {"unsupported-media-type", "Unsupported media type"},
    {"limit-exceeded", "Limit exceeded"},
    {"diverged", "Training diverged"},
    {"non-finite", "Non-finite value"},
    {"saturated", "Service saturated"},
    {"draining", "Service draining"},
};

const char *problem_title(const char *slug)
{
    for (size_t i = 0; slug && i < sizeof TITLES / sizeof TITLES[0]; i++)
        if (strcmp(TITLES[i].slug, slug) == 0) return TITLES[i].title;
    return "Internal error";
}

char *problem_render(const diag *d, const char *request_id, size_t *len)
{
    char type[128];
    snprintf(type, sizeof type, PROBLEM_BASE "%s", d->slug ? d->slug : "internal");
    int status = d->status >= 400 && d->status <= 599 ? d->status : 500;
    jw w;
    jw_init(&w);
    jw_object(&w);
    jw_key(&w, "type");
    jw_string(&w, type);
    jw_key(&w, "title");
    jw_string(&w, problem_title(d->slug));
    jw_key(&w, "status");
    jw_uint(&w, (uint64_t)status);
    jw_key(&w, "detail");
    if (d->slug && strcmp(d->slug, "invalid-request") == 0) {
        char counted[64];
        size_t n = d->n + d->dropped;
        snprintf(counted, sizeof counted, "%zu error%s in the request", n, n == 1 ? "" : "s");
        jw_string(&w, counted);
    } else {
        jw_string(&w, d->detail);
    }
    if (d->limit) {
        jw_key(&w, "limit");
        jw_string(&w, d->limit);
        jw_key(&w, "limit_value");
        jw_double(&w, d->limit_value);
    }
    if (d->has_step) {
        jw_key(&w, "step");
        jw_uint(&w, d->step);
    }
    if (d->n) {
        jw_key(&w, "errors");
        jw_array(&w);
        for (size_t i = 0; i < d->n; i++) {
            jw_object(&w);
            jw_key(&w, "pointer");
            jw_string(&w, d->errors[i].pointer);
            jw_key(&w, "detail");
            jw_string(&w, d->errors[i].detail);
            jw_end(&w);
        }
        jw_end(&w);
        if (d->dropped) {
            jw_key(&w, "errors_omitted");
            jw_uint(&w, d->dropped);
        }
    }
    if (request_id) {
        jw_key(&w, "request_id");
        jw_string(&w, request_id);
    }
    jw_end(&w);
    return jw_take(&w, len);
}

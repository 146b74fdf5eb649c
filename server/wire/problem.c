#include "wire/problem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "wire/json_writer.h"

/* base and its '/', truncated to PTR_MAX - 1 characters as snprintf would
 * (no printf: requests without errors make some pointers too, such as each
 * layer's while a network is read). */
static size_t ptr_base(char tmp[PTR_MAX], const char *base)
{
    size_t n = strnlen(base, PTR_MAX - 1);
    memcpy(tmp, base, n);
    if (n < PTR_MAX - 1) tmp[n++] = '/';
    return n;
}

void ptr_key(char out[PTR_MAX], const char *base, const char *key)
{
    char tmp[PTR_MAX];
    size_t n = ptr_base(tmp, base);
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
    char tmp[PTR_MAX], digits[24];
    size_t n = ptr_base(tmp, base), k = 0;
    do digits[k++] = (char)('0' + i % 10);
    while ((i /= 10) != 0);
    while (k && n < PTR_MAX - 1) tmp[n++] = digits[--k];
    tmp[n] = 0;
    memcpy(out, tmp, n + 1);
}

void ptr_write(char out[PTR_MAX], const json_ptr *at)
{
    if (!at) {
        out[0] = 0;
        return;
    }
    char up[PTR_MAX];
    ptr_write(up, at->up);
    if (at->key) ptr_key(out, up, at->key);
    else ptr_index(out, up, at->index);
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

static void add_invalid(diag *d, const char *pointer, const char *fmt, va_list ap)
{
    if (!d->status) {
        d->status = 400;
        d->slug = "invalid-request"; /* detail: counted when rendered */
    }
    add_entry(d, pointer, fmt, ap);
}

void diag_invalid(diag *d, const char *pointer, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_invalid(d, pointer, fmt, ap);
    va_end(ap);
}

void diag_invalid_at(diag *d, const json_ptr *at, const char *fmt, ...)
{
    char pointer[PTR_MAX];
    ptr_write(pointer, at);
    va_list ap;
    va_start(ap, fmt);
    add_invalid(d, pointer, fmt, ap);
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
    {"domain-error", "Outside the domain"},
    {"saturated", "Service saturated"},
    {"draining", "Service draining"},
    {"missing-refs", "Tensors not in the store"},
    {"bad-digest", "Bad digest"},
    {"store-full", "Tensor store full"},
};

const char *problem_title(const char *slug)
{
    for (size_t i = 0; slug && i < sizeof TITLES / sizeof TITLES[0]; i++)
        if (strcmp(TITLES[i].slug, slug) == 0) return TITLES[i].title;
    return "Internal error";
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
             : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    for (size_t k = 1; k < n; k++)
        if ((s[k] & 0xc0) != 0x80) return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

/* A string member whose text may hold bytes from the request (jansson's
 * syntax errors quote the bytes near the error, paths and headers are the
 * client's, and snprintf may cut a character in two): every byte that is not
 * part of valid UTF-8 becomes '?', or the problem would not be JSON. */
static void put_text(jw *w, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, n;
    while (u[i] && (n = utf8_seq(u + i))) i += n;
    if (!u[i]) {
        jw_string(w, s);
        return;
    }
    char *copy = srv_strdup(s);
    if (!copy) {
        jw_string(w, "");
        return;
    }
    unsigned char *c = (unsigned char *)copy;
    for (i = 0; c[i];) {
        n = utf8_seq(c + i);
        if (n) i += n;
        else c[i++] = '?';
    }
    jw_string(w, copy);
    srv_free(copy);
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
    put_text(&w, type);
    jw_key(&w, "title");
    put_text(&w, problem_title(d->slug));
    jw_key(&w, "status");
    jw_uint(&w, (uint64_t)status);
    jw_key(&w, "detail");
    if (d->slug && strcmp(d->slug, "invalid-request") == 0) {
        char counted[64];
        size_t n = d->n + d->dropped;
        snprintf(counted, sizeof counted, "%zu error%s in the request", n, n == 1 ? "" : "s");
        put_text(&w, counted);
    } else {
        put_text(&w, d->detail);
    }
    if (d->limit) {
        jw_key(&w, "limit");
        put_text(&w, d->limit);
        jw_key(&w, "limit_value");
        jw_double(&w, d->limit_value);
    }
    if (d->has_step) {
        jw_key(&w, "step");
        jw_uint(&w, d->step);
    }
    if (d->has_position) {
        jw_key(&w, "position");
        jw_uint(&w, d->position);
    }
    if (d->has_node) {
        jw_key(&w, "node");
        jw_uint(&w, d->node);
        jw_key(&w, "op");
        put_text(&w, d->op ? d->op : "");
    }
    if (d->errors_json) {
        jw_key(&w, "errors");
        jw_raw_value(&w, d->errors_json, strlen(d->errors_json));
    } else if (d->n) {
        jw_key(&w, "errors");
        jw_array(&w);
        for (size_t i = 0; i < d->n; i++) {
            jw_object(&w);
            jw_key(&w, "pointer");
            put_text(&w, d->errors[i].pointer);
            jw_key(&w, "detail");
            put_text(&w, d->errors[i].detail);
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
        put_text(&w, request_id);
    }
    jw_end(&w);
    return jw_take(&w, len);
}

/* openapi.yaml -> jansson, and a validator for the JSON Schema subset the
 * contract uses (see schema.h). */
#include "lib/schema.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

struct schema {
    json_t *doc;
};

/* ---- YAML -> JSON ----------------------------------------------------------- */

static int full_match(const char *pattern, const char *s)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0) return 0;
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* A plain scalar resolved by the YAML 1.2 core schema. */
static json_t *plain_scalar(const char *v)
{
    if (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
        !strcmp(v, "NULL"))
        return json_null();
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")) return json_true();
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE")) return json_false();
    if (full_match("^[-+]?[0-9]+$", v)) {
        errno = 0;
        long long n = strtoll(v, NULL, 10);
        if (errno == 0) return json_integer(n);
    }
    if (full_match("^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$", v))
        return json_real(strtod(v, NULL));
    /* .inf and .nan cannot be JSON; keep them as strings. */
    return json_string(v);
}

static json_t *yaml_node_to_json(yaml_document_t *doc, yaml_node_t *node, int depth, char *err,
                                 size_t errlen)
{
    if (!node) {
        snprintf(err, errlen, "dangling YAML node");
        return NULL;
    }
    if (depth > 200) {
        snprintf(err, errlen, "YAML nested too deeply (recursive alias?)");
        return NULL;
    }
    switch (node->type) {
    case YAML_SCALAR_NODE: {
        const char *v = (const char *)node->data.scalar.value;
        if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            json_t *j = plain_scalar(v);
            if (!j) snprintf(err, errlen, "bad scalar at line %zu", node->start_mark.line + 1);
            return j;
        }
        return json_stringn(v, node->data.scalar.length);
    }
    case YAML_SEQUENCE_NODE: {
        json_t *arr = json_array();
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            json_t *v =
                yaml_node_to_json(doc, yaml_document_get_node(doc, *it), depth + 1, err, errlen);
            if (!v) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, v);
        }
        return arr;
    }
    case YAML_MAPPING_NODE: {
        json_t *obj = json_object();
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
             p < node->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (!k || k->type != YAML_SCALAR_NODE) {
                snprintf(err, errlen, "non-scalar mapping key at line %zu",
                         node->start_mark.line + 1);
                json_decref(obj);
                return NULL;
            }
            const char *key = (const char *)k->data.scalar.value;
            if (json_object_get(obj, key)) {
                snprintf(err, errlen, "duplicate key '%s' at line %zu", key,
                         k->start_mark.line + 1);
                json_decref(obj);
                return NULL;
            }
            json_t *v = yaml_node_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1,
                                          err, errlen);
            if (!v) {
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, key, v);
        }
        return obj;
    }
    default:
        snprintf(err, errlen, "empty YAML node");
        return NULL;
    }
}

json_t *schema_yaml_to_json(const char *text, size_t len, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    json_t *out = NULL;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "yaml_parser_initialize failed");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "YAML error: %s at line %zu column %zu",
                 parser.problem ? parser.problem : "?", parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1);
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        snprintf(err, errlen, "empty YAML document");
    else
        out = yaml_node_to_json(&doc, root, 0, err, errlen);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return out;
}

schema *schema_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "out of memory");
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    fclose(f);
    json_t *doc = schema_yaml_to_json(buf, len, err, errlen);
    free(buf);
    if (!doc) return NULL;
    schema *s = calloc(1, sizeof *s);
    s->doc = doc;
    return s;
}

void schema_free(schema *s)
{
    if (!s) return;
    json_decref(s->doc);
    free(s);
}

json_t *schema_doc(const schema *s) { return s->doc; }

/* ---- references ------------------------------------------------------------ */

/* JSON Pointer (RFC 6901) lookup; pointer "" is the whole document. */
static json_t *pointer_get(json_t *root, const char *ptr)
{
    json_t *cur = root;
    if (!*ptr) return cur;
    if (*ptr != '/') return NULL;
    char tok[256];
    while (cur && *ptr == '/') {
        ptr++;
        size_t n = 0;
        while (*ptr && *ptr != '/' && n < sizeof tok - 1) {
            if (ptr[0] == '~' && ptr[1] == '1') {
                tok[n++] = '/';
                ptr += 2;
            } else if (ptr[0] == '~' && ptr[1] == '0') {
                tok[n++] = '~';
                ptr += 2;
            } else {
                tok[n++] = *ptr++;
            }
        }
        tok[n] = 0;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            cur = (*tok && !*end) ? json_array_get(cur, i) : NULL;
        } else {
            cur = NULL;
        }
    }
    return cur;
}

json_t *schema_resolve(const schema *s, const char *ref)
{
    if (!ref || ref[0] != '#') return NULL;
    return pointer_get(s->doc, ref + 1);
}

/* ---- validation ------------------------------------------------------------- */

typedef struct {
    const schema *s;
    char *err;
    size_t errlen;
    int depth;
} vctx;

static int fail(vctx *c, const char *where, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        int n = snprintf(c->err, c->errlen, "at '%s': ", *where ? where : "/");
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static int is_type(const json_t *v, const char *t)
{
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer")) {
        if (json_is_integer(v)) return 1;
        if (!json_is_real(v)) return 0;
        double d = json_real_value(v);
        return isfinite(d) && d == floor(d);
    }
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    return 0;
}

/* JSON equality where 1 and 1.0 are the same number. */
static int json_same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b);
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

static const char *const annotation_keywords[] = {
    "description", "default", "examples", "example", "format", "contentEncoding",
    "contentMediaType", "title", "deprecated", "readOnly", "writeOnly", "$comment",
    "discriminator", "xml", "externalDocs", "summary", NULL};

static int validate(vctx *c, const json_t *sch, const json_t *inst, const char *where);

static void child_where(char *buf, size_t n, const char *where, const char *key)
{
    snprintf(buf, n, "%s/%s", where, key);
}

static int validate(vctx *c, const json_t *sch, const json_t *inst, const char *where)
{
    if (json_is_true(sch)) return 0;
    if (json_is_false(sch)) return fail(c, where, "schema false admits nothing");
    if (!json_is_object(sch)) return fail(c, where, "schema is not an object");
    if (++c->depth > 400) {
        c->depth--;
        return fail(c, where, "schema recursion too deep");
    }
    int rc = 0;
    const char *kw;
    json_t *val;
    char sub[512];

    /* Every keyword must be understood. */
    json_object_foreach((json_t *)sch, kw, val) {
        static const char *const known[] = {
            "$ref", "type", "properties", "required", "additionalProperties", "propertyNames",
            "items", "prefixItems", "minItems", "maxItems", "minLength", "maxLength", "enum",
            "const", "oneOf", "anyOf", "allOf", "minimum", "maximum", "exclusiveMinimum",
            "exclusiveMaximum", "pattern", NULL};
        int ok = 0;
        for (const char *const *k = known; *k && !ok; k++) ok = !strcmp(*k, kw);
        for (const char *const *k = annotation_keywords; *k && !ok; k++) ok = !strcmp(*k, kw);
        if (!ok) {
            rc = fail(c, where, "unsupported schema keyword '%s'", kw);
            goto out;
        }
    }

    if ((val = json_object_get(sch, "$ref"))) {
        const json_t *target = json_is_string(val) ? schema_resolve(c->s, json_string_value(val))
                                                    : NULL;
        if (!target) {
            rc = fail(c, where, "unresolvable $ref %s", json_string_value(val));
            goto out;
        }
        if ((rc = validate(c, target, inst, where))) goto out;
    }
    if ((val = json_object_get(sch, "type"))) {
        int ok = 0;
        if (json_is_string(val)) {
            ok = is_type(inst, json_string_value(val));
        } else {
            size_t i;
            json_t *t;
            json_array_foreach(val, i, t) ok = ok || is_type(inst, json_string_value(t));
        }
        if (!ok) {
            char *want = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
            rc = fail(c, where, "type %s, want %s", type_name(inst), want ? want : "?");
            free(want);
            goto out;
        }
    }
    if ((val = json_object_get(sch, "enum"))) {
        size_t i;
        json_t *e;
        int ok = 0;
        json_array_foreach(val, i, e) ok = ok || json_same(e, inst);
        if (!ok) {
            char *got = json_dumps(inst, JSON_ENCODE_ANY | JSON_COMPACT);
            rc = fail(c, where, "%.60s is not in the enum", got ? got : "?");
            free(got);
            goto out;
        }
    }
    if ((val = json_object_get(sch, "const")) && !json_same(val, inst)) {
        char *got = json_dumps(inst, JSON_ENCODE_ANY | JSON_COMPACT);
        char *want = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
        rc = fail(c, where, "%.60s is not the const %s", got ? got : "?", want ? want : "?");
        free(got);
        free(want);
        goto out;
    }
    if (json_is_number(inst)) {
        double x = json_number_value(inst);
        if ((val = json_object_get(sch, "minimum")) && !(x >= json_number_value(val))) {
            rc = fail(c, where, "%g < minimum %g", x, json_number_value(val));
            goto out;
        }
        if ((val = json_object_get(sch, "maximum")) && !(x <= json_number_value(val))) {
            rc = fail(c, where, "%g > maximum %g", x, json_number_value(val));
            goto out;
        }
        if ((val = json_object_get(sch, "exclusiveMinimum")) && !(x > json_number_value(val))) {
            rc = fail(c, where, "%g <= exclusiveMinimum %g", x, json_number_value(val));
            goto out;
        }
        if ((val = json_object_get(sch, "exclusiveMaximum")) && !(x < json_number_value(val))) {
            rc = fail(c, where, "%g >= exclusiveMaximum %g", x, json_number_value(val));
            goto out;
        }
    }
    if (json_is_string(inst)) {
        const char *str = json_string_value(inst);
        size_t n = utf8_len(str);
        if ((val = json_object_get(sch, "minLength")) && n < (size_t)json_integer_value(val)) {
            rc = fail(c, where, "string shorter than %lld", (long long)json_integer_value(val));
            goto out;
        }
        if ((val = json_object_get(sch, "maxLength")) && n > (size_t)json_integer_value(val)) {
            rc = fail(c, where, "string longer than %lld", (long long)json_integer_value(val));
            goto out;
        }
        if ((val = json_object_get(sch, "pattern"))) {
            regex_t re;
            if (regcomp(&re, json_string_value(val), REG_EXTENDED | REG_NOSUB) != 0) {
                rc = fail(c, where, "pattern %s does not compile", json_string_value(val));
                goto out;
            }
            int m = regexec(&re, str, 0, NULL, 0);
            regfree(&re);
            if (m != 0) {
                rc = fail(c, where, "'%.60s' does not match %s", str, json_string_value(val));
                goto out;
            }
        }
    }
    if (json_is_array(inst)) {
        size_t n = json_array_size(inst), i;
        json_t *pre = json_object_get(sch, "prefixItems");
        size_t npre = json_is_array(pre) ? json_array_size(pre) : 0;
        if ((val = json_object_get(sch, "minItems")) && n < (size_t)json_integer_value(val)) {
            rc = fail(c, where, "%zu items, fewer than minItems %lld", n,
                      (long long)json_integer_value(val));
            goto out;
        }
        if ((val = json_object_get(sch, "maxItems")) && n > (size_t)json_integer_value(val)) {
            rc = fail(c, where, "%zu items, more than maxItems %lld", n,
                      (long long)json_integer_value(val));
            goto out;
        }
        json_t *items = json_object_get(sch, "items");
        for (i = 0; i < n; i++) {
            const json_t *s = i < npre ? json_array_get(pre, i) : items;
            if (!s) continue;
            char idx[32];
            snprintf(idx, sizeof idx, "%zu", i);
            child_where(sub, sizeof sub, where, idx);
            if ((rc = validate(c, s, json_array_get(inst, i), sub))) goto out;
        }
    }
    if (json_is_object(inst)) {
        json_t *props = json_object_get(sch, "properties");
        json_t *addl = json_object_get(sch, "additionalProperties");
        json_t *names = json_object_get(sch, "propertyNames");
        json_t *req = json_object_get(sch, "required");
        if (req) {
            size_t i;
            json_t *r;
            json_array_foreach(req, i, r) {
                if (!json_object_get(inst, json_string_value(r))) {
                    rc = fail(c, where, "required property '%s' missing", json_string_value(r));
                    goto out;
                }
            }
        }
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)inst, key, v) {
            child_where(sub, sizeof sub, where, key);
            if (names) {
                json_t *kj = json_string(key);
                rc = validate(c, names, kj, sub);
                json_decref(kj);
                if (rc) goto out;
            }
            json_t *ps = props ? json_object_get(props, key) : NULL;
            if (ps) {
                if ((rc = validate(c, ps, v, sub))) goto out;
            } else if (addl) {
                if (json_is_false(addl)) {
                    rc = fail(c, where, "unexpected property '%s'", key);
                    goto out;
                }
                if ((rc = validate(c, addl, v, sub))) goto out;
            }
        }
    }
    if ((val = json_object_get(sch, "allOf"))) {
        size_t i;
        json_t *s;
        json_array_foreach(val, i, s) {
            if ((rc = validate(c, s, inst, where))) goto out;
        }
    }
    if ((val = json_object_get(sch, "anyOf"))) {
        size_t i;
        json_t *s;
        int ok = 0;
        char first[512] = "";
        json_array_foreach(val, i, s) {
            if (validate(c, s, inst, where) == 0) {
                ok = 1;
                break;
            }
            if (!*first) snprintf(first, sizeof first, "%s", c->err ? c->err : "");
        }
        if (!ok) {
            rc = fail(c, where, "matches no anyOf branch (first: %s)", first);
            goto out;
        }
    }
    if ((val = json_object_get(sch, "oneOf"))) {
        size_t i;
        json_t *s;
        int matches = 0;
        char reasons[768] = "";
        json_array_foreach(val, i, s) {
            if (validate(c, s, inst, where) == 0) {
                matches++;
            } else if (c->err) {
                size_t l = strlen(reasons);
                snprintf(reasons + l, sizeof reasons - l, "%s[%zu] %.200s", l ? "; " : "", i,
                         c->err);
            }
        }
        if (matches != 1) {
            rc = matches ? fail(c, where, "matches %d oneOf branches", matches)
                         : fail(c, where, "matches no oneOf branch: %s", reasons);
            goto out;
        }
    }
out:
    c->depth--;
    return rc;
}

int schema_validate(const schema *s, const json_t *schema_node, const json_t *instance, char *err,
                    size_t errlen)
{
    char dummy[8];
    vctx c = {s, err ? err : dummy, err ? errlen : sizeof dummy, 0};
    if (err && errlen) err[0] = 0;
    return validate(&c, schema_node, instance, "");
}

int schema_validate_ref(const schema *s, const char *ref, const json_t *instance, char *err,
                        size_t errlen)
{
    json_t *node = schema_resolve(s, ref);
    if (!node) {
        snprintf(err, errlen, "no schema at %s", ref);
        return -1;
    }
    return schema_validate(s, node, instance, err, errlen);
}

/* ---- responses ---------------------------------------------------------------- */

static json_t *deref(const schema *s, json_t *node)
{
    for (int i = 0; i < 16 && json_is_object(node); i++) {
        json_t *ref = json_object_get(node, "$ref");
        if (!json_is_string(ref)) return node;
        node = schema_resolve(s, json_string_value(ref));
    }
    return node;
}

/* "application/problem+json; charset=utf-8" -> "application/problem+json" (lower case). */
static void media_type(const char *ct, char *out, size_t n)
{
    size_t i = 0;
    while (ct && *ct == ' ') ct++;
    for (; ct && *ct && *ct != ';' && i + 1 < n; ct++)
        if (*ct != ' ') out[i++] = (char)tolower((unsigned char)*ct);
    out[i] = 0;
}

/* Parameters of a media type as a canonical "k=v;k=v" string (lower case, no spaces). */
static void media_params(const char *ct, char *out, size_t n)
{
    size_t i = 0;
    const char *p = ct ? strchr(ct, ';') : NULL;
    out[0] = 0;
    if (!p) return;
    for (; *p && i + 1 < n; p++)
        if (*p != ' ') out[i++] = (char)tolower((unsigned char)*p);
    out[i] = 0;
}

static int is_json_media(const char *mt)
{
    size_t n = strlen(mt);
    return !strcmp(mt, "application/json") || (n > 5 && !strcmp(mt + n - 5, "+json"));
}

/* The declared content whose media type (and declared parameters) the actual
 * content type matches; parameters the declaration lacks (charset) are free. */
static json_t *match_content(json_t *content, const char *ct)
{
    char mt[128], got_params[256];
    media_type(ct, mt, sizeof mt);
    media_params(ct, got_params, sizeof got_params);
    const char *key;
    json_t *v;
    json_object_foreach(content, key, v) {
        char kmt[128], kparams[256];
        media_type(key, kmt, sizeof kmt);
        media_params(key, kparams, sizeof kparams);
        if (strcmp(kmt, mt)) continue;
        if (*kparams) {
            /* each declared ";k=v" must appear among the actual parameters */
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", kparams);
            int ok = 1;
            for (char *save = NULL, *tok = strtok_r(tmp, ";", &save); tok;
                 tok = strtok_r(NULL, ";", &save)) {
                char needle[260];
                snprintf(needle, sizeof needle, ";%s", tok);
                const char *hit = strstr(got_params, needle);
                size_t nl = strlen(needle);
                if (!hit || (hit[nl] && hit[nl] != ';')) ok = 0;
            }
            if (!ok) continue;
        }
        return v;
    }
    return NULL;
}

static int check_headers(const schema *s, json_t *resp, schema_header_fn header, void *hctx,
                         char *err, size_t errlen)
{
    json_t *headers = json_object_get(resp, "headers");
    const char *name;
    json_t *h;
    if (!headers || !header) return 0;
    json_object_foreach(headers, name, h) {
        h = deref(s, h);
        const char *value = header(hctx, name);
        if (!value) {
            if (json_is_true(json_object_get(h, "required"))) {
                snprintf(err, errlen, "required header %s missing", name);
                return -1;
            }
            continue;
        }
        json_t *hs = json_object_get(h, "schema");
        if (!hs) continue;
        json_t *hsd = deref(s, hs);
        json_t *type = json_object_get(hsd, "type");
        json_t *inst;
        if (json_is_string(type) && !strcmp(json_string_value(type), "integer")) {
            char *end;
            errno = 0;
            long long n = strtoll(value, &end, 10);
            if (!*value || *end || errno) {
                snprintf(err, errlen, "header %s: '%s' is not an integer", name, value);
                return -1;
            }
            inst = json_integer(n);
        } else {
            inst = json_string(value);
        }
        char sub[400];
        int rc = schema_validate(s, hs, inst, sub, sizeof sub);
        json_decref(inst);
        if (rc) {
            snprintf(err, errlen, "header %s: %s", name, sub);
            return -1;
        }
    }
    return 0;
}

/* 1 when path matches a templated path of the contract ("/static/{file}"):
 * each "{name}" stands for one non-empty segment without '/'. */
static int path_matches(const char *tmpl, const char *path)
{
    while (*tmpl && *path) {
        if (*tmpl == '{') {
            const char *close = strchr(tmpl, '}');
            if (!close || *path == '/') return 0;
            while (*path && *path != '/') path++;
            tmpl = close + 1;
        } else if (*tmpl++ != *path++) {
            return 0;
        }
    }
    return !*tmpl && !*path;
}

/* The path item for path: an exact key, else a templated one. */
static json_t *find_path_item(json_t *paths, const char *path)
{
    json_t *item = json_object_get(paths, path);
    const char *key;
    json_t *v;
    if (item) return item;
    json_object_foreach(paths, key, v) {
        if (strchr(key, '{') && path_matches(key, path)) return v;
    }
    return NULL;
}

int schema_check_response(const schema *s, const char *method, const char *path, long status,
                          const char *content_type, const char *body, size_t body_len,
                          schema_header_fn header, void *header_ctx, char *err, size_t errlen)
{
    char p[512], m[16], code[24], range[24];
    size_t i;
    snprintf(p, sizeof p, "%s", path);
    p[strcspn(p, "?#")] = 0;
    for (i = 0; method[i] && i < sizeof m - 1; i++) m[i] = (char)tolower((unsigned char)method[i]);
    m[i] = 0;
    snprintf(code, sizeof code, "%ld", status);
    snprintf(range, sizeof range, "%ldXX", status / 100);

    json_t *paths = json_object_get(s->doc, "paths");
    json_t *item = find_path_item(paths, p);
    json_t *resp = NULL;
    const char *what = "";
    if (!item) {
        what = "unknown path";
        if (status == 404) resp = schema_resolve(s, "#/components/responses/NotFound");
    } else {
        json_t *op = json_object_get(item, m);
        if (!op) {
            what = "method not in path";
            if (status == 405) resp = schema_resolve(s, "#/components/responses/MethodNotAllowed");
            else if (status == 404) resp = schema_resolve(s, "#/components/responses/NotFound");
        } else {
            json_t *rs = json_object_get(op, "responses");
            resp = json_object_get(rs, code);
            if (!resp) resp = json_object_get(rs, range);
            if (!resp) resp = json_object_get(rs, "default");
        }
    }
    if (!resp) {
        snprintf(err, errlen, "%s %s: status %ld is not documented%s%s", method, p, status,
                 *what ? " (" : "", *what ? what : "");
        if (*what) strncat(err, ")", errlen - strlen(err) - 1);
        return -1;
    }
    resp = deref(s, resp);
    char sub[600];
    if (check_headers(s, resp, header, header_ctx, sub, sizeof sub)) {
        snprintf(err, errlen, "%s %s %ld: %s", method, p, status, sub);
        return -1;
    }
    json_t *content = json_object_get(resp, "content");
    if (!content || json_object_size(content) == 0) {
        if (body_len) {
            snprintf(err, errlen, "%s %s %ld: documented without a body but has %zu bytes",
                     method, p, status, body_len);
            return -1;
        }
        return 0;
    }
    if (!content_type || !*content_type) {
        snprintf(err, errlen, "%s %s %ld: no Content-Type", method, p, status);
        return -1;
    }
    json_t *media = match_content(content, content_type);
    if (!media) {
        snprintf(err, errlen, "%s %s %ld: content type '%s' is not documented", method, p,
                 status, content_type);
        return -1;
    }
    char mt[128];
    media_type(content_type, mt, sizeof mt);
    json_t *sch = json_object_get(media, "schema");
    if (!is_json_media(mt)) return 0; /* text bodies: a string by definition */
    json_error_t jerr;
    json_t *inst = json_loadb(body ? body : "", body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!inst) {
        snprintf(err, errlen, "%s %s %ld: body is not JSON: %s (line %d col %d)", method, p,
                 status, jerr.text, jerr.line, jerr.column);
        return -1;
    }
    int rc = sch ? schema_validate(s, sch, inst, sub, sizeof sub) : 0;
    if (rc) snprintf(err, errlen, "%s %s %ld: %s", method, p, status, sub);
    /* RFC 9457 as the contract states it: the body's status is the HTTP status. */
    if (!rc && !strcmp(mt, "application/problem+json") &&
        json_integer_value(json_object_get(inst, "status")) != status) {
        snprintf(err, errlen, "%s %s %ld: problem status member is %lld", method, p, status,
                 (long long)json_integer_value(json_object_get(inst, "status")));
        rc = -1;
    }
    json_decref(inst);
    return rc;
}

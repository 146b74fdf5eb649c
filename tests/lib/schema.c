/* openapi.yaml -> jansson, load-time checks that refuse any schema keyword
 * the validator does not implement, and the validator (draft 2020-12, the
 * dialect of OpenAPI 3.1): see schema.h. Proven against the official JSON
 * Schema Test Suite by tests/test_schema_suite.c. */
#include "lib/schema.h"

#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

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

/* ---- the loaded contract ------------------------------------------------------ */

/* A "pattern" or "patternProperties" key compiled once, found by its text. */
typedef struct {
    char *source;  /* the ECMA-262 text as the schema writes it */
    regex_t chars; /* its POSIX ERE translation, compiled in the UTF-8 locale */
    /* The same compiled in the C locale when source is ASCII: on ASCII text
     * it matches exactly what chars does, several times faster (long base64
     * strings in responses). */
    regex_t bytes;
    bool ascii;
} compiled_pattern;

struct schema {
    json_t *doc;
    locale_t utf8;  /* C.UTF-8: a pattern's "." and [^...] match characters, not bytes */
    locale_t bytes; /* C */
    compiled_pattern *patterns;
    size_t n_patterns, cap_patterns;
    /* Every schema node the load-time checks passed (sorted by address once
     * loading ends): validation only ever starts from one of these. */
    const json_t **checked;
    size_t n_checked, cap_checked;
    bool sorted;
};

void schema_free(schema *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_patterns; i++) {
        regfree(&s->patterns[i].chars);
        if (s->patterns[i].ascii) regfree(&s->patterns[i].bytes);
        free(s->patterns[i].source);
    }
    free(s->patterns);
    free(s->checked);
    if (s->utf8) freelocale(s->utf8);
    if (s->bytes) freelocale(s->bytes);
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

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* "#/$defs/percent%25field" -> the node at JSON Pointer "/$defs/percent%field":
 * a $ref is a URI, so its fragment is percent-decoded before it is read as a
 * pointer. Only same-document fragments resolve; NULL otherwise. */
json_t *schema_resolve(const schema *s, const char *ref)
{
    if (!ref || ref[0] != '#') return NULL;
    if (!strchr(ref, '%')) return pointer_get(s->doc, ref + 1); /* nothing to decode */
    char ptr[1024];
    size_t n = 0;
    for (const char *r = ref + 1; *r; r++) {
        if (n + 1 >= sizeof ptr) return NULL;
        int hi, lo;
        if (*r == '%' && (hi = hex_digit(r[1])) >= 0 && (lo = hex_digit(r[2])) >= 0) {
            ptr[n++] = (char)(hi * 16 + lo);
            r += 2;
        } else {
            ptr[n++] = *r;
        }
    }
    ptr[n] = 0;
    return pointer_get(s->doc, ptr);
}

/* ---- patterns: ECMA-262 as POSIX ERE ------------------------------------------- */

/* \t \n \r \f \v as the byte they stand for; 0 for any other letter. */
static char control_escape(char e)
{
    switch (e) {
    case 't': return '\t';
    case 'n': return '\n';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'v': return '\v';
    default: return 0;
    }
}

/* JSON Schema patterns are ECMA-262 regular expressions, not anchored; glibc
 * has POSIX EREs. This rewrites the part of ECMA-262 whose meaning is certain
 * in ERE: literals, ^ $ | ( ) (?:...), quantifiers (lazy ones match the same
 * strings as greedy ones), [...] classes, "." (any character but a line
 * terminator), \d \D \w \W (ASCII in ECMA-262 too), \t \n \r \f \v and
 * escaped punctuation. Anything else (\s, \b, \p{...}, back-references,
 * look-around, [:alpha:] inside a class, ...) is refused with the construct
 * named in err, so a pattern is never read with another meaning. Returns a
 * malloc'd ERE, or NULL with err. */
static char *ecma_to_ere(const char *src, char *err, size_t errlen)
{
    /* The longest expansion is "." -> 11 bytes and \W (2 bytes) -> 13. */
    char *out = malloc(16 * strlen(src) + 1), *o = out;
    const char *s = src;
    char lit;
    if (!out) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    while (*s) {
        if (s[0] == '\\') {
            char e = s[1];
            if (e && strchr(".^$|()[]{}*+?\\", e)) {
                *o++ = '\\';
                *o++ = e;
            } else if (e == '/' || e == '-') {
                *o++ = e;
            } else if (e == 'd' || e == 'D' || e == 'w' || e == 'W') {
                const char *set = e == 'd' || e == 'D' ? "0-9" : "A-Za-z0-9_";
                o += sprintf(o, "[%s%s]", e == 'D' || e == 'W' ? "^" : "", set);
            } else if ((lit = control_escape(e))) {
                *o++ = lit;
            } else {
                snprintf(err, errlen, "pattern '%s': escape \\%c is not supported", src,
                         e ? e : ' ');
                goto refused;
            }
            s += 2;
        } else if (s[0] == '[') {
            *o++ = *s++;
            if (*s == '^') *o++ = *s++;
            if (*s == ']') {
                snprintf(err, errlen, "pattern '%s': an empty class [] or [^] is not supported",
                         src);
                goto refused;
            }
            while (*s && *s != ']') {
                if (s[0] == '\\') {
                    char e = s[1];
                    if (e == 'd') {
                        o = stpcpy(o, "0-9");
                    } else if (e == 'w') {
                        o = stpcpy(o, "A-Za-z0-9_");
                    } else if ((lit = control_escape(e))) {
                        *o++ = lit;
                    } else if (e && strchr(".$|(){}*+?/", e)) {
                        *o++ = e; /* literal inside a POSIX bracket as it is */
                    } else {
                        /* \] \\ \- \^ \[ have no position-free POSIX spelling */
                        snprintf(err, errlen,
                                 "pattern '%s': escape \\%c inside [...] is not supported", src,
                                 e ? e : ' ');
                        goto refused;
                    }
                    s += 2;
                } else if (s[0] == '[' && (s[1] == ':' || s[1] == '.' || s[1] == '=')) {
                    snprintf(err, errlen, "pattern '%s': [%c inside [...] means a POSIX class, "
                             "not ECMA-262 characters", src, s[1]);
                    goto refused;
                } else {
                    *o++ = *s++;
                }
            }
            if (!*s) {
                snprintf(err, errlen, "pattern '%s': unterminated [", src);
                goto refused;
            }
            *o++ = *s++;
        } else if (s[0] == '(' && s[1] == '?') {
            if (s[2] != ':') {
                snprintf(err, errlen, "pattern '%s': (?%c (look-around or named group) is not "
                         "supported", src, s[2] ? s[2] : ' ');
                goto refused;
            }
            *o++ = '(';
            s += 3;
        } else if (strchr("*+?}", s[0]) && s[1] == '?') {
            *o++ = s[0]; /* lazy: a match exists exactly when the greedy one does */
            s += 2;
        } else if (s[0] == '.') {
            o = stpcpy(o, "[^\n\r\xE2\x80\xA8\xE2\x80\xA9]"); /* not \n \r U+2028 U+2029 */
            s++;
        } else {
            *o++ = *s++;
        }
    }
    *o = 0;
    return out;
refused:
    free(out);
    return NULL;
}

static const compiled_pattern *pattern_find(const schema *s, const char *source)
{
    for (size_t i = 0; i < s->n_patterns; i++)
        if (!strcmp(s->patterns[i].source, source)) return &s->patterns[i];
    return NULL;
}

static bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80) return false;
    return true;
}

/* regcomp in locale loc; 0 or regcomp's error code. */
static int compile_in(regex_t *re, const char *ere, locale_t loc)
{
    locale_t before = uselocale(loc);
    int rc = regcomp(re, ere, REG_EXTENDED | REG_NOSUB);
    uselocale(before);
    return rc;
}

/* Compiles source into s once; false with err when it is refused or fails
 * (nothing is added then). */
static bool pattern_compile(schema *s, const char *source, char *err, size_t errlen)
{
    if (pattern_find(s, source)) return true;
    if (s->n_patterns == s->cap_patterns) {
        size_t cap = s->cap_patterns ? 2 * s->cap_patterns : 16;
        compiled_pattern *np = realloc(s->patterns, cap * sizeof *np);
        if (!np) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        s->patterns = np;
        s->cap_patterns = cap;
    }
    char *ere = ecma_to_ere(source, err, errlen);
    if (!ere) return false;
    compiled_pattern *cp = &s->patterns[s->n_patterns];
    cp->ascii = is_ascii(source);
    int rc = compile_in(&cp->chars, ere, s->utf8);
    if (rc != 0) {
        char why[128];
        regerror(rc, &cp->chars, why, sizeof why);
        snprintf(err, errlen, "pattern '%s' does not compile (as ERE '%s': %s)", source, ere, why);
        free(ere);
        return false;
    }
    if (cp->ascii && compile_in(&cp->bytes, ere, s->bytes) != 0) {
        regfree(&cp->chars);
        snprintf(err, errlen, "pattern '%s' does not compile in the C locale", source);
        free(ere);
        return false;
    }
    free(ere);
    cp->source = strdup(source);
    if (!cp->source) {
        regfree(&cp->chars);
        if (cp->ascii) regfree(&cp->bytes);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    s->n_patterns++;
    return true;
}

/* 1 when text matches the (load-time compiled) pattern anywhere, 0 when not,
 * -1 when the pattern was never compiled. */
static int pattern_matches(const schema *s, const char *source, const char *text)
{
    const compiled_pattern *cp = pattern_find(s, source);
    if (!cp) return -1;
    bool bytes = cp->ascii && is_ascii(text);
    locale_t before = uselocale(bytes ? s->bytes : s->utf8);
    int rc = regexec(bytes ? &cp->bytes : &cp->chars, text, 0, NULL, 0);
    uselocale(before);
    return rc == 0;
}

/* ---- keywords --------------------------------------------------------------- */

/* What a keyword's value must be; the load-time checks refuse anything else. */
typedef enum {
    KW_ANNOTATION,  /* anything: no effect on validity */
    KW_SCHEMA,      /* a schema */
    KW_SCHEMA_MAP,  /* an object whose members are schemas */
    KW_PATTERN_MAP, /* the same, keyed by patterns */
    KW_SCHEMA_LIST, /* a non-empty array of schemas */
    KW_COUNT,       /* a non-negative integer (2.0 counts as 2) */
    KW_NUMBER,
    KW_NAMES,       /* an array of strings */
    KW_VALUES,      /* an array of any values */
    KW_ANY,
    KW_TYPE,        /* a type name or a non-empty array of them */
    KW_PATTERN,     /* an ECMA-262 pattern in the supported part (ecma_to_ere) */
    KW_REF,         /* "#" or "#/json/pointer" into the same document */
    KW_DIALECT,     /* the draft 2020-12 or OpenAPI 3.1 dialect URI */
} kw_value;

/* Every keyword the validator knows. Draft 2020-12 semantics; annotations are
 * those of 2020-12 (format and content* are annotations there) and OpenAPI
 * 3.1's base dialect. A keyword not here makes the schema refused. */
static const struct keyword {
    const char *name;
    kw_value value;
} keywords[] = {
    {"$schema", KW_DIALECT},
    {"$ref", KW_REF},
    {"$defs", KW_SCHEMA_MAP},
    {"type", KW_TYPE},
    {"enum", KW_VALUES},
    {"const", KW_ANY},
    {"minimum", KW_NUMBER},
    {"maximum", KW_NUMBER},
    {"exclusiveMinimum", KW_NUMBER},
    {"exclusiveMaximum", KW_NUMBER},
    {"minLength", KW_COUNT},
    {"maxLength", KW_COUNT},
    {"pattern", KW_PATTERN},
    {"prefixItems", KW_SCHEMA_LIST},
    {"items", KW_SCHEMA},
    {"minItems", KW_COUNT},
    {"maxItems", KW_COUNT},
    {"properties", KW_SCHEMA_MAP},
    {"patternProperties", KW_PATTERN_MAP},
    {"additionalProperties", KW_SCHEMA},
    {"propertyNames", KW_SCHEMA},
    {"required", KW_NAMES},
    {"allOf", KW_SCHEMA_LIST},
    {"anyOf", KW_SCHEMA_LIST},
    {"oneOf", KW_SCHEMA_LIST},
    {"$comment", KW_ANNOTATION},
    {"title", KW_ANNOTATION},
    {"description", KW_ANNOTATION},
    {"default", KW_ANNOTATION},
    {"examples", KW_ANNOTATION},
    {"deprecated", KW_ANNOTATION},
    {"readOnly", KW_ANNOTATION},
    {"writeOnly", KW_ANNOTATION},
    {"format", KW_ANNOTATION},
    {"contentEncoding", KW_ANNOTATION},
    {"contentMediaType", KW_ANNOTATION},
    {"contentSchema", KW_ANNOTATION},
    {"example", KW_ANNOTATION},       /* OpenAPI 3.1 base dialect, deprecated there */
    {"discriminator", KW_ANNOTATION}, /* OpenAPI: a hint; oneOf/anyOf still decide */
    {"xml", KW_ANNOTATION},
    {"externalDocs", KW_ANNOTATION},
};

const char *schema_keyword(size_t i, bool *annotation)
{
    if (i >= sizeof keywords / sizeof keywords[0]) return NULL;
    if (annotation) *annotation = keywords[i].value == KW_ANNOTATION;
    return keywords[i].name;
}

static const struct keyword *keyword_find(const char *name)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (!strcmp(keywords[i].name, name)) return &keywords[i];
    return NULL;
}

static bool dialect_supported(const json_t *uri)
{
    const char *u = json_string_value(uri);
    return u && (!strcmp(u, "https://json-schema.org/draft/2020-12/schema") ||
                 !strcmp(u, "https://json-schema.org/draft/2020-12/schema#") ||
                 !strcmp(u, "https://spec.openapis.org/oas/3.1/dialect/base"));
}

/* ---- load-time checks -------------------------------------------------------- */

typedef struct {
    schema *s;
    char *err;
    size_t errlen;
} lctx;

/* Writes "at '<where>': <reason>" into err; returns false. */
static bool refuse(lctx *c, const char *where, const char *fmt, ...)
{
    int n = snprintf(c->err, c->errlen, "at '%s': ", *where ? where : "#");
    if (n >= 0 && (size_t)n < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* where + "/" + key, the key escaped as RFC 6901 says (~ -> ~0, / -> ~1). */
static void pointer_append(char *buf, size_t n, const char *where, const char *key)
{
    size_t i = (size_t)snprintf(buf, n, "%s/", where);
    for (; *key && i + 3 < n; key++) {
        if (*key == '~' || *key == '/') {
            buf[i++] = '~';
            buf[i++] = *key == '~' ? '0' : '1';
        } else {
            buf[i++] = *key;
        }
    }
    if (i < n) buf[i] = 0;
}

static int cmp_ptr(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    return x < y ? -1 : x > y;
}

static bool was_checked(const schema *s, const json_t *node)
{
    if (!s->n_checked) return false; /* a boolean root schema: no nodes, no array */
    if (s->sorted)
        return bsearch(&node, s->checked, s->n_checked, sizeof *s->checked, cmp_ptr) != NULL;
    for (size_t i = 0; i < s->n_checked; i++)
        if (s->checked[i] == node) return true;
    return false;
}

static bool is_count(const json_t *v)
{
    double d = json_number_value(v);
    return json_is_number(v) && isfinite(d) && d >= 0 && d == floor(d);
}

static bool is_type_name(const json_t *t)
{
    static const char *const names[] = {"null", "boolean", "object", "array",
                                        "number", "string", "integer"};
    for (size_t i = 0; json_is_string(t) && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(json_string_value(t), names[i])) return true;
    return false;
}

static bool check_schema(lctx *c, const json_t *sch, const char *where);

static bool check_value(lctx *c, const struct keyword *k, const json_t *v, const char *where)
{
    char sub[512];
    const char *key;
    json_t *m;
    size_t i;
    switch (k->value) {
    case KW_ANNOTATION:
    case KW_ANY: return true;
    case KW_SCHEMA: return check_schema(c, v, where);
    case KW_SCHEMA_MAP:
    case KW_PATTERN_MAP:
        if (!json_is_object(v)) return refuse(c, where, "%s must be an object", k->name);
        json_object_foreach((json_t *)v, key, m) {
            if (k->value == KW_PATTERN_MAP && !pattern_compile(c->s, key, c->err, c->errlen)) {
                char why[400];
                snprintf(why, sizeof why, "%s", c->err);
                return refuse(c, where, "%s: %s", k->name, why);
            }
            pointer_append(sub, sizeof sub, where, key);
            if (!check_schema(c, m, sub)) return false;
        }
        return true;
    case KW_SCHEMA_LIST:
        if (!json_is_array(v) || json_array_size(v) == 0)
            return refuse(c, where, "%s must be a non-empty array of schemas", k->name);
        json_array_foreach(v, i, m) {
            snprintf(sub, sizeof sub, "%s/%zu", where, i);
            if (!check_schema(c, m, sub)) return false;
        }
        return true;
    case KW_COUNT:
        return is_count(v) || refuse(c, where, "%s must be a non-negative integer", k->name);
    case KW_NUMBER:
        return json_is_number(v) || refuse(c, where, "%s must be a number", k->name);
    case KW_NAMES:
        if (!json_is_array(v)) return refuse(c, where, "%s must be an array of strings", k->name);
        json_array_foreach(v, i, m) {
            if (!json_is_string(m))
                return refuse(c, where, "%s must be an array of strings", k->name);
        }
        return true;
    case KW_VALUES:
        return json_is_array(v) || refuse(c, where, "%s must be an array", k->name);
    case KW_TYPE:
        if (is_type_name(v)) return true;
        if (json_is_array(v) && json_array_size(v) > 0) {
            json_array_foreach(v, i, m) {
                if (!is_type_name(m)) break;
            }
            if (i == json_array_size(v)) return true;
        }
        return refuse(c, where, "type must be a type name or an array of them");
    case KW_PATTERN:
        if (!json_is_string(v)) return refuse(c, where, "pattern must be a string");
        if (!pattern_compile(c->s, json_string_value(v), c->err, c->errlen)) {
            char why[400];
            snprintf(why, sizeof why, "%s", c->err);
            return refuse(c, where, "%s", why);
        }
        return true;
    case KW_REF: {
        const char *ref = json_string_value(v);
        if (!ref || ref[0] != '#' || (ref[1] && ref[1] != '/'))
            return refuse(c, where, "$ref '%s': only JSON Pointers into the same document "
                          "(\"#/...\") are supported", ref ? ref : "(not a string)");
        const json_t *target = schema_resolve(c->s, ref);
        if (!target) return refuse(c, where, "$ref '%s' does not resolve", ref);
        return check_schema(c, target, ref + 1);
    }
    case KW_DIALECT:
        return dialect_supported(v) ||
               refuse(c, where, "$schema '%s': only draft 2020-12 (OpenAPI 3.1's dialect) "
                      "is implemented", json_is_string(v) ? json_string_value(v) : "?");
    }
    return refuse(c, where, "keyword table broken");
}

/* Refuses a schema (and every schema under it or reached by its $refs) that
 * uses a keyword not in keywords[] or a keyword value of the wrong kind;
 * compiles its patterns and records its nodes as checked. */
static bool check_schema(lctx *c, const json_t *sch, const char *where)
{
    if (json_is_boolean(sch)) return true;
    if (!json_is_object(sch)) return refuse(c, where, "a schema must be an object or a boolean");
    if (was_checked(c->s, sch)) return true; /* also ends $ref cycles */
    if (c->s->n_checked == c->s->cap_checked) {
        size_t cap = c->s->cap_checked ? 2 * c->s->cap_checked : 256;
        const json_t **nc = realloc(c->s->checked, cap * sizeof *nc);
        if (!nc) return refuse(c, where, "out of memory");
        c->s->checked = nc;
        c->s->cap_checked = cap;
    }
    c->s->checked[c->s->n_checked++] = sch;
    const char *kw;
    json_t *v;
    char sub[512];
    json_object_foreach((json_t *)sch, kw, v) {
        const struct keyword *k = keyword_find(kw);
        if (!k) return refuse(c, where, "unsupported schema keyword '%s'", kw);
        pointer_append(sub, sizeof sub, where, kw);
        if (!check_value(c, k, v, sub)) return false;
    }
    return true;
}

/* Walks an OpenAPI document: every "schema" member (media types, headers,
 * parameters) and every components/schemas entry is checked as a schema. */
static bool check_openapi_node(lctx *c, const json_t *node, const char *where)
{
    char sub[512];
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_array(node)) {
        json_array_foreach(node, i, v) {
            snprintf(sub, sizeof sub, "%s/%zu", where, i);
            if (!check_openapi_node(c, v, sub)) return false;
        }
        return true;
    }
    if (!json_is_object(node)) return true;
    json_object_foreach((json_t *)node, key, v) {
        pointer_append(sub, sizeof sub, where, key);
        if (!strcmp(key, "example") || !strcmp(key, "examples")) continue; /* data, not schemas */
        bool ok;
        if (!strcmp(key, "schema")) {
            ok = check_schema(c, v, sub);
        } else if (!strcmp(where, "/components") && !strcmp(key, "schemas")) {
            ok = check_value(c, &(struct keyword){"schemas", KW_SCHEMA_MAP}, v, sub);
        } else {
            ok = check_openapi_node(c, v, sub);
        }
        if (!ok) return false;
    }
    return true;
}

/* A schema over doc (a new reference is taken), its UTF-8 locale ready. */
static schema *schema_new(json_t *doc, char *err, size_t errlen)
{
    schema *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->doc = json_incref(doc);
    s->utf8 = newlocale(LC_CTYPE_MASK | LC_COLLATE_MASK, "C.UTF-8", (locale_t)0);
    s->bytes = newlocale(LC_CTYPE_MASK | LC_COLLATE_MASK, "C", (locale_t)0);
    if (!s->utf8 || !s->bytes) {
        snprintf(err, errlen, "newlocale C.UTF-8 / C: %s", strerror(errno));
        schema_free(s);
        return NULL;
    }
    return s;
}

/* Ends loading: validation looks nodes up by address from here on. */
static void schema_seal(schema *s)
{
    if (s->n_checked) qsort(s->checked, s->n_checked, sizeof *s->checked, cmp_ptr);
    s->sorted = true;
}

schema *schema_from_json(json_t *root, char *err, size_t errlen)
{
    schema *s = schema_new(root, err, errlen);
    if (!s) return NULL;
    lctx c = {s, err, errlen};
    if (!check_schema(&c, root, "")) {
        schema_free(s);
        return NULL;
    }
    schema_seal(s);
    return s;
}

schema *schema_from_openapi(json_t *doc, char *err, size_t errlen)
{
    const char *version = json_string_value(json_object_get(doc, "openapi"));
    if (!version || strncmp(version, "3.1.", 4)) {
        /* 3.0's schemas are another dialect (nullable, boolean exclusiveMinimum, ...) */
        snprintf(err, errlen, "openapi '%s': only OpenAPI 3.1 (JSON Schema 2020-12) is implemented",
                 version ? version : "(missing)");
        return NULL;
    }
    json_t *dialect = json_object_get(doc, "jsonSchemaDialect");
    if (dialect && !dialect_supported(dialect)) {
        snprintf(err, errlen, "jsonSchemaDialect '%s': only draft 2020-12 is implemented",
                 json_is_string(dialect) ? json_string_value(dialect) : "?");
        return NULL;
    }
    schema *s = schema_new(doc, err, errlen);
    if (!s) return NULL;
    lctx c = {s, err, errlen};
    if (!check_openapi_node(&c, doc, "")) {
        schema_free(s);
        return NULL;
    }
    schema_seal(s);
    return s;
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
    schema *s = schema_from_openapi(doc, err, errlen);
    json_decref(doc);
    return s;
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
    int n = snprintf(c->err, c->errlen, "at '%s': ", *where ? where : "/");
    if (n >= 0 && (size_t)n < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
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

/* 2020-12: an integer is any number with a zero fractional part (1.0 too). */
static bool is_type(const json_t *v, const char *t)
{
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer")) {
        if (json_is_integer(v)) return true;
        if (!json_is_real(v)) return false;
        double d = json_real_value(v);
        return isfinite(d) && d == floor(d);
    }
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    return false;
}

/* JSON equality as JSON Schema means it (enum, const): numbers by value, so
 * 1 and 1.0 are equal at any depth; arrays in order; objects by members. */
static bool json_same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b)) return false;
    if (json_is_array(a)) {
        size_t n = json_array_size(a);
        if (n != json_array_size(b)) return false;
        for (size_t i = 0; i < n; i++)
            if (!json_same(json_array_get(a, i), json_array_get(b, i))) return false;
        return true;
    }
    if (json_is_object(a)) {
        const char *key;
        json_t *v;
        if (json_object_size(a) != json_object_size(b)) return false;
        json_object_foreach((json_t *)a, key, v) {
            json_t *w = json_object_get(b, key);
            if (!w || !json_same(v, w)) return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b); /* strings (with NULs), true, false, null */
}

/* Characters (code points) of a UTF-8 string of len bytes. */
static size_t utf8_len(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

static int validate(vctx *c, const json_t *sch, const json_t *inst, const char *where);

/* Every keyword of a checked schema node (see check_schema) applied to inst,
 * the first failure reported; 2020-12 applies $ref beside its siblings. */
static int validate(vctx *c, const json_t *sch, const json_t *inst, const char *where)
{
    if (json_is_true(sch)) return 0;
    if (json_is_false(sch)) return fail(c, where, "schema false admits nothing");
    if (++c->depth > 400) {
        c->depth--;
        return fail(c, where, "schema recursion too deep");
    }
    int rc = 0;
    json_t *val;
    char sub[512];

    if ((val = json_object_get(sch, "$ref"))) {
        const json_t *target = schema_resolve(c->s, json_string_value(val));
        if (!target) {
            rc = fail(c, where, "unresolvable $ref %s", json_string_value(val));
            goto out;
        }
        if ((rc = validate(c, target, inst, where))) goto out;
    }
    if ((val = json_object_get(sch, "type"))) {
        bool ok = false;
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
        bool ok = false;
        json_array_foreach(val, i, e) ok = ok || json_same(e, inst);
        if (!ok) {
            char *got = json_dumps(inst, JSON_ENCODE_ANY | JSON_COMPACT);
            rc = fail(c, where, "%.80s is not in enum", got ? got : "?");
            free(got);
            goto out;
        }
    }
    if ((val = json_object_get(sch, "const")) && !json_same(val, inst)) {
        char *want = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
        rc = fail(c, where, "want const %.80s", want ? want : "?");
        free(want);
        goto out;
    }
    if (json_is_number(inst)) {
        double x = json_number_value(inst);
        if ((val = json_object_get(sch, "minimum")) && x < json_number_value(val)) {
            rc = fail(c, where, "%g < minimum %g", x, json_number_value(val));
            goto out;
        }
        if ((val = json_object_get(sch, "maximum")) && x > json_number_value(val)) {
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
        double n = (double)utf8_len(str, json_string_length(inst));
        if ((val = json_object_get(sch, "minLength")) && n < json_number_value(val)) {
            rc = fail(c, where, "string shorter than %g", json_number_value(val));
            goto out;
        }
        if ((val = json_object_get(sch, "maxLength")) && n > json_number_value(val)) {
            rc = fail(c, where, "string longer than %g", json_number_value(val));
            goto out;
        }
        if ((val = json_object_get(sch, "pattern")) &&
            pattern_matches(c->s, json_string_value(val), str) != 1) {
            rc = fail(c, where, "'%.60s' does not match %s", str, json_string_value(val));
            goto out;
        }
    }
    if (json_is_array(inst)) {
        size_t n = json_array_size(inst), i;
        json_t *pre = json_object_get(sch, "prefixItems");
        size_t npre = json_array_size(pre); /* 0 when absent */
        if ((val = json_object_get(sch, "minItems")) && (double)n < json_number_value(val)) {
            rc = fail(c, where, "%zu items, fewer than minItems %g", n, json_number_value(val));
            goto out;
        }
        if ((val = json_object_get(sch, "maxItems")) && (double)n > json_number_value(val)) {
            rc = fail(c, where, "%zu items, more than maxItems %g", n, json_number_value(val));
            goto out;
        }
        json_t *items = json_object_get(sch, "items");
        for (i = 0; i < n; i++) {
            const json_t *s = i < npre ? json_array_get(pre, i) : items;
            if (!s) continue;
            char idx[32];
            snprintf(idx, sizeof idx, "%zu", i);
            pointer_append(sub, sizeof sub, where, idx);
            if ((rc = validate(c, s, json_array_get(inst, i), sub))) goto out;
        }
    }
    if (json_is_object(inst)) {
        json_t *props = json_object_get(sch, "properties");
        json_t *pattern_props = json_object_get(sch, "patternProperties");
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
            pointer_append(sub, sizeof sub, where, key);
            if (names) {
                json_t *kj = json_string(key);
                rc = validate(c, names, kj, sub);
                json_decref(kj);
                if (rc) goto out;
            }
            json_t *ps = props ? json_object_get(props, key) : NULL;
            if (ps && (rc = validate(c, ps, v, sub))) goto out;
            bool by_pattern = false;
            if (pattern_props) {
                const char *p;
                json_t *pps;
                json_object_foreach(pattern_props, p, pps) {
                    if (pattern_matches(c->s, p, key) != 1) continue;
                    by_pattern = true;
                    if ((rc = validate(c, pps, v, sub))) goto out;
                }
            }
            if (!ps && !by_pattern && addl) {
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
        bool ok = false;
        char first[512] = "";
        json_array_foreach(val, i, s) {
            if (validate(c, s, inst, where) == 0) {
                ok = true;
                break;
            }
            if (!*first) snprintf(first, sizeof first, "%s", c->err);
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
            } else {
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

/* A node the load-time checks did not pass is refused, so an unchecked
 * keyword can never pass silently. */
int schema_validate(const schema *s, const json_t *node, const json_t *instance, char *err,
                    size_t errlen)
{
    char scratch[600];
    vctx c = {s, err ? err : scratch, err ? errlen : sizeof scratch, 0};
    c.err[0] = 0;
    if (!json_is_boolean(node) && !was_checked(s, node)) {
        snprintf(c.err, c.errlen, "not a schema of the loaded document (only those are checked)");
        return -1;
    }
    return validate(&c, node, instance, "");
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
    json_t *inst =
        json_loadb(body ? body : "", body_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
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

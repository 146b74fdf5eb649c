/* The response validator (tests/lib/schema.c) against the official JSON Schema
 * Test Suite: its draft 2020-12 cases (OpenAPI 3.1's dialect), copied
 * unchanged into tests/jsonschema-suite/ (SOURCE there says from where, and
 * why not Debian's json-schema-test-suite package: it stops at draft 7).
 *
 * Every file of the suite is read. A file proves a keyword the validator
 * implements (schema_keyword(), mapped to files by suite_file()): each of its
 * cases is one check, run as it stands, and a group of cases whose schema the
 * validator refuses fails unless it is in expected_refusals[] below. Any
 * other file is about a keyword the validator does not implement: each group
 * must be refused with the reason named (one check per group), or, when its
 * schema happens not to use that keyword, pass every case; and each such
 * file must have at least one group refused. Two optional files test what
 * "pattern" means (ECMA-262): there each group is refused or passes every
 * case. No server is needed. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/schema.h"

#define SUITE_DIR "tests/jsonschema-suite/draft2020-12"

/* Groups of implemented keywords' files that the validator refuses, each for
 * a keyword (or a kind of $ref, or a pattern) it does not implement: none is
 * used by openapi.yaml, and loading the contract would refuse any of them.
 * reason: a piece of the refusal message. */
static const struct {
    const char *file, *group, *reason;
} expected_refusals[] = {
    /* dependentSchemas: not implemented */
    {"additionalProperties.json", "dependentSchemas with additionalProperties", "'dependentSchemas'"},
    /* multipleOf: not implemented */
    {"allOf.json", "allOf combined with anyOf, oneOf", "'multipleOf'"},
    /* \p{...} Unicode property escapes have no POSIX ERE spelling */
    {"pattern.json", "pattern with Unicode property escape requires unicode mode", "\\p"},
    {"patternProperties.json", "patternProperties with Unicode property escape", "\\p"},
    /* a $ref to another document (the meta-schema, by its URI) */
    {"defs.json", "validate definition against metaschema", "$ref"},
    {"ref.json", "remote ref, containing refs itself", "$ref"},
    /* $id and $anchor (base URIs, URNs, anchors): not implemented */
    {"ref.json", "Recursive references between schemas", "'$id'"},
    {"ref.json", "refs with relative uris and defs", "'$id'"},
    {"ref.json", "relative refs with absolute uris and defs", "'$id'"},
    {"ref.json", "$id must be resolved against nearest parent, not just immediate parent", "'$id'"},
    {"ref.json", "order of evaluation: $id and $ref", "'$id'"},
    {"ref.json", "order of evaluation: $id and $anchor and $ref", "'$id'"},
    {"ref.json", "order of evaluation: $id and $ref on nested schema", "'$id'"},
    {"ref.json", "simple URN base URI with $ref via the URN", "'$id'"},
    {"ref.json", "simple URN base URI with JSON pointer", "'$id'"},
    {"ref.json", "URN base URI with NSS", "'$id'"},
    {"ref.json", "URN base URI with r-component", "'$id'"},
    {"ref.json", "URN base URI with q-component", "'$id'"},
    {"ref.json", "URN base URI with URN and JSON pointer ref", "'$id'"},
    {"ref.json", "URN base URI with URN and anchor ref", "'$id'"},
    {"ref.json", "ref with absolute-path-reference", "'$id'"},
    {"ref.json", "$id with file URI still resolves pointers - *nix", "'$id'"},
    {"ref.json", "$id with file URI still resolves pointers - windows", "'$id'"},
    /* $refs by URN or URL to a subschema's $id */
    {"ref.json", "URN ref with nested pointer ref", "$ref"},
    {"ref.json", "ref to if", "$ref"},
    {"ref.json", "ref to then", "$ref"},
    {"ref.json", "ref to else", "$ref"},
    /* unevaluatedProperties: not implemented */
    {"ref.json", "ref creates new scope when adjacent to keywords", "'unevaluatedProperties'"},
};
#define N_REFUSALS (sizeof expected_refusals / sizeof expected_refusals[0])
static bool refusal_seen[N_REFUSALS];

/* The suite's file of cases for a keyword, or NULL when it has none. */
static const char *suite_file(const char *keyword, char *buf, size_t n)
{
    if (!strcmp(keyword, "$ref")) return "ref.json";
    if (!strcmp(keyword, "$defs")) return "defs.json";
    if (!strncmp(keyword, "content", 7)) return "content.json"; /* contentEncoding, ... */
    snprintf(buf, n, "%s.json", keyword);
    char path[512];
    snprintf(path, sizeof path, SUITE_DIR "/%s", buf);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    fclose(f);
    return buf;
}

/* Files of cases that prove the implemented keywords; the two files about
 * no one keyword (boolean schemas, $ref loops) belong here too. */
static bool proves_implemented(const char *file)
{
    if (!strcmp(file, "boolean_schema.json") || !strcmp(file, "infinite-loop-detection.json"))
        return true;
    const char *kw;
    char buf[128];
    for (size_t i = 0; (kw = schema_keyword(i, NULL)); i++) {
        const char *f = suite_file(kw, buf, sizeof buf);
        if (f && !strcmp(f, file)) return true;
    }
    return false;
}

static int listed_refusal(const char *file, const char *group)
{
    for (size_t i = 0; i < N_REFUSALS; i++)
        if (!strcmp(expected_refusals[i].file, file) && !strcmp(expected_refusals[i].group, group))
            return (int)i;
    return -1;
}

static int cases_run, groups_refused, cases_refused;

/* Every case of one group as one check each. */
static void run_cases(const char *file, const schema *s, json_t *group)
{
    const char *gdesc = json_string_value(json_object_get(group, "description"));
    size_t i;
    json_t *tc;
    json_array_foreach(json_object_get(group, "tests"), i, tc) {
        char name[600], err[600] = "";
        snprintf(name, sizeof name, "%s: %s: %s", file, gdesc,
                 json_string_value(json_object_get(tc, "description")));
        check_begin(name);
        json_t *valid = json_object_get(tc, "valid");
        int rc = schema_validate_ref(s, "#", json_object_get(tc, "data"), err, sizeof err);
        CHECK(json_is_boolean(valid), "case without a boolean \"valid\"");
        CHECK((rc == 0) == json_is_true(valid), "validator says %s (%s)",
              rc == 0 ? "valid" : "invalid", err);
        check_end();
        cases_run++;
    }
}

/* optional: a file of the suite's optional cases (no keyword of its own). */
static void run_file(const char *dir, const char *file, bool optional)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_error_t je;
    json_t *groups = json_load_file(path, JSON_ALLOW_NUL, &je);
    bool implemented = proves_implemented(file);
    int refused_here = 0;
    if (!json_is_array(groups)) {
        check_begin(file);
        CHECK(0, "cannot read %s: %s (line %d)", path, je.text, je.line);
        check_end();
        json_decref(groups);
        return;
    }
    size_t gi;
    json_t *group;
    json_array_foreach(groups, gi, group) {
        const char *gdesc = json_string_value(json_object_get(group, "description"));
        char err[600] = "", name[600];
        schema *s = schema_from_json(json_object_get(group, "schema"), err, sizeof err);
        int listed = listed_refusal(file, gdesc);
        if (listed >= 0) refusal_seen[listed] = true;
        if (s) {
            if (listed >= 0) {
                snprintf(name, sizeof name, "%s: %s: listed as refused", file, gdesc);
                check_begin(name);
                CHECK(0, "the validator now loads it: take it off expected_refusals[]");
                check_end();
            }
            run_cases(file, s, group);
            schema_free(s);
            continue;
        }
        size_t n_cases = json_array_size(json_object_get(group, "tests"));
        snprintf(name, sizeof name, "%s: %s: refused (%zu cases)", file, gdesc, n_cases);
        check_begin(name);
        if (implemented) {
            CHECK(listed >= 0, "refused but not in expected_refusals[]: %s", err);
            CHECK(listed < 0 || strstr(err, expected_refusals[listed].reason),
                  "refused for another reason than %s: %s",
                  listed >= 0 ? expected_refusals[listed].reason : "", err);
        } else {
            /* the reason names what is refused, e.g. "unsupported schema keyword 'not'" */
            CHECK(strstr(err, "unsupported schema keyword '") || strstr(err, "$ref") ||
                      strstr(err, "$schema") || strstr(err, "pattern"),
                  "refused without naming a keyword: %s", err);
        }
        check_end();
        refused_here++;
        groups_refused++;
        cases_refused += (int)n_cases;
    }
    if (!implemented && !optional) {
        char name[300];
        snprintf(name, sizeof name, "%s: a keyword the validator refuses", file);
        check_begin(name);
        CHECK(refused_here > 0, "no group refused: is its keyword implemented unlisted?");
        check_end();
    }
    json_decref(groups);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every keyword that asserts has its file of cases ($schema has none: every
 * case's schema names the dialect with it). */
static void test_every_keyword_has_cases(void)
{
    const char *kw;
    char buf[128];
    bool annotation;
    for (size_t i = 0; (kw = schema_keyword(i, &annotation)); i++) {
        if (annotation || !strcmp(kw, "$schema")) continue;
        CHECK(suite_file(kw, buf, sizeof buf) != NULL, "no file of cases for keyword %s", kw);
    }
}

/* Runs every .json file of dir in name order; returns how many, 0 when dir
 * cannot be read. */
static size_t run_dir(const char *dir, bool optional)
{
    DIR *d = opendir(dir);
    char name[300];
    snprintf(name, sizeof name, "%s present", dir);
    check_begin(name);
    CHECK(d != NULL, "cannot open %s (run from the repository root)", dir);
    check_end();
    if (!d) return 0;
    char *files[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < sizeof files / sizeof files[0]) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".json")) files[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(files, n, sizeof files[0], cmp_str);
    for (size_t i = 0; i < n; i++) {
        run_file(dir, files[i], optional);
        free(files[i]);
    }
    return n;
}

int main(void)
{
    RUN(test_every_keyword_has_cases);
    size_t n = run_dir(SUITE_DIR, false);
    /* The suite's optional cases of ECMA-262 regular expressions: "pattern"
     * promises ECMA-262 meaning, so each group is refused (a construct
     * ecma_to_ere does not translate) or passes every case. The other
     * optional files (formats as assertions, bignums, $id forms, ...) are
     * about what the validator does not claim, and are not copied. */
    n += run_dir(SUITE_DIR "/optional", true);
    check_begin("expected_refusals_all_found");
    for (size_t i = 0; i < N_REFUSALS; i++)
        CHECK(refusal_seen[i], "%s: no group \"%s\": fix expected_refusals[]",
              expected_refusals[i].file, expected_refusals[i].group);
    check_end();
    printf("suite: %zu files, %d cases run, %d groups (%d cases) refused\n", n, cases_run,
           groups_refused, cases_refused);
    return CHECK_DONE();
}

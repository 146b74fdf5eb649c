/* fastjson_scan's record of where each packed tensor was: the JSON Pointer
 * the codec looks it up by (fastjson_find) must be the one ptr_key and
 * ptr_index write, segment by segment, for keys that need escaping ("~" and
 * "/"), many-digit indices, and paths long enough that ptr_key truncates;
 * and the skeleton holds a 0 where each array was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "wire/fastjson.h"
#include "wire/problem.h"

/* The pointer the codec builds for the path of keys (NULL ends; a key that
 * is a number in brackets is an index: "[12]"). */
static void codec_pointer(char out[PTR_MAX], const char *const *path)
{
    out[0] = 0;
    for (; *path; path++) {
        if (**path == '[') ptr_index(out, out, strtoul(*path + 1, NULL, 10));
        else ptr_key(out, out, *path);
    }
}

static void test_escaped_keys_and_indices(void)
{
    static const char *const patterns[] = {"/*/#/w", NULL};
    const char *body = "{\"a/b~c\": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, {\"w\": [1, 2]}],"
                       " \"plain\": [{\"w\": [[1, 2], [3, 4]]}], \"~/~/\": [{\"w\": [5]}]}";
    fastjson f;
    CHECK(fastjson_scan(&f, body, strlen(body), patterns) == 0, "scan");
    const char *const p0[] = {"a/b~c", "[11]", "w", NULL}, *const p1[] = {"plain", "[0]", "w", NULL},
                      *const p2[] = {"~/~/", "[0]", "w", NULL};
    const char *const *paths[] = {p0, p1, p2};
    CHECK(f.n == 3, "%zu packed", f.n);
    for (size_t i = 0; i < 3 && i < f.n; i++) {
        char want[PTR_MAX];
        codec_pointer(want, paths[i]);
        CHECK(!strcmp(f.arr[i].ptr, want), "%s, not %s", f.arr[i].ptr, want);
        CHECK(fastjson_find(&f, want) == &f.arr[i], "find %s", want);
    }
    CHECK(f.skeleton && strstr(f.skeleton, "{\"w\": 0}") && !strstr(f.skeleton, "[1, 2]"),
          "skeleton %s", f.skeleton ? f.skeleton : "(none)");
    fastjson_free(&f);
}

/* Keys of 32 characters, each one escaped ("~" is "~0"): ptr_key's
 * truncation at PTR_MAX is reached on the third level. */
static void test_long_paths(void)
{
    char key[33];
    memset(key, '~', 32);
    key[32] = 0;
    static const char *const patterns[] = {"/*/*/*/w", "/*/*/w", "/*/w", NULL};
    char body[1024];
    snprintf(body, sizeof body,
             "{\"%s\": {\"w\": [1], \"%s\": {\"w\": [2], \"%s\": {\"w\": [3]}}}}", key, key, key);
    fastjson f;
    CHECK(fastjson_scan(&f, body, strlen(body), patterns) == 0, "scan");
    CHECK(f.n == 3, "%zu packed", f.n);
    const char *const p0[] = {key, "w", NULL}, *const p1[] = {key, key, "w", NULL},
                      *const p2[] = {key, key, key, "w", NULL};
    const char *const *paths[] = {p0, p1, p2};
    for (size_t i = 0; i < 3 && i < f.n; i++) {
        char want[PTR_MAX];
        codec_pointer(want, paths[i]);
        CHECK(!strcmp(f.arr[i].ptr, want), "level %zu: %s, not %s", i + 1, f.arr[i].ptr, want);
    }
    char last[PTR_MAX];
    codec_pointer(last, p2);
    CHECK(strlen(last) < 3 * 65 + 2, "the third level is truncated (%zu)", strlen(last));
    fastjson_free(&f);
}

int main(void)
{
    RUN(test_escaped_keys_and_indices);
    RUN(test_long_paths);
    return CHECK_DONE();
}

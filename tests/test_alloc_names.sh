#!/bin/sh
# Every allocation of the server goes through the hook by name (server/alloc.h:
# srv_malloc, srv_calloc, srv_realloc, srv_strdup, srv_strndup, srv_free), so
# that tests/test_alloc_faults.c can fail each in turn. alloc.h poisons libc's
# names in every file that includes it; this finds them in any file, with or
# without that include (comments stripped by the preprocessor). alloc.c, the
# hook itself, is the one file that calls libc.
cd "$(dirname "$0")/.." || exit 1
passed=0; failed=0
NAMES='(malloc|calloc|realloc|strdup|strndup|free)'
for f in $(find server -name '*.c' -o -name '*.h' | sort); do
    [ "$f" = server/alloc.c ] || [ "$f" = server/alloc.h ] && continue
    # code only: comments and string literals' contents do not count
    hits=$(${CC:-cc} -fpreprocessed -dD -E -P "$f" 2>/dev/null |
           sed -E 's/"([^"\\]|\\.)*"/""/g' |
           grep -nE "(^|[^A-Za-z0-9_.>])$NAMES[[:space:]]*[(),;]")
    if [ -n "$hits" ]; then
        echo "FAIL $f calls libc's allocator by name, bypassing the hook:"
        printf '%s\n' "$hits" | sed 's/^/  /'
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
done
[ "$failed" -eq 0 ] && echo "PASS every_server_file_allocates_through_the_hook ($passed files)"
[ "$failed" -eq 0 ] && passed=1 || passed=0
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

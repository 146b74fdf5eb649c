#!/bin/sh
# The server under valgrind memcheck, for `make test-valgrind` (set as
# GRADSERVE_BIN; the tests pass their flags through). Any memory error, or a
# definitely or indirectly lost block at exit, makes the process exit 99.
# Each run's report goes to $VALGRIND_LOG_DIR/server.<pid>.log.
dir=${VALGRIND_LOG_DIR:-build/valgrind}
mkdir -p "$dir"
exec valgrind --quiet --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --log-file="$dir/server.%p.log" "${VALGRIND_SERVER:-build/gradserve}" "$@"

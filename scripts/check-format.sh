#!/usr/bin/env bash
# Fail when a C file differs from what clang-format (the repo's .clang-format)
# would write.
set -uo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h')
if ! clang-format --dry-run -Werror $files; then
    echo "check-format: run clang-format -i on the files above"
    exit 1
fi
echo "check-format: clean ($(echo "$files" | wc -w) files)"

#!/usr/bin/env bash
# CI: test.sh must work from a source archive, where there is no .git. Copy
# the source tree without .git into a temporary directory (git's files when
# this is a checkout, everything but node_modules when it is not) and run
# test.sh's formatting step there, with standard input closed and under a
# timeout, so a step that waits for input or hangs fails here. Then check
# that the step still sees the files there (without git, `git ls-files`
# lists nothing and a check of nothing passes): an unformatted file added to
# the copy must fail it, by name, and one under node_modules must not.
set -euo pipefail
cd "$(dirname "$0")/.."

limit="${ARCHIVE_CHECK_TIMEOUT:-120}"
work=$(mktemp -d "${TMPDIR:-/tmp}/seen-archive-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree="$work/seen"
mkdir "$tree"

# A checkout of this repository, not an archive unpacked inside another one.
if [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$(pwd -P)" ]; then
	# What `git archive` would pack, as it is in the work tree: tracked files
	# (less any deleted) and new files not ignored, so that a change is
	# checked before it is committed. On a clean clone (CI) this is HEAD.
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done |
		tar -c --null --no-recursion -T - | tar -x -C "$tree"
	echo "archive-check: git's files, without .git, in $tree"
else
	tar -c --exclude=./.git --exclude=node_modules . | tar -x -C "$tree"
	echo "archive-check: the tree (not a git checkout) copied to $tree"
fi
if [ -e "$tree/.git" ]; then
	echo "archive-check: the copy has a .git" >&2
	exit 1
fi

# step runs the formatting step in the copy as test.sh does, without stdin.
step() {
	local rc=0
	timeout "$limit" bash "$tree/.ci/gofmt.sh" </dev/null >"$work/out" 2>&1 || rc=$?
	if [ "$rc" = 124 ]; then
		echo "archive-check: the gofmt step hung (killed after ${limit}s) in a tree without .git" >&2
		exit 1
	fi
	return "$rc"
}

if ! step; then
	echo "archive-check: the gofmt step failed in a tree without .git:" >&2
	cat "$work/out" >&2
	exit 1
fi

mkdir -p "$tree/internal/zz_archive_check" "$tree/web/node_modules/dep"
printf 'package zz\nfunc  F( ) {}\n' >"$tree/internal/zz_archive_check/bad.go"
printf 'package dep\nfunc  F( ) {}\n' >"$tree/web/node_modules/dep/dep.go"
if step; then
	echo "archive-check: the gofmt step passed an unformatted file in a tree without .git" >&2
	exit 1
fi
if ! grep -q 'internal/zz_archive_check/bad.go' "$work/out"; then
	echo "archive-check: the gofmt step failed without naming the unformatted file:" >&2
	cat "$work/out" >&2
	exit 1
fi
if grep -q node_modules "$work/out"; then
	echo "archive-check: the gofmt step looked into node_modules:" >&2
	cat "$work/out" >&2
	exit 1
fi
echo "archive-check: ok"

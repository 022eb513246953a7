#!/usr/bin/env bash
# CI: the docs name only files that exist. In README.md and docs/*.md, every
# `code span` or link target that is a repository path (it begins with one of
# the repository's top-level entries, or ends in .go, .md or .sh) must exist,
# relative to the repository root or to the page. Runtime paths (/etc/...,
# <data>/admin-key) and URLs are not repository paths and are not checked;
# nor is what a test or build writes, when a .gitignore beside it names it.
set -euo pipefail
cd "$(dirname "$0")/.."

top=()
for e in *; do top+=("$e"); done
for e in .ci; do [ -e "$e" ] && top+=("$e"); done

# ignored reports whether the .gitignore of the path's directory, or the
# root one, names it (plain names only: that is how this repository ignores
# its generated directories).
ignored() {
	local p=${1%/} name dir
	name=$(basename "$p")
	dir=$(dirname "$p")
	grep -qxE "/?($name|$p)/?" "$dir/.gitignore" .gitignore 2>/dev/null
}

missing=0
for page in README.md docs/*.md; do
	dir=$(dirname "$page")
	while IFS= read -r ref; do
		path=${ref%%#*}
		[ -n "$path" ] || continue
		case "$path" in *://* | /* | \<* | *' '*) continue ;; esac
		repo_path=0
		case "$path" in *.go | *.md | *.sh) repo_path=1 ;; esac
		for e in "${top[@]}"; do
			case "$path" in "$e" | "$e"/*) repo_path=1 ;; esac
		done
		[ "$repo_path" = 1 ] || continue
		if [ ! -e "$path" ] && [ ! -e "$dir/$path" ] && ! ignored "$path"; then
			echo "$page: names $ref, which is not in the repository" >&2
			missing=1
		fi
	done < <(grep -oE '`[^`]+`|\]\([^)]+\)' "$page" | sed -E 's/^`(.*)`$/\1/; s/^\]\((.*)\)$/\1/')
done
exit "$missing"

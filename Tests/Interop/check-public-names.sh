#!/usr/bin/env bash
# Fails when a public top-level name of the EventLoop module is missing from
# the interop check's source file, so a new public type cannot skip the check
# that it lives beside SwiftNIO, swift-system and Foundation without a clash.
#
# A public top-level name is a `public`/`open` class, struct, enum, protocol,
# typealias, actor, func, let or var declared at column 0 in
# Sources/EventLoop/**/*.swift (members are indented, so they are not listed).
# "Appears" means as a whole word outside `//` comments of the interop file.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sources="$root/Sources/EventLoop"
interop="$here/Sources/InteropCheck/main.swift"

attribute='@[A-Za-z_]+(\([^)]*\))?[[:space:]]+'
modifier='(final|indirect|nonisolated|@[A-Za-z_]+(\([^)]*\))?)[[:space:]]+'
kind='(class|struct|enum|protocol|typealias|actor|func|let|var)'
declaration="^($attribute)*(public|open)[[:space:]]+($modifier)*$kind[[:space:]]+\`?[A-Za-z_][A-Za-z0-9_]*"

names="$(
  find "$sources" -name '*.swift' -print0 \
    | xargs -0 grep -hoE "$declaration" \
    | sed -E 's/.*[[:space:]]`?([A-Za-z_][A-Za-z0-9_]*)$/\1/' \
    | sort -u
)"
if [[ -z "$names" ]]; then
  echo "check-public-names: found no public declarations in $sources; is the pattern stale?" >&2
  exit 1
fi

code="$(sed -E 's://.*$::' "$interop")"
missing=()
while read -r name; do
  grep -qw -- "$name" <<<"$code" || missing+=("$name")
done <<<"$names"

count="$(wc -l <<<"$names" | tr -d ' ')"
if ((${#missing[@]} > 0)); then
  echo "check-public-names: ${#missing[@]} of $count public names of EventLoop are not used in" >&2
  echo "  ${interop#"$root"/}" >&2
  echo "Add each one, unqualified, to ourNames() there (e.g. 'let _: Name.Type = Name.self'):" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
echo "check-public-names: all $count public names of EventLoop are used in ${interop#"$root"/}"

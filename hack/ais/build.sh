#!/usr/bin/env bash
# Builds AIStore's `aisnode` (the proxy and target executable, github.com/NVIDIA/aistore v1.5.0) once per
# machine from the Go module proxy, for the benchmark that runs Ferry's data path beside AIStore's.
#
# cmd/aisnode is a main package inside the aistore root module (no go.mod of its own), so it is built by
# package path from a throwaway wrapper module that requires aistore at the pinned version; aistore's own
# go.sum is copied in so every dependency is checked against the hashes its release pins. Build flags follow
# aistore's Makefile (`make node`, production mode): tags `mono`, no cloud backends, -trimpath, -w -s.
#
# Output: $FERRY_CACHE/aisnode-<version>/aisnode (default ~/.cache/ferry); skipped if present.
# Go caches live under $FERRY_CACHE/go. Prints the binary's path on the last line.
set -euo pipefail

version=${AIS_VERSION:-v1.5.0}
module=github.com/NVIDIA/aistore

die() { echo "build-ais: $*" >&2; exit 1; }
command -v go >/dev/null || die "Go is not installed (need a Go that satisfies aistore $version's go directive)"

cache=${FERRY_CACHE:-$HOME/.cache/ferry}
out="$cache/aisnode-$version/aisnode"
if [ -x "$out" ]; then
  echo "build-ais: $out cached" >&2
  echo "$out"
  exit 0
fi

export GOPATH="$cache/go" GOMODCACHE="$cache/go/pkg/mod" GOCACHE="$cache/go/build-cache"
export GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local GOSUMDB=off CGO_ENABLED=0
mkdir -p "$GOPATH" "$(dirname "$out")"

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-ais-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "build-ais: fetching $module@$version ..." >&2
src=$(cd "$work" && go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$src" ] && [ -f "$src/go.mod" ] || die "cannot download $module@$version from the Go module proxy"
godir=$(awk '$1 == "go" {print $2; exit}' "$src/go.mod")

cat >"$work/go.mod" <<EOF
module ferry.local/aisbuild

go $godir

require $module $version
EOF
cp "$src/go.sum" "$work/go.sum"
chmod u+w "$work/go.sum"

commit=$(sed -n 's/.*"Hash": *"\([0-9a-f]\{7\}\).*/\1/p' "$(go env GOMODCACHE)/cache/download/github.com/!n!v!i!d!i!a/aistore/@v/$version.info" 2>/dev/null || true)
ldflags="-w -s -X 'main.build=${commit:-$version}' -X 'main.buildtime=$(date -u +%FT%TZ)'"

echo "build-ais: building aisnode $version (first build on this machine takes several minutes) ..." >&2
t0=$(date +%s)
(cd "$work" && go build -trimpath -tags mono -ldflags "$ldflags" -o "$out.tmp" "$module/cmd/aisnode")
mv "$out.tmp" "$out"
echo "build-ais: built in $(( $(date +%s) - t0 ))s" >&2
echo "$out"

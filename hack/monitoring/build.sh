#!/usr/bin/env bash
# Fetches, once per machine, what the chart's monitoring objects are validated against:
#   crds/       prometheus-operator's own CustomResourceDefinitions (ServiceMonitor, PodMonitor, PrometheusRule,
#               ...), from its Go module (directory example/prometheus-operator-crd/) through the Go module proxy
#   rulecheck   Prometheus's rule loader (model/rulefmt + the PromQL parser) built from rulecheck/ (pinned there)
# Output: $FERRY_CACHE/monitoring-<operator version>-<prometheus version> (default ~/.cache/ferry); prints it last.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "build-monitoring: $*" >&2; exit 1; }
command -v go >/dev/null || die "Go is not installed (need Go on PATH); the CRDs come from the Go module proxy"

operator_module=github.com/prometheus-operator/prometheus-operator
operator_version=v0.85.0  # the prometheus-operator release whose CRDs the chart is validated against
prometheus=$(awk '$1 == "github.com/prometheus/prometheus" && $2 ~ /^v/ {print $2; exit}' "$here/rulecheck/go.mod")
[ -n "$prometheus" ] || die "cannot read the pinned Prometheus version from $here/rulecheck/go.mod"

cache=${FERRY_CACHE:-$HOME/.cache/ferry}
out="$cache/monitoring-$operator_version-$prometheus"
mkdir -p "$out"
export GOSUMDB=off

if [ ! -f "$out/crds/.done" ]; then
  echo "build-monitoring: fetching $operator_module@$operator_version (its CRDs)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # a throwaway module: `go mod download` of a module version needs a main module to resolve against
  (cd "$tmp" && printf 'module fetch\n' >go.mod && GOFLAGS=-mod=mod go mod download -json "$operator_module@$operator_version" >info.json) \
    || die "go mod download $operator_module@$operator_version failed (the Go module proxy must serve it)"
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$tmp/info.json")
  [ -d "$dir/example/prometheus-operator-crd" ] || die "no example/prometheus-operator-crd in $dir"
  rm -rf "$out/crds" && mkdir -p "$out/crds"
  cp "$dir"/example/prometheus-operator-crd/*.yaml "$out/crds/"
  chmod u+w "$out"/crds/*.yaml
  touch "$out/crds/.done"
fi

if [ ! -x "$out/rulecheck" ]; then
  echo "build-monitoring: building rulecheck (Prometheus $prometheus rule loader)" >&2
  (cd "$here/rulecheck" && GOFLAGS="-buildvcs=false -mod=readonly" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/rulecheck.tmp" .) \
    || { rm -f "$out/rulecheck.tmp"; die "building rulecheck failed (the Go module proxy must serve the modules in rulecheck/go.sum)"; }
  mv "$out/rulecheck.tmp" "$out/rulecheck"
fi
echo "$out"

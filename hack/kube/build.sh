#!/usr/bin/env bash
# Builds the pinned Kubernetes binaries once per machine into a cache: the control plane (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler), the node agents (kubelet, kube-proxy), kubectl,
# helm, CoreDNS (the cluster's DNS), and the sandbox's `pause` (compiled statically from build/pause/linux/pause.c of the same
# k8s.io/kubernetes module source, with the C compiler).
#
# Versions come from the go.mod files beside this script (the single source of truth).
# Output: $FERRY_CACHE/kube-<version>/bin (default ~/.cache/ferry); prints that directory last.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "build-kube: $*" >&2; exit 1; }
command -v go >/dev/null || die "Go is not installed (need Go >= 1.24 on PATH); the control plane is built from the Go module proxy"

modver() { awk -v m="$2" '{for (i = 1; i < NF; i++) if ($i == m && $(i+1) ~ /^v/) {print $(i+1); exit}}' "$here/$1/go.mod"; }
kube=$(modver k8s k8s.io/kubernetes)
etcd=$(modver etcd go.etcd.io/etcd/server/v3)
helm=$(modver helm helm.sh/helm/v3)
coredns=$(modver coredns github.com/coredns/coredns)
[ -n "$kube" ] && [ -n "$etcd" ] && [ -n "$helm" ] && [ -n "$coredns" ] || die "cannot read pinned versions from $here/*/go.mod"

cache=${FERRY_CACHE:-$HOME/.cache/ferry}
bin="$cache/kube-$kube-etcd-$etcd-helm-$helm/bin"
mkdir -p "$bin"

export GOFLAGS="-buildvcs=false -mod=readonly" GOSUMDB=off CGO_ENABLED=0

minor=${kube#v1.}; minor=${minor%%.*}
kv="k8s.io/component-base/version"; cv="k8s.io/client-go/pkg/version"
kube_ld="-s -w"
for p in "$kv" "$cv"; do
  kube_ld+=" -X $p.gitVersion=$kube -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
helm_ld="-s -w -X helm.sh/helm/v3/internal/version.version=$helm -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ld+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$minor"
done

# name  module-dir  package  ldflags
targets=(
  "etcd|etcd|go.etcd.io/etcd/server/v3|-s -w"
  "kube-apiserver|k8s|k8s.io/kubernetes/cmd/kube-apiserver|$kube_ld"
  "kubectl|k8s|k8s.io/kubernetes/cmd/kubectl|$kube_ld"
  "kube-controller-manager|k8s|k8s.io/kubernetes/cmd/kube-controller-manager|$kube_ld"
  "kube-scheduler|k8s|k8s.io/kubernetes/cmd/kube-scheduler|$kube_ld"
  "kubelet|k8s|k8s.io/kubernetes/cmd/kubelet|$kube_ld"
  "kube-proxy|k8s|k8s.io/kubernetes/cmd/kube-proxy|$kube_ld"
  "helm|helm|helm.sh/helm/v3/cmd/helm|$helm_ld"
  "coredns|coredns|github.com/coredns/coredns|-s -w"
)
total=${#targets[@]}; i=0; start=$(date +%s)
for t in "${targets[@]}"; do
  IFS='|' read -r name dir pkg ld <<<"$t"
  i=$((i + 1))
  if [ -x "$bin/$name" ]; then
    echo "build-kube: [$i/$total] $name cached" >&2
    continue
  fi
  echo "build-kube: [$i/$total] building $name from $pkg (first build on this machine takes a while)..." >&2
  t0=$(date +%s)
  if ! (cd "$here/$dir" && go build -trimpath -ldflags "$ld" -o "$bin/$name.tmp" "$pkg"); then
    rm -f "$bin/$name.tmp"
    die "building $name failed (module $here/$dir, package $pkg); the Go module proxy must serve the modules in $dir/go.sum"
  fi
  mv "$bin/$name.tmp" "$bin/$name"
  echo "build-kube: [$i/$total] $name built in $(( $(date +%s) - t0 ))s" >&2
done
# pause: the sandbox process of every pod (upstream builds it the same way: gcc -Os -static).
if [ ! -x "$bin/pause" ]; then
  command -v cc >/dev/null || die "no C compiler (cc) to build pause; install gcc and libc6-dev"
  src=$(cd "$here/k8s" && go list -m -f '{{.Dir}}' k8s.io/kubernetes) || die "cannot locate the k8s.io/kubernetes module source"
  tag=$(awk -F'"' '/PauseVersion *=/ {print $2; exit}' "$src/cmd/kubeadm/app/constants/constants.go")
  [ -n "$tag" ] || die "cannot read the pause version from $src"
  echo "build-kube: building pause $tag from $src/build/pause/linux/pause.c" >&2
  cc -Os -Wall -Werror -static -DVERSION="v$tag-$kube" -o "$bin/pause.tmp" "$src/build/pause/linux/pause.c" \
    || { rm -f "$bin/pause.tmp"; die "compiling pause failed (needs a static libc: libc6-dev)"; }
  mv "$bin/pause.tmp" "$bin/pause"
  echo "$tag" >"$bin/pause.version"
fi
echo "build-kube: all binaries ready in $(( $(date +%s) - start ))s" >&2
echo "$bin"

#!/usr/bin/env bash
# `make image`: builds Ferry's image from the project's Dockerfile with Debian's docker.io engine, offline-safe.
#
# The base is the local Debian base (hack/image/base.sh, cached); the engine is a private dockerd started
# for the build and stopped after it (by its recorded pid), with no bridge, no iptables and no masquerading:
# only pip's RUN step talks to the network, through the host's own (--network host), with the CA bundle
# the host's pip uses. Layers are cached in $FERRY_CACHE/docker, so a source change rebuilds only the last
# layers. Also makes the sandbox image `localkube/pause:<version>` from the pause binary of
# hack/kube/build.sh. Output: docker-archive tars in $FERRY_CACHE/images (paths printed last, one a line),
# ready for `ctr images import`.
#   IMAGE=ferry:dev hack/image/build.sh [PAUSE_BIN]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
die() { echo "image: $*" >&2; exit 1; }
[ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] || die "Debian's docker.io is not installed (apt-get install docker.io)"

image=${IMAGE:-ferry:dev}
cache=${FERRY_CACHE:-$HOME/.cache/ferry}
base_tar=$("$here/base.sh" | tail -n 1)
base_key=$(basename "$base_tar" .tar)
pause_bin=${1:-}
mkdir -p "$cache/docker" "$cache/images"

# One build at a time per machine (the engine's state is shared).
exec 9>"$cache/docker.lock"
flock -w 900 9 || die "another image build holds $cache/docker.lock"

run=/run/ferry-docker
mkdir -p "$run"
pidfile="$run/dockerd.pid"
sock="unix://$run/docker.sock"
export DOCKER_HOST="$sock" DOCKER_BUILDKIT=0 DOCKER_CONFIG="$run/client"
dockerd_pid=""
opt_existed=$([ -e /opt/containerd ] && echo 1 || true)
stop_engine() {
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    kill -TERM "$dockerd_pid"
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$dockerd_pid" 2>/dev/null && kill -KILL "$dockerd_pid"
    wait "$dockerd_pid" 2>/dev/null || true
  fi
  # dockerd leaves its bind mount of the host's network namespace (exec-root/netns/default) behind.
  awk -v r="$run/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$run"
  # dockerd's own containerd makes /opt/containerd/{bin,lib} (empty); remove them if this build made them.
  [ -n "$opt_existed" ] || rmdir /opt/containerd/bin /opt/containerd/lib /opt/containerd 2>/dev/null || true
}
trap stop_engine EXIT
/usr/sbin/dockerd --data-root "$cache/docker" --exec-root "$run/exec" --pidfile "$pidfile" -H "$sock" \
  --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false --userland-proxy=false \
  --oom-score-adjust=0 --log-level=warn --storage-driver=overlay2 >"$cache/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 300); do docker version >/dev/null 2>&1 && break; kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
docker version >/dev/null 2>&1 || { tail -n 20 "$cache/dockerd.log" >&2; die "dockerd did not start (log: $cache/dockerd.log)"; }

base_ref="localkube/debian-base:$base_key"
if ! docker image inspect "$base_ref" >/dev/null 2>&1; then
  echo "image: importing the base $base_tar" >&2
  docker import --change 'CMD ["/bin/bash"]' "$base_tar" "$base_ref" >/dev/null
fi
t0=$(date +%s)
echo "image: building $image from $repo/Dockerfile on $base_ref" >&2
docker build --network host --tag "$image" \
  --build-arg "PYTHON_IMAGE=$base_ref" --build-arg "PIP_CERT=/etc/ssl/certs/ferry-build-ca.pem" \
  "$repo" >"$cache/image-build.log" 2>&1 || { tail -n 30 "$cache/image-build.log" >&2; die "docker build failed (log: $cache/image-build.log)"; }
echo "image: $image built in $(( $(date +%s) - t0 ))s" >&2
tar_name=$(echo "$image" | tr '/:' '__')
docker save "$image" -o "$cache/images/$tar_name.tar.tmp" && mv "$cache/images/$tar_name.tar.tmp" "$cache/images/$tar_name.tar"
outputs=("$cache/images/$tar_name.tar")

if [ -n "$pause_bin" ]; then
  version=$(cat "$pause_bin.version" 2>/dev/null || echo latest)
  pause_ref="localkube/pause:$version"
  if ! docker image inspect "$pause_ref" >/dev/null 2>&1; then
    tar -C "$(dirname "$pause_bin")" --owner=0 --group=0 --transform 's#.*#pause#' -cf "$run/pause.tar" "$(basename "$pause_bin")"
    docker import --change 'ENTRYPOINT ["/pause"]' --change 'USER 65535:65535' "$run/pause.tar" "$pause_ref" >/dev/null
  fi
  docker save "$pause_ref" -o "$cache/images/pause.tar.tmp" && mv "$cache/images/pause.tar.tmp" "$cache/images/pause.tar"
  outputs+=("$cache/images/pause.tar")
fi
printf '%s\n' "${outputs[@]}"

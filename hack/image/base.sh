#!/usr/bin/env bash
# Makes the local Debian base of Ferry's image with debootstrap, once per machine, as a root-filesystem tar.
#
# The suite and the mirror are this host's own (/etc/os-release, apt sources): nothing else is reached.
# The base holds Python (python3, venv) and, for pip inside the image build, the CA bundle the host's pip is
# configured with (`pip config list`, PIP_CERT), at /etc/ssl/certs/ferry-build-ca.pem.
# Output: $FERRY_CACHE/base-<suite>-<key>.tar (default ~/.cache/ferry); prints its path last.
set -euo pipefail
die() { echo "image-base: $*" >&2; exit 1; }
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"

suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$suite" ] || die "cannot read the Debian suite from /etc/os-release"
# The first apt source serving the suite itself (deb822 .sources files, then one-line .list files).
mirror=$(awk -v s="$suite" '
  /^URIs:/ {u=$2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == s && u != "") {print u; exit}}
  /^deb / && $3 == s {print $2; exit}' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
  /etc/apt/sources.list 2>/dev/null | head -n 1)
[ -n "$mirror" ] || die "no apt source for $suite in /etc/apt (debootstrap needs the host's Debian mirror)"

ca=${PIP_CERT:-$(pip config get global.cert 2>/dev/null || true)}
ca=${ca:-/etc/ssl/certs/ca-certificates.crt}
[ -r "$ca" ] || die "the CA bundle $ca (pip's) is not readable"
packages=python3,python3-venv,python-is-python3,ca-certificates
key=$( (echo "$suite $packages"; cat "$ca") | sha256sum | cut -c1-12)
cache=${FERRY_CACHE:-$HOME/.cache/ferry}
out="$cache/base-$suite-$key.tar"
if [ -s "$out" ]; then echo "$out"; exit 0; fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/base-build.XXXXXX")
cleanup() {
  # debootstrap mounts proc and sys inside the target while it installs; never leave them behind.
  for m in proc sys dev/pts; do mountpoint -q "$work/rootfs/$m" 2>/dev/null && umount -l "$work/rootfs/$m"; done
  rm -rf "$work"
}
trap cleanup EXIT
echo "image-base: debootstrap $suite (minbase + $packages) from the host's mirror; once per machine..." >&2
t0=$(date +%s)
debootstrap --variant=minbase --include="$packages" "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
install -m 0644 "$ca" "$work/rootfs/etc/ssl/certs/ferry-build-ca.pem"
rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin "$work/rootfs/var/cache/apt/archives/"*.deb
tar --numeric-owner -C "$work/rootfs" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "image-base: $out made in $(( $(date +%s) - t0 ))s" >&2
echo "$out"

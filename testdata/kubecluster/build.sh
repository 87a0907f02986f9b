#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
# and clusternet (cmd/clusternet: the cluster network the API server dials)
# from Go modules into a content-addressed cache directory and prints that
# directory as the last line of stdout. Docker and release tarballs are not
# reachable from CI, the Go module proxy is, so the control plane is compiled.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

# The tools module is separate from the main one; never let a go.work or the
# caller's GOFLAGS (e.g. -mod=vendor) change how it resolves.
export GOWORK=off
export GOFLAGS="-mod=mod -buildvcs=false"

k8s_version=v1.37.1
cache=${CAIRN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn}

# Everything that can change the binaries goes into the key; editing any of it
# produces a new cache entry instead of silently reusing a stale one.
hash=$(
	{
		cat go.mod go.sum build.sh
		find cmd -type f -name '*.go' | LC_ALL=C sort | xargs cat
		go version
		go env GOOS GOARCH
	} | sha256sum | cut -c1-16
)
bin_dir="$cache/kubebins/$hash"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok clusternet)

complete() {
	local b
	for b in "${bins[@]}"; do
		[[ -x "$1/$b" ]] || return 1
	done
}

if complete "$bin_dir"; then
	echo "$bin_dir"
	exit 0
fi

mkdir -p "$cache/kubebins"
# Concurrent callers (two terminals, parallel CI steps) wait for one build
# instead of running two 3 GB compilations side by side.
exec 9>"$cache/kubebins/.lock"
flock 9
if complete "$bin_dir"; then
	echo "$bin_dir"
	exit 0
fi

echo "building the local control plane from Go modules (about 7 minutes the first time; cached afterwards in $bin_dir)" >&2
tmp=$(mktemp -d "$cache/kubebins/.build-$hash.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

start=$SECONDS
ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
	./cmd/etcd ./cmd/clusternet \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler \
	sigs.k8s.io/kwok/cmd/kwok
complete "$tmp" || { echo "build.sh: go build did not produce all of: ${bins[*]}" >&2; exit 1; }

# A rename is atomic: an interrupted build leaves only a .build-* directory,
# which the EXIT trap removes, never a half-filled entry under the final name.
rm -rf "$bin_dir"
mv -T "$tmp" "$bin_dir"
trap - EXIT
echo "built in $((SECONDS - start))s: $bin_dir" >&2
echo "$bin_dir"

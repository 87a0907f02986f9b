#!/usr/bin/env bash
# Builds the real istioctl from the istio.io/istio Go module pinned in go.mod
# into a content-addressed cache directory and prints the binary's path as the
# last line of stdout. Release tarballs are not reachable from CI; the Go
# module proxy is, so istioctl is compiled, like the local control plane
# (testdata/kubecluster/build.sh).
#
# The build is istio's own (common/scripts/gobuild.sh with the release
# LDFLAGS of Makefile.core.mk): CGO_ENABLED=0, -trimpath, tags
# vtprotobuf,disable_pgv, -s -w, and istio.io/istio/pkg/version set as
# common/scripts/report_build_info.sh would. The version is the module's
# VERSION file plus "-dev", as Makefile.core.mk makes it when no VERSION is
# given; that is also the tag of the images `istioctl install` deploys
# (hub/pilot:TAG, hub/proxyv2:TAG): istioctl overlays its own hub and tag.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

# The tools module is separate from the main one; never let a go.work or the
# caller's GOFLAGS (e.g. -mod=vendor) change how it resolves.
export GOWORK=off
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

cache=${CAIRN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn}

# Everything that can change the binary goes into the key.
hash=$(
	{
		cat go.mod go.sum build.sh
		go version
		go env GOOS GOARCH
	} | sha256sum | cut -c1-16
)
out_dir="$cache/istioctl/$hash"
bin="$out_dir/istioctl"

if [[ -x $bin ]]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache/istioctl"
# Concurrent callers (make test and a go test that needs the binary) wait for
# one build instead of running two 2.5 GB compilations side by side.
exec 9>"$cache/istioctl/.lock"
flock 9
if [[ -x $bin ]]; then
	echo "$bin"
	exit 0
fi

module=istio.io/istio
mod_version=$(go list -m -f '{{.Version}}' "$module")
mod_dir=$(go list -m -f '{{.Dir}}' "$module")
[[ -n $mod_dir && -r $mod_dir/VERSION ]] || {
	go mod download "$module"
	mod_dir=$(go list -m -f '{{.Dir}}' "$module")
}
release=$(tr -d '[:space:]' <"$mod_dir/VERSION")
[[ -n $release ]] || {
	echo "build.sh: $mod_dir/VERSION is empty" >&2
	exit 1
}
version=$release-dev
# A pseudo-version ends in the commit's first 12 hex digits.
revision=${mod_version##*-}

echo "building istioctl $version ($module@$mod_version) from Go modules (about 10 minutes and 2.5 GB of memory the first time; cached afterwards in $out_dir)" >&2
tmp=$(mktemp -d "$cache/istioctl/.build-$hash.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

start=$SECONDS
pkg=istio.io/istio/pkg/version
ldflags="-s -w"
ldflags+=" -X $pkg.buildVersion=$version"
ldflags+=" -X $pkg.buildGitRevision=$revision"
ldflags+=" -X $pkg.buildStatus=Clean"
ldflags+=" -X $pkg.buildTag=$mod_version"
ldflags+=" -X $pkg.buildHub=registry.istio.io/release"
ldflags+=" -X $pkg.buildOS=$(go env GOOS)"
ldflags+=" -X $pkg.buildArch=$(go env GOARCH)"
go build -trimpath -tags=vtprotobuf,disable_pgv -ldflags "$ldflags" -o "$tmp/istioctl" "$module/istioctl/cmd/istioctl"
"$tmp/istioctl" version --remote=false >/dev/null || {
	echo "build.sh: the istioctl just built does not run" >&2
	exit 1
}

# A rename is atomic: an interrupted build leaves only a .build-* directory,
# which the EXIT trap removes, never a half-filled entry under the final name.
rm -rf "$out_dir"
mv -T "$tmp" "$out_dir"
trap - EXIT
echo "built in $((SECONDS - start))s: $bin" >&2
echo "$bin"

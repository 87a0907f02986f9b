#!/usr/bin/env bash
# Builds the real kubectl (main.go: kubernetes' cmd/kubectl main over the
# k8s.io/kubectl module pinned in go.mod) into a content-addressed cache
# directory and prints the binary's path as the last line of stdout. Release
# binaries are not reachable from CI; the Go module proxy is, so kubectl is
# compiled, like the local control plane (testdata/kubecluster/build.sh). It
# is a build of its own, not one more binary of that script, so that adding
# it did not change the control plane's cache key (a 7-minute rebuild).
#
# The build is kubernetes' own for kubectl (hack/lib/golang.sh): static
# (CGO_ENABLED=0), -trimpath, -s -w, and the version variables of
# hack/lib/version.sh set in both k8s.io/client-go/pkg/version and
# k8s.io/component-base/version, to the release that matches the module:
# k8s.io/kubectl v0.X.Y is kubernetes v1.X.Y.
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
		cat go.mod go.sum build.sh main.go
		go version
		go env GOOS GOARCH
	} | sha256sum | cut -c1-16
)
out_dir="$cache/kubectl/$hash"
bin="$out_dir/kubectl"

if [[ -x $bin ]]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache/kubectl"
# Concurrent callers (make test and a go test that needs the binary) wait for
# one build instead of running two side by side.
exec 9>"$cache/kubectl/.lock"
flock 9
if [[ -x $bin ]]; then
	echo "$bin"
	exit 0
fi

mod_version=$(go list -m -f '{{.Version}}' k8s.io/kubectl)
[[ $mod_version =~ ^v0\.([0-9]+)\.([0-9]+)$ ]] || {
	echo "build.sh: k8s.io/kubectl $mod_version is not a release (v0.MINOR.PATCH)" >&2
	exit 1
}
minor=${BASH_REMATCH[1]}
version=v1.$minor.${BASH_REMATCH[2]}

echo "building kubectl $version (k8s.io/kubectl@$mod_version) from Go modules (a few minutes the first time; cached afterwards in $out_dir)" >&2
tmp=$(mktemp -d "$cache/kubectl/.build-$hash.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

start=$SECONDS
ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean"
done
go build -trimpath -ldflags "$ldflags" -o "$tmp/kubectl" .
got=$("$tmp/kubectl" version --client 2>&1) || {
	echo "build.sh: the kubectl just built does not run: $got" >&2
	exit 1
}
[[ $got == *"Client Version: $version"* ]] || {
	echo "build.sh: the kubectl just built reports '$got', not $version" >&2
	exit 1
}

# A rename is atomic: an interrupted build leaves only a .build-* directory,
# which the EXIT trap removes, never a half-filled entry under the final name.
rm -rf "$out_dir"
mv -T "$tmp" "$out_dir"
trap - EXIT
echo "built in $((SECONDS - start))s: $bin" >&2
echo "$bin"

// Package e2e holds end-to-end tests of the built-in playbooks (build tag
// integration): the real cairn binary, the testdata/bin doubles and sidecar
// injector, against a control plane of the package's own, which TestMain
// starts with testdata/kubecluster/up.sh (binaries cached by build.sh) and
// stops at the end:
//
//	go test -tags integration -count=1 ./playbooks/e2e/
//
// A cluster of its own, because the doubles, like the real tools, use
// cluster-wide names: asmcli and install_asm install into istio-system with
// revisions fixed by their release, playbooks move the "default" tag and
// check every pod of the cluster. Tests run serially and clean up after
// themselves.
package e2e

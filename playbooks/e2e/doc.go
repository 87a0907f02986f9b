// Package e2e holds end-to-end tests of the upgrade playbooks (build tag
// integration): the real cairn binary, the fakebins doubles and sidecar
// injector, against the local test cluster (testdata/kubecluster/up.sh).
//
//	KUBECONFIG=/tmp/c/kubeconfig CAIRN_CLUSTER_DIR=/tmp/c \
//	  go test -tags integration -count=1 ./playbooks/e2e/
//
// The istio-canary-tags tests use their own revisions, tag and istio
// namespace. The asm-asmcli-canary tests cannot: asmcli installs into
// istio-system with revisions fixed by its release and the playbook moves
// the "default" tag and checks every pod of the cluster, so they run only
// with CAIRN_E2E_EXCLUSIVE=1, on a cluster no other package is testing on.
package e2e

# Local Kubernetes control plane for integration tests; include from the
# top-level Makefile. See testdata/kubecluster/up.sh for what it starts.
#
#   make kubebins          build (or reuse) the cached control-plane binaries
#   make cluster-up        start a cluster in $(CLUSTER_DIR)
#   make cluster-down      stop it and remove $(CLUSTER_DIR)
#   make test-integration  cluster-up, go test -tags integration, cluster-down

# Resolved at include time: MAKEFILE_LIST changes as more files are included.
KUBECLUSTER_SCRIPTS := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
CLUSTER_DIR ?= $(CURDIR)/.cluster
INTEGRATION_PKGS ?= ./...
INTEGRATION_TESTFLAGS ?=
GO ?= go

.PHONY: kubebins cluster-up cluster-down test-integration

kubebins:
	@$(KUBECLUSTER_SCRIPTS)/build.sh

cluster-up:
	@$(KUBECLUSTER_SCRIPTS)/up.sh "$(CLUSTER_DIR)"

cluster-down:
	@$(KUBECLUSTER_SCRIPTS)/down.sh "$(CLUSTER_DIR)"

# One shell so the cluster is stopped whatever go test returns (and on ^C),
# and the test exit code is what make reports. Logs are shown on failure
# because down.sh deletes them.
test-integration:
	@set -u; dir="$(CLUSTER_DIR)"; scripts="$(KUBECLUSTER_SCRIPTS)"; \
	"$$scripts/up.sh" "$$dir" >/dev/null || exit 1; \
	trap '"$$scripts/down.sh" "$$dir"; exit 130' INT TERM; \
	KUBECONFIG="$$dir/kubeconfig" CAIRN_CLUSTER_DIR="$$dir" \
		$(GO) test -tags integration -count=1 $(INTEGRATION_TESTFLAGS) $(INTEGRATION_PKGS); \
	rc=$$?; \
	if [ $$rc -ne 0 ]; then \
		for f in "$$dir"/logs/*.log; do echo "---- tail of $$f ----"; tail -n 20 "$$f"; done; \
	fi; \
	"$$scripts/down.sh" "$$dir" || { [ $$rc -ne 0 ] || rc=1; }; \
	exit $$rc

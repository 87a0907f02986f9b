# cairn. The two commands that matter on a fresh machine:
#   make demo   a real run, killed midway on purpose, resumed, and shown
#   make test   unit tests, then integration tests against a local control plane
GO      ?= go
BIN     := bin/cairn
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build test test-unit vet fuzz demo bench clean istioctl kubectl chromium

all: build

# A static, trimmed binary: no cgo, no local paths, no symbol tables.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cairn

# ./... skips testdata/, which holds Go code of its own: the tool doubles and
# the demo's state viewer.
PKGS := ./... ./testdata/bin/ ./testdata/demo/meshstate/

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags integration $(PKGS)

# Unit tests only: no cluster needed (chromium, for the report's browser
# test, is installed if missing).
test-unit: chromium
	CAIRN_CHROMIUM="$$(testdata/chromium/install.sh | tail -n 1)" $(GO) test -race -count=1 $(PKGS)

# Everything, once: unit and integration tests run in one go test pass with
# the local control plane up, and it is stopped whatever the result.
test: vet istioctl kubectl chromium
	CAIRN_CHROMIUM="$$(testdata/chromium/install.sh | tail -n 1)" CAIRN_ISTIOCTL="$$(testdata/istioctl/build.sh | tail -n 1)" CAIRN_KUBECTL="$$(testdata/kubectl/build.sh | tail -n 1)" $(MAKE) --no-print-directory test-integration INTEGRATION_PKGS="$(PKGS)" INTEGRATION_TESTFLAGS="-race -timeout 45m"

# The real istioctl, built from the istio.io/istio Go module and cached
# (testdata/istioctl/build.sh; about 10 minutes the first time).
istioctl:
	@testdata/istioctl/build.sh >/dev/null

# The real kubectl, built from the k8s.io/kubectl Go module at the control
# plane's release and cached (testdata/kubectl/build.sh), for playbooks whose
# exec steps run plain kubectl.
kubectl:
	@testdata/kubectl/build.sh >/dev/null

# Debian's chromium, for the report's headless browser test
# (testdata/chromium/install.sh: apt-get install once, about 2 minutes;
# nothing when it is there).
chromium:
	@testdata/chromium/install.sh >/dev/null

# The fuzz target's seed corpus runs in every go test; this searches further.
fuzz:
	$(GO) test ./playbooks -run '^$$' -fuzz FuzzLoad -fuzztime 2m

# The canary ASM upgrade asm-1130-0 -> asm-1140-0 (built-in playbook
# asm-asmcli-canary) on the local control plane, with the testdata/bin doubles
# standing in for asmcli/istioctl: killed with SIGKILL midway, resumed,
# approved, finished and checked. Work dir .demo/; the cluster is always stopped.
demo: build
	@./testdata/demo/demo.sh "$(CURDIR)/$(BIN)"

# Benchmarks (journal, resume at scale, rollout against the local control
# plane, which it starts and always stops); see README "Performance".
bench: build
	@GO="$(GO)" CAIRN_BIN="$(CURDIR)/$(BIN)" ./bench/run.sh

clean:
	-./testdata/kubecluster/down.sh "$(CURDIR)/.demo/cluster"
	rm -rf bin .demo
	-./testdata/kubecluster/down.sh "$(CURDIR)/.cluster"

include testdata/kubecluster/cluster.mk

# Bulwark's build. Everything a fresh Debian machine with only Go needs is built or installed
# here, and each step says what it is doing.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO          ?= go
BIN         ?= bin
# Built tools live outside the checkout so fresh clones on the same machine reuse them; each
# tool set sits in a directory keyed by the hash of its module's go.sum.
TOOLS_CACHE ?= $(HOME)/.cache/bulwark/tools
# The fuzz smoke runs a count of inputs per target (each about 20 s here), not a duration: a
# duration's deadline can race the fuzzing coordinator's workers and fail with "context
# deadline exceeded" and no crasher (golang/go#75804, fixed in Go 1.27, not in 1.26.x).
# FUZZTIME, when given (e.g. 10m), replaces both counts.
FUZZTIME    ?=
FUZZ_LOAD   := $(or $(FUZZTIME),250000x)
FUZZ_PSS    := $(or $(FUZZTIME),12000x)

export GOFLAGS := -mod=mod
TOOLS_ENV = BULWARK_TOOLS_KUBE=$(CURDIR)/.tools-kube-bin BULWARK_TOOLS_REGISTRY=$(CURDIR)/.tools-registry-bin \
	BULWARK_TOOLS_KYVERNO=$(CURDIR)/.tools-kyverno-bin BULWARK_TOOLS_KUSTOMIZE=$(CURDIR)/.tools-kustomize-bin \
	BULWARK_TOOLS_SOURCE=$(CURDIR)/.tools-source-bin BULWARK_TOOLS_ARGOKUSTOMIZE=$(CURDIR)/.tools-argokustomize-bin
# Argo CD v3.6.1 and kustomize 5.8.3 need Go 1.27; only their nested modules get it, fetched
# from the module proxy by the go command as a toolchain module. The product stays on this
# machine's Go.
ARGO_GOTOOLCHAIN ?= go1.27.3

.PHONY: build demo test quick lint tidy fuzz bench e2e tools chromium crds vet fmt clean

# The binary is static (no cgo): it runs on any Linux without a matching libc, and starts
# without the dynamic loader (1.5 MB less resident, measured).
build: ## build bin/bulwark
	@echo "==> building $(BIN)/bulwark (static: CGO_ENABLED=0)"
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/bulwark ./cmd/bulwark

# tool NAME,WHAT: build tools/NAME (or reuse its cached build) and point .tools-NAME-bin,
# which TOOLS_ENV hands to tests, at it.
define tool
	@echo "--> tools/$(1): $(2)"
	@ln -sfn "$$(tools/build.sh tools/$(1) $(TOOLS_CACHE))" .tools-$(1)-bin
endef

tools: ## build the real servers tests start (kube-apiserver, etcd, kubectl, registries, Kyverno CLI and controllers, Flux's source- and kustomize-controller, the kustomize CLI Argo CD runs)
	@echo "==> tools: the real servers tests start, built from the Go module proxy and cached in"
	@echo "    $(TOOLS_CACHE) by the hash of each tool's go.mod and go.sum"
	@echo "    (cold ~35 min on 2 cores, once per machine; warm well under a second)"
	$(call tool,kube,kube-apiserver + etcd + kubectl v1.37.2 for cluster tests (cold ~5 min))
	$(call tool,registry,CNCF Distribution registry v3.1.0 (no referrers API) and olareg v0.1.2 (OCI 1.1 referrers API) for push/pull tests (cold ~1 min))
	$(call tool,kyverno,Kyverno CLI v1.19.1 whose engine evaluates the generated policies + its admission/background/reports controllers that tests run against kube-apiserver (cold 15+ min))
	$(call tool,kustomize,Flux kustomize-controller v1.9.6 for the GitOps end to end (cold ~5 min))
	$(call tool,source,Flux source-controller v1.9.3 for the GitOps end to end (cold ~7 min))
	$(call tool,argokustomize,kustomize CLI v5.8.3 that Argo CD's repo-server runs (Go 1.27.3 toolchain from the module proxy; cold ~3 min))

chromium: ## Debian's chromium, in which a test opens the audit page (apt-get, once per machine)
	@if command -v chromium >/dev/null; then echo "--> chromium: $$(chromium --version 2>/dev/null || echo installed)"; else \
	  echo "==> installing Debian's chromium and a font, in which a test renders the audit page (apt-get, ~25 s, once per machine)"; \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; \
	fi

crds: ## refresh the pinned upstream CRDs tests install
	$(GO) generate ./internal/crds

demo: build ## the main job on a shipped example: profile → bundle → registry → digest
	@echo "==> validating examples/payments.yaml"
	$(BIN)/bulwark validate -f examples/payments.yaml
	@echo "==> the SOC 2 control catalogue"
	$(BIN)/bulwark controls list
	@echo "==> building the payments bundle"
	$(BIN)/bulwark build -f examples/payments.yaml -o $(BIN)/demo-bundle --version 1.0.0 --force --summary
	@echo "==> pushing it (to \$$BULWARK_REGISTRY, or a registry started on 127.0.0.1), pulling it back, diffing two versions"
	$(BIN)/bulwark demo

vet:
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: ## staticcheck, pinned in tools/lint and built from the Go module proxy (cached)
	$(call tool,lint,staticcheck for make test (cold ~2 min))
	.tools-lint-bin/staticcheck ./...

tidy: ## go.mod and go.sum are tidy: go mod tidy would change nothing
	$(GO) mod tidy -diff

quick: ## the fast inner loop: vet and the tests that need no built server (go test -short)
	$(GO) vet ./...
	$(GO) test -short -count=1 ./...

test: tools chromium vet fmt tidy lint ## every test, the fuzz smoke, and the end-to-end suite
	@echo "==> go test ./..."
	$(TOOLS_ENV) $(GO) test -count=1 -timeout 30m ./...
	@echo "==> every benchmark once, so that one that breaks fails here and not first in make bench (~20 s)"
	@# Their timings mean nothing at one iteration: the output is shown only when one fails.
	@out=$$($(TOOLS_ENV) $(GO) test -count=1 -run='^$$' -bench=. -benchtime=1x -skip='^BenchmarkVerify2000Namespaces$$' ./... 2>&1) || { echo "$$out"; exit 1; }
	@echo "==> Flux's OCI client reads the bundles; GitOps end to end with Flux's source- and kustomize-controller (bundle/fluxcompat)"
	cd bundle/fluxcompat && $(TOOLS_ENV) $(GO) test -count=1 -timeout 30m ./...
	@echo "==> Argo CD v3.6.1's own OCI client, repo-server and Application type read the bundles, and its real application controller and repo-server sync one (nested module bundle/argocdcompat, GOTOOLCHAIN=$(ARGO_GOTOOLCHAIN); cold: the test binary and the argocd binary, cached in $(TOOLS_CACHE), ~7 CPU-minutes each; warm ~2 min)"
	cd bundle/argocdcompat && GOTOOLCHAIN=$(ARGO_GOTOOLCHAIN) $(TOOLS_ENV) $(GO) test -count=1 -timeout 30m ./...
	@echo "==> cosign's own verifier accepts Bulwark's signatures (nested module bundle/cosigncompat)"
	cd bundle/cosigncompat && $(TOOLS_ENV) $(GO) test -count=1 -timeout 30m ./...
	@echo "==> the POD controls against k8s.io/pod-security-admission's own evaluator, pod by pod (nested module catalogue/psscompat)"
	cd catalogue/psscompat && $(TOOLS_ENV) $(GO) test -count=1 -timeout 30m -v ./...
	@$(MAKE) --no-print-directory fuzz

fuzz: ## bounded fuzz smoke of the profile loader, and generated pods judged by PSS and the POD controls
	@echo "==> fuzzing the profile loader: $(FUZZ_LOAD)"
	$(GO) test -run='^$$' -fuzz=FuzzLoad -fuzztime=$(FUZZ_LOAD) -fuzzminimizetime=200x ./profile/
	@echo "==> fuzzing the Pod Security Standards differential: $(FUZZ_PSS) (longer: make fuzz FUZZTIME=10m, or go test -pss.pods=1000000 in catalogue/psscompat)"
	cd catalogue/psscompat && $(GO) test -run='^$$' -fuzz=FuzzPodSecurityStandards -fuzztime=$(FUZZ_PSS) -fuzzminimizetime=200x .

e2e: tools ## GitOps end to end: signed push, Flux's source-controller verifies and serves it, its kustomize-controller syncs, verify converges (~2.5-4 min warm)
	cd bundle/fluxcompat && $(TOOLS_ENV) $(GO) test -count=1 -run TestGitOpsEndToEnd -v ./... 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok)'

bench: build ## Go benchmarks, timings beside peer tools (tar, flux) on the same tree and registry, then the fleet section: a 1,000-namespace bundle through build, pack, push, unchanged re-push (no upload), pull, and verify at 2,000 namespaces, beside tar, flux and kubectl, with peak RSS
	@if [ -x /usr/bin/time ]; then echo "--> GNU time: $$(/usr/bin/time --version 2>&1 | head -n1)"; else \
	  echo "==> installing Debian's GNU time, with which the fleet section reads each command's peak RSS (apt-get, ~10 s, once per machine)"; \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends time >/dev/null; \
	fi
	@# The 2,000-namespace verify benchmark runs once, in the fleet section's table.
	$(GO) test -run='^$$' -bench=. -skip='^BenchmarkVerify2000Namespaces$$' -benchmem ./...
	@echo "==> building the flux CLI for the side-by-side push (cached)"
	@ln -sfn "$$(tools/build.sh tools/flux $(TOOLS_CACHE))" .tools-flux-bin
	@ln -sfn "$$(tools/build.sh tools/registry $(TOOLS_CACHE))" .tools-registry-bin
	bench/compare.sh $(BIN)/bulwark .tools-flux-bin/flux .tools-registry-bin/registry
	$(call tool,kube,kube-apiserver + etcd + kubectl for the fleet section's verify at 2000 namespaces (cold ~5 min))
	@echo "==> fleet: a 1,000-namespace bundle (~4,000 files) through every verb beside tar, flux and kubectl; median of RUNS (default 5)"
	$(TOOLS_ENV) GO=$(GO) bench/fleet.sh $(BIN)/bulwark .tools-flux-bin/flux .tools-registry-bin/registry

clean:
	rm -rf $(BIN) .tools-*

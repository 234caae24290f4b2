# Short names for the commands README documents. Everything here is plain `go` underneath.
SHELL := bash
BIN   := $(CURDIR)/bin

.PHONY: test test-unit test-kube test-engine test-node kube-bins monitoring-crds kube-score promtool engine-bins lint tools bench bench-sweep run run-local ci

## test: every test tier, after the set-up a fresh machine needs (MariaDB when allowed, the
## pinned test binaries, cached); prints each skip reason and ends with a table of tiers
test:
	go run ./internal/testrun

## test-unit: the inner loop: unit tests only, no set-up, no database, control plane or engine
test-unit:
	go run ./internal/testrun -unit

## kube-bins: build etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, and the real node's kubelet, kube-proxy and coredns (pinned) once
kube-bins:
	bash infra/kubetest/tools/build.sh

## monitoring-crds: generate the Prometheus Operator's monitoring.coreos.com/v1 CRDs (v0.95.2, with controller-gen v0.23.0; both pinned in infra/kubetest/tools/promcrd/go.mod) once, for the real-Kubernetes tier
monitoring-crds:
	bash infra/kubetest/tools/promcrd/build.sh

## test-kube: build the binaries and CRDs if missing, then run only the real-Kubernetes tier
test-kube: kube-bins monitoring-crds
	KUBETEST_REQUIRE=1 go test -count=1 ./infra/e2e/... ./infra/kubetest/...

## kube-score: build kube-score v1.20.0 (pinned in infra/kubescore/tools/go.mod) once, for the manifest check
kube-score:
	bash infra/kubescore/tools/build.sh

## promtool: build promtool (Prometheus 3.16, pinned in infra/alerts/tools/go.mod) once, for the alerting rules' tests
promtool:
	bash infra/alerts/tools/build.sh

## engine-bins: build the Pulumi CLI and the Kubernetes provider (pinned) once, for the real-engine tier
engine-bins:
	bash infra/enginetest/tools/build.sh

## test-engine: build the binaries if missing, then run only the real-engine tier (pulumi preview/up/destroy)
test-engine: kube-bins engine-bins
	KUBETEST_REQUIRE=1 ENGINETEST_REQUIRE=1 go test -count=1 -timeout 30m -parallel 4 -v ./infra/enginetest/...

## test-node: build the binaries if missing, then run only the real-node tier (kubelet, containerd, real pods; needs root)
test-node: kube-bins engine-bins
	NODETEST_REQUIRE=1 ENGINETEST_REQUIRE=1 go test -count=1 -timeout 30m -v ./infra/nodetest/...

## tools: the pinned linters from .ci/tools/go.mod, into ./bin
tools:
	cd .ci/tools && go build -o $(BIN)/ honnef.co/go/tools/cmd/staticcheck github.com/rhysd/actionlint/cmd/actionlint

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	@# It must build on a Mac too. Vetting ./... for darwin compiled every dependency a second
	@# time; only the packages that can type-check differently there are vetted (the script says how it finds them).
	@pkgs=$$(bash .ci/darwin-vet-packages) || exit 1; \
	if [ -z "$$pkgs" ]; then echo "no package type-checks differently on darwin"; \
	else echo GOOS=darwin go vet $$pkgs; GOOS=darwin go vet $$pkgs; fi
	$(BIN)/staticcheck ./...
	$(BIN)/actionlint

## bench: the load generator: the app in both modes, binlog off and on (throwaway MariaDBs), beside Redis INCR, the in-memory ceiling and a bare coalescer (the floor of CPU per request)
bench:
	go run ./app/cmd/loadgen -clients 64 -duration 5s

## bench-sweep: every line of bench at 1, 8, 64, 256 and 1024 clients, with CPU per request
bench-sweep:
	go run ./app/cmd/loadgen -sweep -duration 3s

## run: the counter app on its embedded SQLite store (no database needed; file ./counter.db, kept)
run:
	go run ./app

## run-local: the app against a throwaway MariaDB with the least-privilege user; Ctrl-C stops both and deletes the data
run-local:
	go build -o $(BIN)/counter ./app
	go build -o $(BIN)/runlocal ./app/cmd/runlocal
	$(BIN)/runlocal -app $(BIN)/counter

ci:
	bash .ci/run

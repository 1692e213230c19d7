GO      ?= go
BIN     := bin/cutover
PKGS    := ./... golang.org/x/crypto/ssh

.PHONY: build test deps demo bench bench-go bench-files bench-ab bench-efs bench-nfs-source bench-index bench-db bench-plan lint clean

build:
	$(GO) build -o $(BIN) ./cmd/cutover

## test: install what the integration tests need (real sshd), then run every test.
test: deps
	$(GO) test -count=1 -timeout 30m $(PKGS)

deps:
	scripts/ensure-deps.sh test

## demo: sync a generated shared home from an in-process SFTP server, change it, sync the delta, verify.
demo: build
	./$(BIN) demo --dir ./demo-out

## bench: side-by-side benchmarks against the peer tools (see docs/benchmarks.md).
bench: bench-go bench-files bench-efs bench-nfs-source bench-index bench-db bench-plan

bench-files: build
	scripts/ensure-deps.sh bench
	bench/files.sh

## bench-ab: rounds of the full copy only, variants side by side, to weigh a change (VARIANTS='name|binary flags…' lines, ROUNDS; see bench/ab.sh).
bench-ab: build
	scripts/ensure-deps.sh bench
	bench/ab.sh

## bench-go: the Go benchmarks (directory creation on an NFS-like target, the plan of a rerun, the find parser, the state's records).
bench-go:
	go test -run '^$$' -bench . -benchmem ./migrate ./plan ./internal/store ./internal/state

## bench-efs: the same three tools onto an EFS stand-in (FUSE with 1 ms per request; needs root and /dev/fuse).
bench-efs: build
	scripts/ensure-deps.sh bench
	bench/efs.sh

## bench-nfs-source: the same three tools from a shared home that is itself an NFS mount on the VM (the stand-in, on the source side).
bench-nfs-source: build
	scripts/ensure-deps.sh bench
	SIDE=source bench/efs.sh

## bench-plan: the planner's predicted final window against the measured one (20,000 files + pgbench 50).
bench-plan: build
	scripts/ensure-deps.sh bench
	bench/plan.sh

## bench-db: `db copy` of pgbench scale 100 vs pg_dump/pg_restore and pgcopydb; db verify time.
bench-db: build
	scripts/ensure-deps.sh bench
	bench/db.sh

## bench-index: delta `index ship` of a ~1 GB Lucene 8 index vs rsync and a full copy; verify throughput.
bench-index: build
	scripts/ensure-deps.sh bench
	bench/index.sh

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(find . -name "*.go" -not -path "./third_party/*")); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin demo-out bench/out bench/out-efs-target bench/out-efs-source

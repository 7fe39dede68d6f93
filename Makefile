# paylab — the two commands a newcomer needs are `make scenario NAME=zone-failover` and `make test`.
GO          ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         := bin/paylab
NAME        ?= zone-failover
FUZZTIME    ?= 10s
# The commit for the replay line, for builds Go does not stamp itself (go run; GOFLAGS=-buildvcs=false).
COMMIT      := $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
LDFLAGS     := -X paylab/lab.buildCommit=$(COMMIT)

.PHONY: all build test test-unit fuzz lint bench bench-go bench-ledger bench-failover scenario scenarios ci-suite clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/paylab

## test: lint, the race-enabled unit and cluster tests, then a short fuzz of every fuzz target.
test: lint test-unit fuzz

test-unit:
	$(GO) test -race -count=1 -timeout 9m ./...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCommand$$' -fuzztime $(FUZZTIME) ./nodes/ledger
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeTransferJSON$$' -fuzztime $(FUZZTIME) ./nodes/ledger

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

## bench: Go micro-benchmarks of the FSM, then the ledger throughput and failover benchmarks.
bench: bench-go bench-ledger bench-failover

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./nodes/ledger

bench-ledger: build
	$(BIN) bench ledger --mode single --rate 10000 --duration 10s --repeat 3
	$(BIN) bench ledger --mode batch --batch 4096 --rate 30 --connections 8 --duration 10s --repeat 3
	$(BIN) bench ledger --mode batch --batch 4096 --rate 30 --connections 8 --duration 10s --ids random
	$(BIN) bench ledger --rate 19000 --duration 8s --network both --repeat 3

bench-failover: build
	$(BIN) bench failover --kills 20

## scenario: build, then run one scenario. make reports a failed recipe as its own exit code 2 ("Error 3"
## in its message is paylab's code: 1 an assertion failed, 2 bad input, 3 unknown); run bin/paylab directly
## for the exact code.
scenario: build
	$(BIN) run $(NAME)

## scenarios (and ci-suite): the regression suite — every shipped scenario must reach the verdict it expects;
## one exit code, runs/suite-<time>/ holds junit.xml, index.html and a run directory per scenario.
scenarios ci-suite: build
	$(BIN) suite

clean:
	rm -rf bin

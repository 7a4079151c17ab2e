# keygate: the two commands a newcomer needs are `make run` and `make test`.
# Tools run at pinned versions through `go run`, so nothing needs installing beyond Go.

WIRE        := go run github.com/google/wire/cmd/wire@v0.7.0
STATICCHECK := go run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# A count, not a duration: with a duration Go's fuzzing coordinator can fail a clean run with
# "context deadline exceeded" when a starved worker misses the deadline (an upstream race, seen
# here once under load); a count has no deadline to race. 40000 inputs: about 3 s for
# FuzzAuthenticate and 10 s for FuzzLoginBody on an idle 2-core machine.
FUZZTIME    ?= 40000x

VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
APPS        := authd ordersd paymentsd guardd keygatectl

.PHONY: run test unit fuzz generate wire-check lint bench release

## run: the whole system in one process, in memory (authd :8080, orders :8081, payments :8082;
## their metrics and detailed /ready on 127.0.0.1:9090, :9091, :9092, which it prints)
run:
	KEYGATE_DEV=1 go run ./apps/devstack

## test: wire is up to date, every test with the race detector, then brief fuzzing
test: wire-check unit fuzz

unit:
	go test -race -count=1 ./...

fuzz:
	go test -run='^$$' -fuzz=FuzzAuthenticate -fuzztime=$(FUZZTIME) ./core/guard
	go test -run='^$$' -fuzz=FuzzLoginBody -fuzztime=$(FUZZTIME) ./adapters/httpapi

## generate: regenerate the wire injectors (apps/*/wire_gen.go)
generate:
	$(WIRE) ./apps/...

## wire-check: fail when a committed wire_gen.go differs from what wire generates
wire-check:
	@$(WIRE) diff ./apps/... || { echo "wire_gen.go is stale: run make generate and commit the result" >&2; exit 1; }

## lint: go vet and staticcheck
lint:
	go vet ./...
	$(STATICCHECK) ./...

## bench: issue 9's in-process rows, each against its baseline in the same run: the guard
## (and its cache) vs raw ed25519.Verify and go-jose (core/guard), signing vs go-jose's signer
## (adapters/jose BenchmarkSign), the login flood before/after (adapters/argon2
## BenchmarkLoginFlood), HTTP authenticated vs the same handler open at 1 and 50 connections
## (adapters/httpapi BenchmarkHTTPAuthenticated, auth/open), authd's refresh (apps/authd);
## and the hasher, the ring, the revocation set. Short by default; for figures:
##   make bench BENCHTIME=3s BENCHCOUNT=6 | tee bench.txt   (then benchstat bench.txt)
BENCHTIME  ?= 1s
BENCHCOUNT ?= 1
bench:
	go test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -count=$(BENCHCOUNT) \
		./core/... ./adapters/jose ./adapters/argon2 ./adapters/httpapi ./apps/authd

## release: static, reproducible binaries of every app in dist/, stamped with VERSION and
## REVISION (default: git describe and HEAD), with their SHA256SUMS; images: deploy/Dockerfile
release:
	mkdir -p dist
	for app in $(APPS); do \
	  CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
	    -ldflags="-s -w -buildid= -X github.com/keygate/keygate/internal/version.version=$(VERSION) -X github.com/keygate/keygate/internal/version.revision=$(REVISION)" \
	    -o dist/$$app ./apps/$$app || exit 1; \
	done
	cd dist && sha256sum $(APPS) > SHA256SUMS

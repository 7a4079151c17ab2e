# keygate: the two commands a newcomer needs are `make run` and `make test`.
# Tools run at pinned versions through `go run`, so nothing needs installing beyond Go.

WIRE        := go run github.com/google/wire/cmd/wire@v0.7.0
STATICCHECK := go run honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 10s

.PHONY: run test unit fuzz generate wire-check lint bench

## run: the whole system in one process, in memory (authd :8080, orders :8081, payments :8082)
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

## bench: the verifier's hot path against raw ed25519.Verify and go-jose, the hasher, the ring
bench:
	go test -run='^$$' -bench=. -benchmem ./core/... ./adapters/jose ./adapters/argon2 ./adapters/httpapi

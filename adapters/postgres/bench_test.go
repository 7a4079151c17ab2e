package postgres_test

import (
	"testing"

	"github.com/keygate/keygate/adapters/postgres"
	"github.com/keygate/keygate/ports/portstest"
	"github.com/keygate/keygate/test/containers"
)

// BenchmarkRegisterLogin measures the database's share of a registration (Create of a user)
// and of a login (ByEmail), one after the other per iteration, and reports their p50 and p99
// in microseconds: serially, and from 16 goroutines at once. The argon2 hash that dominates
// both requests is measured by the argon2 adapter's benchmarks.
//
//	go test ./adapters/postgres -run '^$' -bench RegisterLogin -benchtime 2000x
func BenchmarkRegisterLogin(b *testing.B) {
	srv := containers.StartPostgres(b)
	pool, closePool, err := postgres.Open(b.Context(), config(srv, srv.CreateDatabase(b)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(closePool)
	if err := postgres.Migrate(b.Context(), pool); err != nil {
		b.Fatal(err)
	}
	portstest.BenchRegisterLogin(b, postgres.NewUserRepo(pool))
}

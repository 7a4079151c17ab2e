package mysql_test

import (
	"testing"

	mysqladapter "github.com/keygate/keygate/adapters/mysql"
	"github.com/keygate/keygate/ports/portstest"
	"github.com/keygate/keygate/test/containers"
)

// BenchmarkRegisterLogin measures the database's share of a registration (Create of a user)
// and of a login (ByEmail), one after the other per iteration, and reports their p50 and p99
// in microseconds: serially, and from 16 goroutines at once. The argon2 hash that dominates
// both requests is measured by the argon2 adapter's benchmarks.
//
//	go test ./adapters/mysql -run '^$' -bench RegisterLogin -benchtime 2000x
func BenchmarkRegisterLogin(b *testing.B) {
	servers := []struct {
		name  string
		start func(testing.TB) *containers.MySQL
	}{
		{"MariaDB", containers.StartMariaDB},
		{"MySQL8", containers.StartMySQL},
	}
	for _, s := range servers {
		b.Run(s.name, func(b *testing.B) {
			srv := s.start(b)
			db, closeDB, err := mysqladapter.Open(b.Context(), config(srv, srv.CreateDatabase(b)))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(closeDB)
			if err := mysqladapter.Migrate(b.Context(), db); err != nil {
				b.Fatal(err)
			}
			portstest.BenchRegisterLogin(b, mysqladapter.NewUserRepo(db))
		})
	}
}

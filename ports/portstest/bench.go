package portstest

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/ports"
)

// BenchRegisterLogin measures a UserRepo's share of a registration (Create of a user) and of a
// login (ByEmail), one after the other per iteration, and reports their p50 and p99 in
// microseconds: serially, and from 16 goroutines at once. repo must be fresh and empty.
func BenchRegisterLogin(b *testing.B, repo ports.UserRepo) {
	var n atomic.Int64
	op := func(b *testing.B, reg, login *[]time.Duration) {
		u := identity.User{
			ID:           identity.NewID(),
			Email:        fmt.Sprintf("user%d@bench.example", n.Add(1)),
			Name:         "Bench User",
			PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
			Roles:        []string{"user"},
			CreatedAt:    time.Now(),
			UpdatedAt:    time.Now(),
		}
		t0 := time.Now()
		if err := repo.Create(b.Context(), u); err != nil {
			b.Error(err)
			return
		}
		t1 := time.Now()
		if _, err := repo.ByEmail(b.Context(), u.Email); err != nil {
			b.Error(err)
			return
		}
		*reg = append(*reg, t1.Sub(t0))
		*login = append(*login, time.Since(t1))
	}
	b.Run("serial", func(b *testing.B) {
		var reg, login []time.Duration
		for b.Loop() {
			op(b, &reg, &login)
		}
		reportLatencies(b, reg, login)
	})
	b.Run("parallel16", func(b *testing.B) {
		var (
			mu         sync.Mutex
			reg, login []time.Duration
		)
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0))) // 16 goroutines on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			var r, l []time.Duration
			for pb.Next() {
				op(b, &r, &l)
			}
			mu.Lock()
			reg, login = append(reg, r...), append(login, l...)
			mu.Unlock()
		})
		reportLatencies(b, reg, login)
	})
}

// reportLatencies adds the p50 and p99 of both latencies to the benchmark's output.
func reportLatencies(b *testing.B, reg, login []time.Duration) {
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"register", reg}, {"login", login}} {
		if len(m.d) == 0 {
			continue
		}
		slices.Sort(m.d)
		b.ReportMetric(float64(m.d[len(m.d)*50/100].Microseconds()), m.name+"-p50-us")
		b.ReportMetric(float64(m.d[min(len(m.d)-1, len(m.d)*99/100)].Microseconds()), m.name+"-p99-us")
	}
}

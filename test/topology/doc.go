// Package topology tests keygate's deployment profiles as a user runs them: the built authd,
// ordersd, guardd and keygatectl binaries, each in its own process, on a real Redis and a real
// database (MariaDB, PostgreSQL, and MySQL 8 when its image can be had) in containers, with a
// small round-robin load balancer in front of the authd replicas. Every test talks to the
// processes only over HTTP, or runs keygatectl as an operator would, and stops or starts a
// container to see what users notice: answers during an outage, recovery without a restart,
// limits and keys shared by replicas, a key withdrawn under load (TestKeyWithdrawalUnderLoad).
//
// The container settings come from test/testbed/up.sh (see test/containers); without Docker
// the tests skip, and with KEYGATE_REQUIRE_DOCKER=1 they fail instead:
//
//	eval "$(bash test/testbed/up.sh)"
//	go test ./test/topology
//
// The figures (refresh throughput on Redis; register and login latency on each database and
// in memory; concurrent logins before p99 doubles) run only with -figures:
//
//	go test ./test/topology -run Figure -figures -v -timeout 30m
//
// The key withdrawal bound (30 withdrawals under load, three verifiers) also runs with
// -figures:
//
//	go test ./test/topology -run KeyWithdrawalUnderLoad -figures -v
package topology

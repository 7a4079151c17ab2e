// Package region tests keygate stretched over two regions as the seed draws it, with real
// processes on a real emulated WAN. Each region is a network namespace (that of its Redis
// container): region A holds the primary database (MariaDB), the primary Redis, an authd and
// a verifier (ordersd); region B holds a Redis replica of A's, an authd and two verifiers
// (one failing open, one failing closed). The regions are joined by a link this test process
// emulates: a TUN device in each namespace and a relay between them that delays every packet
// by a one-way latency and drops a share of them (the kernel here has no netem qdisc). B's
// authd reaches A's database and A's Redis primary over that link (revocations and sessions
// are written to the primary); B's verifiers follow revocations from B's replica, to which
// Redis replication carries every write and every published event.
//
// The tests need root (namespaces, TUN, veth), Docker and the testbed's images; without them
// they skip, saying why, and with KEYGATE_REQUIRE_DOCKER=1 they fail instead:
//
//	eval "$(bash test/testbed/up.sh)"
//	go test ./test/region
//
// The default run is the short correctness version (40 ms one way, 1 % loss, 30 logouts, a
// 20 s cut). The figures of deploy/README.md (200 logouts at 40 ms and at 80 ms, 1 % loss; a
// 30 s cut) run with -figures:
//
//	go test ./test/region -run . -figures -v -timeout 20m
package region

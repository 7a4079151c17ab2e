// Package redis holds keygate's fault and propagation tests of the revocation feed over a real
// Redis in a container: the Redis RevocationStore and EventBus feeding core/guard's Feed and
// Guard, checked after each fault to hold exactly the store's entries and to refuse every
// revoked token. Run them with the container settings of test/testbed/up.sh; the propagation
// figures come from a benchmark:
//
//	go test ./test/redis -run '^$' -bench Propagation -benchtime 10000x
package redis

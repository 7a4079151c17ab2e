#!/bin/sh
# Liveness of a redis container: it answers PING and, if it is a replica, it replicates from
# the master the sentinels agree on. A replica left pointing at a dead master (the sentinels had
# not yet seen it when the master died, so none reconfigured it) fails this check, is
# restarted, and init.sh then asks the sentinels where the master is.
set -u
REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --no-auth-warning ping | grep -q PONG || exit 1
info=$(REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --no-auth-warning info replication | tr -d '\r')
case "$info" in
*role:slave*) ;;
*) exit 0 ;;
esac
current=$(echo "$info" | sed -n 's/^master_host://p')
wanted=$(redis-cli -p 26379 sentinel get-master-addr-by-name keygate 2>/dev/null | head -n 1)
if [ -n "$wanted" ] && [ "$current" != "$wanted" ]; then
	echo "replica of $current, but the sentinels say the master is $wanted" >&2
	exit 1
fi

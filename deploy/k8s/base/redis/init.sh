#!/bin/sh
# Writes redis.conf and sentinel.conf for this pod into /run/redis. The master is whoever the
# sentinels say it is; only when no sentinel answers (first start of the whole set) does
# redis-0 start as master and the others replicate from it.
set -eu
set="${REDIS_SET:-redis}"
self="$(hostname).${set}"
ordinal="${HOSTNAME##*-}"
master=""
for i in 0 1 2; do
	peer="${set}-${i}.${set}"
	[ "$peer" = "$self" ] && continue
	answer="$(timeout 3 redis-cli -h "$peer" -p 26379 sentinel get-master-addr-by-name keygate 2>/dev/null | head -n 1 || true)"
	if [ -n "$answer" ]; then
		master="$answer"
		break
	fi
done
if [ -z "$master" ]; then
	if [ "$ordinal" = 0 ]; then master="$self"; else master="${set}-0.${set}"; fi
fi
echo "init: this is $self, master is $master"

cp /config/redis.conf /run/redis/redis.conf
{
	echo "requirepass \"${REDIS_PASSWORD}\""
	echo "masterauth \"${REDIS_PASSWORD}\""
	echo "replica-announce-ip ${self}"
	if [ "$master" != "$self" ]; then echo "replicaof ${master} 6379"; fi
} >>/run/redis/redis.conf

cat >/run/redis/sentinel.conf <<CONF
port 26379
dir /run/redis
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip ${self}
sentinel monitor keygate ${master} 6379 2
sentinel auth-pass keygate "${REDIS_PASSWORD}"
sentinel down-after-milliseconds keygate 5000
sentinel failover-timeout keygate 60000
sentinel parallel-syncs keygate 1
CONF

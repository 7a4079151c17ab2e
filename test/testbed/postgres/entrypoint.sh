#!/bin/bash
# Initialises an empty PGDATA (as the official image does: a temporary server creates the
# database, so "ready to accept connections" is logged twice), then runs postgres.
set -euo pipefail
case "$1" in
-*) set -- postgres "$@" ;;
esac
if [ "$1" != postgres ]; then exec "$@"; fi
shift

user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
pass=${POSTGRES_PASSWORD:-}
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
ident() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
lit() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	as_pg initdb -D "$PGDATA" -U "$user" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
	echo "host all all 0.0.0.0/0 trust" >>"$PGDATA/pg_hba.conf"
	echo "host all all ::/0 trust" >>"$PGDATA/pg_hba.conf"
	as_pg pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
	if [ -n "$pass" ]; then
		as_pg psql -v ON_ERROR_STOP=1 -q -U "$user" -d postgres \
			-c "ALTER USER $(ident "$user") PASSWORD $(lit "$pass")"
	fi
	if [ "$db" != postgres ]; then
		as_pg psql -v ON_ERROR_STOP=1 -q -U "$user" -d postgres -c "CREATE DATABASE $(ident "$db")"
	fi
	as_pg pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*' "$@"

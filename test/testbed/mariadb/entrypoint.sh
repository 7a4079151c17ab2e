#!/bin/bash
# Initialises an empty data directory, then runs mariadbd with an init file that creates the
# database and users the environment asks for (idempotent: it runs at every start).
set -euo pipefail
case "$1" in
-*) set -- mariadbd "$@" ;;
esac
if [ "$1" != mariadbd ] && [ "$1" != mysqld ]; then exec "$@"; fi
shift

db=${MARIADB_DATABASE:-${MYSQL_DATABASE:-}}
user=${MARIADB_USER:-${MYSQL_USER:-}}
pass=${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}
rootpass=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}
allow_empty=${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-${MYSQL_ALLOW_EMPTY_PASSWORD:-}}
if [ -z "$rootpass" ] && [ -z "$allow_empty" ]; then
	echo "entrypoint: set MYSQL_ROOT_PASSWORD (or MYSQL_ALLOW_EMPTY_PASSWORD=yes)" >&2
	exit 1
fi
sq() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; } # SQL string literal body
bq() { printf '%s' "$1" | sed 's/`/``/g'; }                        # SQL identifier body

mkdir -p /run/mysqld /var/lib/mysql
chown mysql:mysql /run/mysqld /var/lib/mysql
if [ ! -d /var/lib/mysql/mysql ]; then
	mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db \
		--auth-root-authentication-method=normal >/dev/null
fi

init=/run/mysqld/init.sql
{
	# One statement per line: mariadbd reads its init file line by line.
	echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '$(sq "$rootpass")';"
	echo "ALTER USER 'root'@'%' IDENTIFIED BY '$(sq "$rootpass")';"
	echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(sq "$rootpass")';"
	echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
	if [ -n "$db" ]; then
		echo "CREATE DATABASE IF NOT EXISTS \`$(bq "$db")\`;"
	fi
	if [ -n "$user" ] && [ "$user" != root ]; then
		echo "CREATE USER IF NOT EXISTS '$(sq "$user")'@'%' IDENTIFIED BY '$(sq "$pass")';"
		echo "ALTER USER '$(sq "$user")'@'%' IDENTIFIED BY '$(sq "$pass")';"
		if [ -n "$db" ]; then
			echo "GRANT ALL ON \`$(bq "$db")\`.* TO '$(sq "$user")'@'%';"
		fi
	fi
} >"$init"
chown mysql:mysql "$init"
chmod 600 "$init"
exec mariadbd --user=mysql --datadir=/var/lib/mysql --bind-address=0.0.0.0 --port=3306 \
	--skip-name-resolve --init-file="$init" "$@"

#!/bin/sh
# Like the official image: arguments starting with "-" (or a .conf file) go to redis-server,
# which runs as user redis in /data, listening on every interface without protected mode.
set -e
case "$1" in
-* | *.conf) set -- redis-server "$@" ;;
esac
if [ "$1" = redis-server ]; then
	case " $* " in
	*" --protected-mode "*) ;;
	*) set -- "$@" --protected-mode no ;;
	esac
	chown -R redis:redis /data 2>/dev/null || true
	exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"

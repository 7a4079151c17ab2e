#!/usr/bin/env bash
# up.sh prepares a Debian 12 machine with no container registry for keygate's container tests:
# it installs Debian's docker.io and debootstrap if missing, starts dockerd if none answers,
# builds local images of Redis, MariaDB, PostgreSQL, nginx and an SMTP server from Debian packages (cached by a
# recipe hash, so a second run takes seconds) and prints, on stdout, the environment the tests
# need as export lines. Everything else goes to stderr, so the usual call is:
#
#   eval "$(bash test/testbed/up.sh)"
#
# Options: --check also starts each image once and checks that it answers (redis-cli ping, a
# MariaDB and a PostgreSQL query, nginx -t). Environment: KEYGATE_TESTBED_MIRROR overrides the
# Debian mirror (default: apt's own); KEYGATE_TESTBED_LOG is dockerd's log file (default
# /var/log/keygate-dockerd.log); KEYGATE_TESTBED_REBUILD=1 rebuilds every image.
set -euo pipefail

check=
for arg in "$@"; do
	case "$arg" in
	--check) check=1 ;;
	*) echo "usage: $0 [--check]" >&2; exit 2 ;;
	esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=keygate-testbed
label=org.keygate.testbed.recipe
suite=bookworm
dockerd_log=${KEYGATE_TESTBED_LOG:-/var/log/keygate-dockerd.log}
export DOCKER_BUILDKIT=0 # the legacy builder needs no buildx plugin and no registry

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
t0=$(date +%s)

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# 1. Packages.
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v ip >/dev/null 2>&1 || need+=(iproute2)       # test/region: links between namespaces
command -v nsenter >/dev/null 2>&1 || need+=(util-linux) # test/region: processes in a namespace
/usr/bin/python3 -c 'import jwt, cryptography' >/dev/null 2>&1 || need+=(python3-jwt python3-cryptography) # test/interop
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/tmp/keygate-testbed-apt.log 2>&1 ||
		{ tail -n 20 /tmp/keygate-testbed-apt.log >&2; die "apt-get update failed"; }
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${need[@]}" >>/tmp/keygate-testbed-apt.log 2>&1 ||
		{ tail -n 20 /tmp/keygate-testbed-apt.log >&2; die "apt-get install ${need[*]} failed"; }
fi

# 2. The daemon.
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_in() { cat "$1" 2>/dev/null || true; }
start_dockerd() {
	local pidfile=/var/run/docker.pid cpidfile=/var/run/docker/containerd/containerd.pid pid cpid
	pid=$(pid_in "$pidfile")
	if alive "$pid"; then
		log "dockerd (pid $pid) is running but does not answer yet"
		return
	fi
	if [ -f "$pidfile" ]; then
		log "removing stale $pidfile (pid ${pid:-none} is not alive)"
		as_root rm -f "$pidfile"
	fi
	# The containerd that a dockerd killed hard had started may outlive it for a moment; a new
	# dockerd then waits for it and gives up. End it first (no dockerd is alive to own it).
	cpid=$(pid_in "$cpidfile")
	if alive "$cpid"; then
		log "ending the containerd (pid $cpid) left by a dead dockerd"
		as_root kill -TERM "$cpid" 2>/dev/null || true
		for _ in $(seq 1 20); do alive "$cpid" || break; sleep 0.5; done
		alive "$cpid" && as_root kill -KILL "$cpid" 2>/dev/null || true
	fi
	as_root rm -f "$cpidfile"
	log "starting dockerd (log: $dockerd_log)"
	as_root setsid dockerd >>"$dockerd_log" 2>&1 </dev/null &
}
if ! docker info >/dev/null 2>&1; then
	for attempt in 1 2 3; do
		start_dockerd
		for _ in $(seq 1 60); do
			docker info >/dev/null 2>&1 && break 2
			alive "$(pid_in /var/run/docker.pid)" || [ -z "$(pid_in /var/run/docker.pid)" ] || break
			sleep 0.5
		done
		log "dockerd did not answer (attempt $attempt); last lines of its log:"
		grep -v 'module=grpc' "$dockerd_log" | tail -n 5 >&2 || true
	done
	docker info >/dev/null 2>&1 || die "dockerd does not answer (log: $dockerd_log)"
fi
log "docker $(docker version -f '{{.Server.Version}}' 2>/dev/null) answers"

# replaced lists the ids of images that a rebuild replaced, removed at the end (when unused).
replaced=()
remember_old() {
	local id
	id=$(docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true)
	[ -z "$id" ] || replaced=("$id" "${replaced[@]}")
}

# recipe_of prints the recipe hash an image carries, or nothing.
recipe_of() {
	docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$1" 2>/dev/null || true
}

# 3. The base image: a minimal Debian root file system made by debootstrap.
mirror=${KEYGATE_TESTBED_MIRROR:-}
if [ -z "$mirror" ]; then
	# apt's configured mirror for the main suite: deb822 sources first, then one-line ones.
	mirror=$(awk '
		/^URIs:/ { uri = $2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "'$suite'" && uri !~ /security/) { print uri; exit } }
	' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
fi
if [ -z "$mirror" ]; then
	mirror=$(awk '$1 == "deb" && $0 ~ / '$suite' / && $0 !~ /security/ {
		for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; exit } }
	' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)
fi
[ -n "$mirror" ] || die "no Debian mirror found in apt's sources for $suite: set KEYGATE_TESTBED_MIRROR to the mirror URL apt uses"
base_tag=$prefix/base:$suite
base_recipe=$(printf 'debootstrap minbase %s %s v1\n' "$suite" "$mirror" | sha256sum | cut -c1-16)
if [ "${KEYGATE_TESTBED_REBUILD:-}" != 1 ] && [ "$(recipe_of "$base_tag")" = "$base_recipe" ]; then
	log "$base_tag is up to date"
else
	log "debootstrap $suite from $mirror"
	started=$SECONDS
	remember_old "$base_tag"
	root=$(mktemp -d /tmp/keygate-testbed-root.XXXXXX)
	trap 'as_root rm -rf "$root"' EXIT
	as_root debootstrap --variant=minbase "$suite" "$root" "$mirror" >/tmp/keygate-testbed-debootstrap.log 2>&1 ||
		{ tail -n 20 /tmp/keygate-testbed-debootstrap.log >&2; die "debootstrap failed"; }
	as_root rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
	as_root tar -C "$root" -c . | docker import \
		--change "LABEL $label=$base_recipe" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["/bin/bash"]' - "$base_tag" >/dev/null
	as_root rm -rf "$root"
	trap - EXIT
	log "imported $base_tag in $((SECONDS - started)) s"
fi

# 4. One image per server, from a small Dockerfile directory beside this script.
build() { # build NAME TAG
	local name=$1 tag=$2 recipe
	recipe=$( {
		echo "$base_recipe"
		(cd "$here/$name" && find . -type f | LC_ALL=C sort | xargs sha256sum)
	} | sha256sum | cut -c1-16)
	if [ "${KEYGATE_TESTBED_REBUILD:-}" != 1 ] && [ "$(recipe_of "$tag")" = "$recipe" ]; then
		log "$tag is up to date"
		return
	fi
	log "building $tag"
	local started=$SECONDS
	remember_old "$tag"
	if ! docker build --network host --pull=false -q \
		--build-arg "BASE=$base_tag" --label "$label=$recipe" \
		-t "$tag" "$here/$name" >"/tmp/keygate-testbed-$name.log" 2>&1; then
		tail -n 40 "/tmp/keygate-testbed-$name.log" >&2
		die "building $tag failed (full log: /tmp/keygate-testbed-$name.log)"
	fi
	log "built $tag in $((SECONDS - started)) s"
}

redis_tag=$prefix/redis:7
mariadb_tag=$prefix/mariadb:10.11
postgres_tag=$prefix/postgres:15
nginx_tag=$prefix/nginx:1.22
smtp_tag=$prefix/smtp:aiosmtpd
build redis "$redis_tag"
build mariadb "$mariadb_tag"
build postgres "$postgres_tag"
build nginx "$nginx_tag"
build smtp "$smtp_tag"

# Old images of the tags rebuilt, newest first so that a server image goes before its base.
for id in "${replaced[@]}"; do
	docker rmi "$id" >/dev/null 2>&1 || true
done

# 5. Optionally, each image answers.
# retry N CMD...: runs CMD every half second until it succeeds, at most N times.
retry() {
	local n=$1
	shift
	for _ in $(seq 1 "$n"); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	"$@" >&2
}
smoke() { # smoke NAME TAG [docker run options...] -- PROBE...: PROBE must succeed in the container
	local name=$1 tag=$2 id
	shift 2
	local run=() probe=()
	while [ "$1" != -- ]; do run+=("$1"); shift; done
	shift
	probe=("$@")
	id=$(docker run -d --rm "${run[@]}" "$tag")
	if retry 120 docker exec "$id" "${probe[@]}"; then
		log "$name ($tag) answers"
		docker rm -f "$id" >/dev/null
	else
		docker logs "$id" 2>&1 | tail -n 20 >&2
		docker rm -f "$id" >/dev/null
		die "$name ($tag) does not answer: ${probe[*]}"
	fi
}
if [ -n "$check" ]; then
	smoke redis "$redis_tag" -- redis-cli ping
	smoke mariadb "$mariadb_tag" -e MYSQL_ROOT_PASSWORD=check -e MYSQL_DATABASE=check -e MYSQL_USER=check \
		-e MYSQL_PASSWORD=check -- mariadb -h 127.0.0.1 -u check -pcheck check -e 'SELECT 1'
	smoke postgres "$postgres_tag" -e POSTGRES_PASSWORD=check -e POSTGRES_DB=check -- \
		psql -h 127.0.0.1 -U postgres -d check -c 'SELECT 1'
	smoke nginx "$nginx_tag" -- nginx -t
fi

log "ready in $(($(date +%s) - t0)) s"
cat <<OUT
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
export TESTCONTAINERS_RYUK_DISABLED=true
export KEYGATE_REDIS_IMAGE=$redis_tag
export KEYGATE_MARIADB_IMAGE=$mariadb_tag
export KEYGATE_POSTGRES_IMAGE=$postgres_tag
export KEYGATE_NGINX_IMAGE=$nginx_tag
export KEYGATE_SMTP_IMAGE=$smtp_tag
OUT

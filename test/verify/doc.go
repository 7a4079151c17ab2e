// Package verify tests the ways a service outside keygate verifies its tokens, against a real
// authd and Redis: a tiny Go service in a module of its own built on the public verifier
// package, and a Python service behind nginx auth_request and guardd. Run with Docker
// (Redis and nginx in containers, images from KEYGATE_REDIS_IMAGE and KEYGATE_NGINX_IMAGE);
// skipped without it unless KEYGATE_REQUIRE_DOCKER=1, and with -short.
package verify

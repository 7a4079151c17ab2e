// Package deploy holds the tests that keep deploy/ in step with the code: every kustomize
// overlay builds and decodes strictly into the Kubernetes API types; container ports, probe
// paths and environment variables match what the apps serve and read (docs/configuration.md);
// alert rules and dashboards parse and name only metrics adapters/telemetry exports; the NGINX
// configuration passes `nginx -t` and routes real requests (in a container, when Docker
// answers); the Dockerfiles build where they can.
package deploy

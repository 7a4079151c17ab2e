// Command devstack runs keygate's whole system in one process, in memory, with no Docker,
// Redis or database: authd on PORT (default 8080) and the demo microservices orders and
// payments on the next two ports (PORT=0 picks three free ports), sharing one in-process
// event bus and revocation store. It prints a quickstart of curl lines. Development only.
package main

import "github.com/keygate/keygate/apps/internal/program"

func main() { program.Main(run) }

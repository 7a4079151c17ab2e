package stores

import (
	"context"
	"log/slog"
	"time"

	"github.com/keygate/keygate/adapters/httpapi"
)

// DependencyChecks are the readiness checks of deps: a dependency down leaves the replica
// serving, degraded (see httpapi.ReadyReport).
func DependencyChecks(deps Dependencies) []httpapi.Check {
	out := make([]httpapi.Check, 0, len(deps))
	for _, d := range deps {
		out = append(out, httpapi.Check{Name: d.Name, Fn: func(ctx context.Context) error { return httpapi.Degraded(d.Ping(ctx)) }})
	}
	return out
}

// MonitorEvery is how often Monitor pings the dependencies, each within pingTimeout.
const (
	MonitorEvery = 5 * time.Second
	pingTimeout  = 2 * time.Second
)

// Monitor pings deps every MonitorEvery until ctx ends, reports each as
// keygate_dependency_up{dependency} through set, and logs when one goes down or comes back.
func Monitor(ctx context.Context, deps Dependencies, set func(name string, up bool), log *slog.Logger, app string) {
	if len(deps) == 0 {
		return
	}
	up := make(map[string]bool, len(deps))
	check := func() {
		for _, d := range deps {
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := d.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			was, seen := up[d.Name]
			up[d.Name] = err == nil
			set(d.Name, err == nil)
			switch {
			case err != nil && (was || !seen):
				log.Warn(app+": dependency down; serving degraded", slog.String("dependency", d.Name),
					slog.String("error", err.Error()))
			case err == nil && seen && !was:
				log.Info(app+": dependency back", slog.String("dependency", d.Name))
			}
		}
	}
	check()
	t := time.NewTicker(MonitorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		}
	}
}

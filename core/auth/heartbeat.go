package auth

import (
	"context"
	"time"

	"github.com/keygate/keygate/core/revocation"
)

// Run publishes an EventHeartbeat carrying the RevocationStore's sequence number every
// HeartbeatEvery (verifiers notice a missed event by it) until ctx ends, then returns ctx's
// error. A failed beat is skipped; Run does not stop on failures.
func (s *Service) Run(ctx context.Context) error {
	s.heartbeat(ctx)
	hb := time.NewTicker(s.cfg.HeartbeatEvery)
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-hb.C:
			s.heartbeat(ctx)
		}
	}
}

// heartbeat publishes the store's sequence number so verifiers notice missed events.
func (s *Service) heartbeat(ctx context.Context) {
	start := s.d.Clock.Now()
	seq, err := s.d.Revocations.Seq(ctx)
	now := s.d.Clock.Now()
	s.d.Metrics.RevocationStoreOp("seq", now.Sub(start), err)
	if err != nil {
		return // a heartbeat with a wrong sequence number would mislead; skip this beat
	}
	if err := s.d.Bus.Publish(ctx, revocation.Event{Kind: revocation.EventHeartbeat, Seq: seq, PublishedAt: now}); err != nil {
		s.publishFailures.Add(1)
	}
}

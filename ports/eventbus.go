package ports

import (
	"context"

	"github.com/keygate/keygate/core/revocation"
)

// EventBus carries invalidation events from the auth service to every verifier. Delivery may
// be at-most-once; subscribers recover by resynchronising from the RevocationStore whenever
// the bus tells them it (re)connected. Safe for concurrent use.
type EventBus interface {
	// Publish sends e to every current subscriber. ErrUnavailable when the bus is down.
	Publish(ctx context.Context, e revocation.Event) error
	// Subscribe calls h, from one goroutine and in order, with every event published after
	// the subscription is established, until ctx ends; then it returns ctx's error. It calls h
	// with an EventConnected event each time the subscription is established (first, and after
	// every reconnect), before any event published after that point, and with
	// EventDisconnected when the subscription is lost; it reconnects on its own.
	Subscribe(ctx context.Context, h func(revocation.Event)) error
}

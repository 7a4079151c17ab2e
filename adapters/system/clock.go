// Package system holds the adapters to the machine itself: the production ports.Clock. A
// library user wiring keygate's core outside apps/ takes the clock from here (tests take
// memory.FakeClock).
package system

import (
	"time"

	"github.com/keygate/keygate/ports"
)

// Clock tells the real time (time.Now: wall clock with the monotonic reading).
type Clock struct{}

var _ ports.Clock = Clock{}

// Now returns time.Now().
func (Clock) Now() time.Time { return time.Now() }

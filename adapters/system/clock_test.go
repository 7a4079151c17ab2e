package system_test

import (
	"testing"

	"time"

	"github.com/keygate/keygate/adapters/system"
)

func TestClock(t *testing.T) {
	before := time.Now()
	got := system.Clock{}.Now()
	after := time.Now()
	if got.Before(before) || got.After(after) {
		t.Errorf("Clock.Now = %v, not between calls to time.Now (%v, %v)", got, before, after)
	}
}

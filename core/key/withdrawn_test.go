package key

import (
	"fmt"
	"sync"
	"testing"
)

func TestWithdrawn(t *testing.T) {
	var w Withdrawn
	if !w.Empty() || w.Has("k1") {
		t.Fatal("zero Withdrawn is not empty")
	}
	if w.Add("") || !w.Empty() {
		t.Error(`Add("") recorded an empty kid`)
	}
	if !w.Add("k1") || w.Add("k1") {
		t.Error("Add(k1) twice: want new, then not new")
	}
	if !w.Has("k1") || w.Has("k2") || w.Empty() {
		t.Error("after Add(k1): want k1 only")
	}
}

// TestWithdrawnRemembersTheLatest: past MaxWithdrawn the oldest kids are forgotten, never the
// newest.
func TestWithdrawnRemembersTheLatest(t *testing.T) {
	var w Withdrawn
	for i := range MaxWithdrawn + 10 {
		w.Add(fmt.Sprint("k", i))
	}
	if w.Has("k0") || w.Has("k9") {
		t.Error("the oldest kids are still remembered past MaxWithdrawn")
	}
	for _, kid := range []string{"k10", fmt.Sprint("k", MaxWithdrawn+9)} {
		if !w.Has(kid) {
			t.Errorf("%s forgotten", kid)
		}
	}
}

func TestWithdrawnConcurrent(t *testing.T) {
	var w Withdrawn
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				kid := fmt.Sprint("g", g, "-", i)
				w.Add(kid)
				if !w.Has(kid) {
					t.Errorf("%s not found right after Add", kid)
					return
				}
			}
		})
	}
	wg.Wait()
}

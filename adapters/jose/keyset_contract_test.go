package jose

import (
	"crypto/ed25519"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/ports/portstest"
)

func TestRemoteKeySetContract(t *testing.T) {
	portstest.RunKeySet(t, func(t *testing.T) portstest.KeySetIssuer {
		f := newFixture(t, Config{})
		seed := byte(0)
		return portstest.KeySetIssuer{
			KeySet: f.ks,
			Publish: func(t *testing.T) (string, ed25519.PublicKey) {
				seed++
				k := newKey(t, seed)
				f.srv.set(func(s *jwksServer) { s.keys = append(s.keys, k) })
				return k.ID, k.Public
			},
			Withdraw: func(t *testing.T, kid string) {
				f.srv.set(func(s *jwksServer) {
					s.keys = slices.DeleteFunc(s.keys, func(k key.Key) bool { return k.ID == kid })
				})
			},
			Break:  func(t *testing.T) { f.srv.set(func(s *jwksServer) { s.status = http.StatusInternalServerError }) },
			Repair: func(t *testing.T) { f.srv.set(func(s *jwksServer) { s.status = 0 }) },
			Settle: func(t *testing.T) { f.clock.Advance(time.Hour) },
		}
	})
}

package memory_test

import (
	"testing"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

func TestRevocationStore(t *testing.T) {
	portstest.RunRevocationStore(t, func(*testing.T) ports.RevocationStore { return memory.NewRevocationStore(nil, nil) })
}

func TestRevocationLog(t *testing.T) {
	portstest.RunRevocationLog(t, func(_ *testing.T, keep int) ports.RevocationStore {
		s := memory.NewRevocationStore(nil, nil)
		s.KeepLog(keep)
		return s
	})
}

func TestRevocationPublish(t *testing.T) {
	portstest.RunRevocationPublish(t, func(*testing.T) (ports.RevocationStore, ports.EventBus) {
		b := memory.NewEventBus(memory.EventBusConfig{})
		return memory.NewRevocationStore(nil, b), b
	})
}

func TestEventBus(t *testing.T) {
	portstest.RunEventBus(t, func(*testing.T) ports.EventBus { return memory.NewEventBus(memory.EventBusConfig{}) })
}

func TestSessionStore(t *testing.T) {
	portstest.RunSessionStore(t, func(*testing.T) ports.SessionStore { return memory.NewSessionStore(nil) })
}

func TestOneTimeTokenStore(t *testing.T) {
	portstest.RunOneTimeTokenStore(t, func(*testing.T) ports.OneTimeTokenStore { return memory.NewOneTimeTokenStore(nil) })
}

func TestUserRepo(t *testing.T) {
	portstest.RunUserRepo(t, func(*testing.T) ports.UserRepo { return memory.NewUserRepo() })
}

func TestAuditLog(t *testing.T) {
	portstest.RunAuditLog(t, func(*testing.T) ports.AuditLog { return memory.NewAuditLog() })
}

func TestRateLimiter(t *testing.T) {
	portstest.RunRateLimiter(t, func(*testing.T) ports.RateLimiter { return memory.NewRateLimiter(nil) })
}

func TestKeyStore(t *testing.T) {
	portstest.RunKeyStore(t, func(*testing.T) ports.KeyStore { return memory.NewKeyStore() })
	portstest.RunKeyStoreReplicas(t, func(*testing.T) (ports.KeyStore, ports.KeyStore) {
		s := memory.NewKeyStore() // one process: both replicas share the store
		return s, s
	})
}

func TestMailer(t *testing.T) {
	portstest.RunMailer(t, func(t *testing.T) (ports.Mailer, func(*testing.T, int) []ports.Mail) {
		o := memory.NewOutbox(nil)
		return o, func(*testing.T, int) []ports.Mail { return o.Sent() }
	})
}

package main

import (
	"github.com/keygate/keygate/apps/internal/authsvc"
	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/ports"
)

// tool is what the admin commands work on: the auth service wired exactly as authd wires
// it for the configured profile (so disabling a user revokes and pushes as the API does),
// plus direct reads of the key ring and the users for what the service does not list.
type tool struct {
	svc   *auth.Service
	keys  ports.KeyStore
	users ports.UserRepo
	norm  ports.Normalizer
	cfg   authsvc.Config
}

func newTool(svc *auth.Service, keys ports.KeyStore, users ports.UserRepo, n ports.Normalizer, cfg authsvc.Config) *tool {
	return &tool{svc: svc, keys: keys, users: users, norm: n, cfg: cfg}
}

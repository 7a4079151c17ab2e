package main

import (
	"log/slog"

	"github.com/keygate/keygate/adapters/norm"
	"github.com/keygate/keygate/apps/internal/authsvc"
	"github.com/keygate/keygate/apps/internal/stores"
	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/core/keyring"
	"github.com/keygate/keygate/ports"
)

// tool is what the admin commands work on: the signing-key ring and the auth service wired
// exactly as authd wires them for the configured profile (so disabling a user revokes and
// pushes as the API does), plus direct reads of the users for what the service does not list.
type tool struct {
	ring  *keyring.Ring
	svc   *auth.Service
	users ports.UserRepo
	norm  ports.Normalizer
	cfg   authsvc.Config
}

func newTool(ring *keyring.Ring, svc *auth.Service, users ports.UserRepo, n ports.Normalizer, cfg authsvc.Config) *tool {
	return &tool{ring: ring, svc: svc, users: users, norm: n, cfg: cfg}
}

// assembleTool builds the admin commands' tool on st from authd's own assembly, so the
// commands run the use cases exactly as authd wires them.
func assembleTool(st *stores.Stores, cfg authsvc.Config, log *slog.Logger) (*tool, error) {
	app, err := authsvc.Assemble(st, cfg, log)
	if err != nil {
		return nil, err
	}
	return newTool(app.Ring, app.Service, st.Users, norm.New(), cfg), nil
}

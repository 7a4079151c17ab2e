package authsvc

import (
	"github.com/google/wire"

	"github.com/keygate/keygate/adapters/argon2"
	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/adapters/norm"
	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/stores"
	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/core/guard"
	"github.com/keygate/keygate/core/keyring"
	"github.com/keygate/keygate/ports"
)

// Core is authd over the Stores of any profile, in the order it is built: metrics, the
// signing-key ring, authd's own feed and guard over that ring, password hashing,
// normalisation, the use cases (signing with the ring, RFC 7009 through the guard), the HTTP
// API, the admin listener's handler and the App.
var Core = wire.NewSet(
	StoreFields,
	NewRegistry,
	telemetry.New,
	wire.Bind(new(ports.Metrics), new(*telemetry.Metrics)),
	jose.NewTokenIssuer,
	wire.Bind(new(ports.TokenIssuer), new(*jose.TokenIssuer)),
	NewHasher,
	wire.Bind(new(ports.PasswordHasher), new(*argon2.Hasher)),
	norm.New,
	wire.Bind(new(ports.Normalizer), new(norm.Normalizer)),
	wire.Struct(new(keyring.Deps), "*"),
	NewRing,
	NewFeed,
	NewGuard,
	wire.Bind(new(auth.Signer), new(*keyring.Ring)),
	wire.Bind(new(auth.Verifier), new(*guard.Guard)),
	NewMailer,
	wire.Struct(new(auth.Deps), "*"),
	NewService,
	NewRelay,
	NewIntrospector,
	NewHandler,
	NewAdminHandler,
	NewApp,
)

// StoreFields provides the ports of an opened *stores.Stores.
var StoreFields = wire.FieldsOf(new(*stores.Stores), "Clock", "Users", "Keys", "Audit", "Sessions", "Limiter",
	"Tokens", "Revocations", "Bus", "Dependencies")

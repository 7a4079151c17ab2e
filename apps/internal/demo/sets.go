package demo

import (
	"github.com/google/wire"

	"github.com/keygate/keygate/apps/verifier"
)

// Set builds a demo service on the verifier package: the verifier (whose configuration picks
// the revocation feed), the HTTP API and the App.
var Set = wire.NewSet(wire.FieldsOf(new(Config), "Verifier"), verifier.Provide, NewHandler, NewApp)

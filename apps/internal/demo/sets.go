package demo

import "github.com/google/wire"

// Set builds a demo service on the verifier package: the verifier (whose configuration picks
// the revocation feed), the HTTP API and the App.
var Set = wire.NewSet(NewVerifier, NewHandler, NewApp)

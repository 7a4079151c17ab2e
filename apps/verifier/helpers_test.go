package verifier_test

import "github.com/keygate/keygate/core/guard"

func guardConfig(issuer string) guard.Config {
	return guard.Config{Issuer: issuer, Audiences: []string{"billing"}}
}

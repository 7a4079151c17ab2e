package jose

import "encoding/json"

// Well-known paths under the issuer.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	MetadataPath  = "/.well-known/oauth-authorization-server" // RFC 8414
	JWKSPath      = "/.well-known/jwks.json"
)

// DiscoveryOption adds an optional endpoint to the metadata document.
type DiscoveryOption func(*metadata)

// WithIntrospection advertises the RFC 7662 introspection endpoint, issuer + "/introspect".
func WithIntrospection() DiscoveryOption {
	return func(m *metadata) { m.IntrospectionEndpoint = m.Issuer + "/introspect" }
}

// metadata is the RFC 8414 document: only what authd does (docs/discovery.md says why the
// rest is absent: no authorization or token endpoint, no ID token, no UserInfo).
type metadata struct {
	Issuer                 string   `json:"issuer"`
	JWKSURI                string   `json:"jwks_uri"`
	ResponseTypesSupported []string `json:"response_types_supported"`
	GrantTypesSupported    []string `json:"grant_types_supported"`
	SubjectTypesSupported  []string `json:"subject_types_supported"`
	RevocationEndpoint     string   `json:"revocation_endpoint"`
	RevocationAuthMethods  []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpoint  string   `json:"introspection_endpoint,omitempty"`
}

// Discovery returns the metadata document of issuer (an absolute http(s) URL with no query,
// fragment or trailing slash), served at issuer + MetadataPath (RFC 8414) and issuer +
// DiscoveryPath: the issuer, its JWKS URL, the revocation endpoint and (with options) the
// introspection endpoint. It lists no authorization or token endpoint and no ID-token
// algorithm, because authd has none: response_types_supported and grant_types_supported are
// empty lists, the true answer (absent, RFC 8414 would imply defaults that are false).
func Discovery(issuer string, opts ...DiscoveryOption) ([]byte, error) {
	if err := checkIssuer(issuer); err != nil {
		return nil, err
	}
	m := metadata{
		Issuer:                 issuer,
		JWKSURI:                issuer + JWKSPath,
		ResponseTypesSupported: []string{},
		GrantTypesSupported:    []string{},
		SubjectTypesSupported:  []string{"public"},
		RevocationEndpoint:     issuer + "/revoke",
		RevocationAuthMethods:  []string{"none"},
	}
	for _, o := range opts {
		o(&m)
	}
	return json.Marshal(m)
}

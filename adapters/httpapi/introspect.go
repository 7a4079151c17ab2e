package httpapi

import (
	"context"
	"net/http"

	"github.com/keygate/keygate/core/remote"
)

// Introspector answers RFC 7662 introspection; *remote.Introspector implements it.
type Introspector interface {
	Introspect(ctx context.Context, verifier, raw string) (remote.Introspection, error)
}

var _ Introspector = (*remote.Introspector)(nil)

// introspectionJSON is the RFC 7662 section 2.2 answer; an inactive token's has only active.
type introspectionJSON struct {
	Active    bool     `json:"active"`
	TokenType string   `json:"token_type,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	ExpiresAt int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	ID        string   `json:"jti,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Scope     string   `json:"scope,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	Roles     []string `json:"roles,omitempty"`
}

// introspect serves POST /introspect (RFC 7662) to verifiers: a form with token and an
// optional token_type_hint (only a hint; refresh tokens are always inactive).
func (rt *router) introspect(w http.ResponseWriter, r *http.Request) {
	name, ok := rt.verifier(w, r)
	if !ok {
		return
	}
	_, raw, err := parseTokenForm(w, r)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	res, err := rt.cfg.Introspector.Introspect(r.Context(), name, raw)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	out := introspectionJSON{Active: res.Active}
	if res.Active {
		c := res.Claims
		out = introspectionJSON{Active: true, TokenType: "Bearer", Issuer: c.Issuer, Subject: c.Subject,
			Audience: c.Audience, ExpiresAt: c.ExpiresAt.Unix(), IssuedAt: c.IssuedAt.Unix(), ID: c.ID,
			ClientID: c.ClientID, Scope: c.Scope, SessionID: c.SessionID, Roles: c.Roles}
		if !c.NotBefore.IsZero() {
			out.NotBefore = c.NotBefore.Unix()
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	WriteJSON(w, http.StatusOK, out)
}

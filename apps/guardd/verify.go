package main

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/keygate/keygate/apps/verifier"
)

// The response headers of an accepted request: the caller's identity, for the gateway to
// copy onto the request it forwards (nginx auth_request_set, Traefik authResponseHeaders,
// Envoy allowed_upstream_headers). Every one is always sent, empty when the token has no such
// claim, so a gateway that copies them overwrites any the client sent itself.
const (
	HeaderSubject   = "X-Keygate-Subject"   // sub: the user id
	HeaderSession   = "X-Keygate-Session"   // sid: the refresh session
	HeaderRoles     = "X-Keygate-Roles"     // roles, comma-separated
	HeaderScope     = "X-Keygate-Scope"     // scope, space-separated
	HeaderClientID  = "X-Keygate-Client-Id" // client_id
	HeaderExpires   = "X-Keygate-Expires"   // exp, Unix seconds
	HeaderTokenID   = "X-Keygate-Token-Id"  // jti
	HeaderAudiences = "X-Keygate-Audience"  // aud, comma-separated
)

// IdentityHeaders lists the headers Verify sets on a 200, in the order of the docs.
var IdentityHeaders = []string{HeaderSubject, HeaderSession, HeaderRoles, HeaderScope, HeaderClientID,
	HeaderExpires, HeaderTokenID, HeaderAudiences}

// Verify answers a forward-auth question about the request's Authorization header, whatever
// the method and whatever follows /verify in the path (Envoy appends the original path; nginx
// and Traefik send the original method and URI in X-Original-* / X-Forwarded-* headers,
// which do not change the answer): 200 with the identity headers and no body; 401 with
// WWW-Authenticate (Bearer, or Bearer error="invalid_token"); 400 for two Authorization
// headers; 503 with Retry-After while the verifier cannot decide (before its first load of
// keys and revocations, or past KEYGATE_FAIL_CLOSED_AFTER). It never reads the request
// body and never echoes the token.
func Verify(v *verifier.Verifier) http.Handler {
	return v.RequireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.Claims(r.Context())
		h := w.Header()
		h.Set(HeaderSubject, headerValue(c.Subject))
		h.Set(HeaderSession, headerValue(c.SessionID))
		h.Set(HeaderRoles, headerValue(strings.Join(c.Roles, ",")))
		h.Set(HeaderScope, headerValue(c.Scope))
		h.Set(HeaderClientID, headerValue(c.ClientID))
		h.Set(HeaderExpires, strconv.FormatInt(c.ExpiresAt.Unix(), 10))
		h.Set(HeaderTokenID, headerValue(c.ID))
		h.Set(HeaderAudiences, headerValue(strings.Join(c.Audience, ",")))
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}))
}

// headerValue returns s as it can travel in a header: printable ASCII and spaces as they are;
// '%' and every other byte percent-encoded (%XX), so a claim can neither break the header nor
// be read as something else.
func headerValue(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '%' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

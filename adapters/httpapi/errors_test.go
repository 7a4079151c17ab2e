package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/onetime"
	"github.com/keygate/keygate/core/remote"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// hintedUnavailable is an overloaded adapter's error that says when to come back, as
// argon2.ShedError does.
type hintedUnavailable time.Duration

func (h hintedUnavailable) Error() string                 { return "argon2: queue too long" }
func (h hintedUnavailable) Unwrap() error                 { return ports.ErrUnavailable }
func (h hintedUnavailable) RetryAfterHint() time.Duration { return time.Duration(h) }

// TestErrorTable has one row per error the core, the ports and this package return: what a
// client sees for each is a contract (status, stable code, headers).
func TestErrorTable(t *testing.T) {
	const wwwInvalid = `Bearer error="invalid_token"`
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
		www        string
	}{
		{"auth.ErrInvalidCredentials", auth.ErrInvalidCredentials, 401, "invalid_credentials", "", ""},
		{"auth.ErrInvalidGrant", auth.ErrInvalidGrant, 400, "invalid_grant", "", ""},
		{"auth.ErrForbidden", auth.ErrForbidden, 403, "forbidden", "", ""},
		{"auth.ErrEmailTaken", auth.ErrEmailTaken, 409, "email_taken", "", ""},
		{"auth.ErrInvalidLink", auth.ErrInvalidLink, 400, "invalid_link", "", ""},
		{"auth.ErrMailDisabled", auth.ErrMailDisabled, 404, "mail_disabled", "", ""},
		{"auth.ErrPasswordResetRequired", auth.ErrPasswordResetRequired, 403, "password_reset_required", "", ""},
		{"onetime.ErrMalformed", onetime.ErrMalformed, 400, "invalid_link", "", ""},
		{"auth.RateLimitedError", &auth.RateLimitedError{RetryAfter: 1500 * time.Millisecond}, 429, "rate_limited", "2", ""},
		{"auth.RateLimitedError wrapped, sub-second", fmt.Errorf("login: %w", &auth.RateLimitedError{RetryAfter: time.Millisecond}), 429, "rate_limited", "1", ""},
		{"remote.RateLimitedError", &remote.RateLimitedError{RetryAfter: 2500 * time.Millisecond}, 429, "rate_limited", "3", ""},
		{"remote.ErrNotReady", remote.ErrNotReady, 503, "unavailable", "5", ""},
		{"errVerifierAccessDisabled", errVerifierAccessDisabled, 404, "verifier_access_disabled", "", ""},
		{"errVerifierCredential", errVerifierCredential, 401, "unauthorized", "", `Bearer realm="keygate-verifiers"`},
		{"identity.ErrInvalidEmail", identity.ErrInvalidEmail, 400, "invalid_email", "", ""},
		{"identity.ErrInvalidPassword", identity.ErrInvalidPassword, 400, "invalid_password", "", ""},
		{"identity.ErrInvalidName", identity.ErrInvalidName, 400, "invalid_name", "", ""},
		{"session.ErrInvalidToken", session.ErrInvalidToken, 400, "invalid_grant", "", ""},
		{"session.ErrExpired", session.ErrExpired, 400, "invalid_grant", "", ""},
		{"session.ErrReused", session.ErrReused, 400, "invalid_grant", "", ""},
		{"token.ErrTooLarge", token.ErrTooLarge, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrMalformed", token.ErrMalformed, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrAlgRejected", token.ErrAlgRejected, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrTypRejected", token.ErrTypRejected, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrHeaderRejected", token.ErrHeaderRejected, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrKidMissing", token.ErrKidMissing, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrUnknownKid", token.ErrUnknownKid, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrBadSignature", token.ErrBadSignature, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrClaimsMissing", token.ErrClaimsMissing, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrExpired", token.ErrExpired, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrNotYetValid", token.ErrNotYetValid, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrIssuedInFuture", token.ErrIssuedInFuture, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrTooOld", token.ErrTooOld, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrIssuerMismatch", token.ErrIssuerMismatch, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrAudienceMismatch", token.ErrAudienceMismatch, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrRevoked", token.ErrRevoked, 401, "invalid_token", "", wwwInvalid},
		{"token.ErrKeysUnavailable", token.ErrKeysUnavailable, 503, "unavailable", "5", ""},
		{"token.ErrRevocationUnavailable", token.ErrRevocationUnavailable, 503, "unavailable", "5", ""},
		{"ports.ErrNotFound", ports.ErrNotFound, 404, "not_found", "", ""},
		{"ports.ErrConflict", ports.ErrConflict, 409, "conflict", "", ""},
		{"ports.ErrUnavailable", ports.ErrUnavailable, 503, "unavailable", "5", ""},
		{"overloaded, with a hint (argon2.ShedError)", fmt.Errorf("auth: login: %w", hintedUnavailable(2300*time.Millisecond)), 503, "unavailable", "3", ""},
		{"overloaded, with a sub-second hint", hintedUnavailable(10 * time.Millisecond), 503, "unavailable", "1", ""},
		{"ports.ErrUnavailable wins over a use-case error", fmt.Errorf("%w: %w", auth.ErrInvalidGrant, ports.ErrUnavailable), 503, "unavailable", "5", ""},
		{"use case wins over noun", fmt.Errorf("%w: %w", auth.ErrInvalidGrant, session.ErrReused), 400, "invalid_grant", "", ""},
		{"unsupported media type", errUnsupportedMedia, 415, "unsupported_media_type", "", ""},
		{"body too large", errBodyTooLarge, 413, "body_too_large", "", ""},
		{"bad request", errBadRequest, 400, "invalid_request", "", ""},
		{"route not found", errRouteNotFound, 404, "not_found", "", ""},
		{"method not allowed", errMethodNotAllowed, 405, "method_not_allowed", "", ""},
		{"bearer missing", errMissingToken, 401, "unauthorized", "", "Bearer"},
		{"two Authorization headers", errTwoAuthHeaders, 400, "invalid_request", "", `Bearer error="invalid_request"`},
		{"token refused by the middleware", token.ErrInvalid, 401, "invalid_token", "", wwwInvalid},
		{"token without the role", errMissingRole, 403, "forbidden", "", `Bearer error="insufficient_scope"`},
		{"key.ErrNoSigning, the server's fault", fmt.Errorf("auth: sign: %w", key.ErrNoSigning), 500, "internal", "", ""},
		{"unknown error", errors.New("mysql: dial tcp 10.0.0.7:3306: refused"), 500, "internal", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/x", nil)
			writeError(w, r, log, tt.err)

			if got := w.Code; got != tt.status {
				t.Errorf("status = %d, want %d", got, tt.status)
			}
			if got := w.Header().Get("Content-Type"); got != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", got)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.www {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.www)
			}
			var p problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatalf("body is not a problem document: %v: %s", err, w.Body)
			}
			if diff := cmp.Diff(problem{Type: problemType + tt.code, Status: tt.status, Code: tt.code},
				problem{Type: p.Type, Status: p.Status, Code: p.Code}); diff != "" {
				t.Errorf("problem (-want +got):\n%s", diff)
			}
			if p.Title == "" || p.Detail == "" {
				t.Errorf("problem without title or detail: %+v", p)
			}
			if msg := tt.err.Error(); strings.Contains(msg, ": ") && strings.Contains(w.Body.String(), msg) {
				t.Errorf("body leaks the error text %q: %s", tt.err, w.Body)
			}
			if logged := logs.Len() > 0; logged != (tt.status >= 500) {
				t.Errorf("logged = %v for status %d, want logs for 5xx only", logged, tt.status)
			}
			if tt.status == 500 {
				if p.Instance == "" || !strings.Contains(logs.String(), strings.TrimPrefix(p.Instance, "urn:keygate:error:")) {
					t.Errorf("500 without an error id shared by body and log: body %s, log %s", w.Body, logs.String())
				}
			}
		})
	}
}

package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/keyring"
	"github.com/keygate/keygate/core/onetime"
	"github.com/keygate/keygate/core/remote"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Errors of the HTTP layer itself: the request could not be read as asked.
var (
	errUnsupportedMedia = errors.New("httpapi: unsupported media type")
	errBodyTooLarge     = errors.New("httpapi: request body too large")
	errBadRequest       = errors.New("httpapi: malformed request")
	errRouteNotFound    = errors.New("httpapi: no such route")
	errMethodNotAllowed = errors.New("httpapi: method not allowed")
	errMissingToken     = errors.New("httpapi: bearer token missing")
	errTwoAuthHeaders   = errors.New("httpapi: more than one Authorization header")
	errMissingRole      = errors.New("httpapi: token lacks the role")
)

// retryHinter is an error that knows when to come back (argon2.ShedError: the password
// hasher's queue is too long); its hint, at least a second, is the Retry-After of its 503.
type retryHinter interface {
	error
	RetryAfterHint() time.Duration
}

// unavailableRetryAfter is the Retry-After sent with a 503 whose error gives no hint.
const unavailableRetryAfter = 5 * time.Second

// problemType is the prefix of every problem document's type URI; the stable code follows.
const problemType = "urn:keygate:problem:"

// mapping is one row of the error table: errors matching err get status, code, title, a fixed
// detail (never the error's own text, which may name internals) and, for the bearer-token
// errors of RFC 6750, a WWW-Authenticate challenge.
type mapping struct {
	err    error
	status int
	code   string
	title  string
	detail string
	www    string
}

// Answers shared by several rows.
const (
	unavailableDetail  = "Tokens cannot be verified now; retry later."
	invalidGrantDetail = "The refresh token is invalid, expired or revoked."
	invalidLinkDetail  = "The link is invalid, expired or already used; request a new one."
)

// errorTable is keygate's one error vocabulary: every sentinel error of ports and core, and
// this package's own, with what a client sees for it. Order matters: the first row whose err
// matches (errors.Is) wins, so "cannot answer now" rows come first and an error wrapping both
// a use-case sentinel and a noun sentinel gets the use case's answer. TestErrorTableComplete
// fails when a sentinel has no row or a row maps an error nothing returns.
var errorTable = []mapping{
	{ports.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "Service Unavailable", "A backing store cannot answer now; retry later.", ""},
	{token.ErrKeysUnavailable, http.StatusServiceUnavailable, "unavailable", "Service Unavailable", unavailableDetail, ""},
	{token.ErrRevocationUnavailable, http.StatusServiceUnavailable, "unavailable", "Service Unavailable", unavailableDetail, ""},
	{remote.ErrNotReady, http.StatusServiceUnavailable, "unavailable", "Service Unavailable", "The revocation set is not loaded yet; retry later.", ""},

	{errUnsupportedMedia, http.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported Media Type", "The request body must be application/json.", ""},
	{errBodyTooLarge, http.StatusRequestEntityTooLarge, "body_too_large", "Content Too Large", "The request body is too large.", ""},
	{errBadRequest, http.StatusBadRequest, "invalid_request", "Bad Request", "The request is malformed.", ""},
	{errRouteNotFound, http.StatusNotFound, "not_found", "Not Found", "No such resource.", ""},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed", "Method Not Allowed", "This method is not allowed here.", ""},
	{errMissingToken, http.StatusUnauthorized, "unauthorized", "Unauthorized", "A bearer token is required.", `Bearer`},
	{errTwoAuthHeaders, http.StatusBadRequest, "invalid_request", "Bad Request", "Send exactly one Authorization header.", `Bearer error="invalid_request"`},
	{errMissingRole, http.StatusForbidden, "forbidden", "Forbidden", "You may not do this.", `Bearer error="insufficient_scope"`},
	{errVerifierAccessDisabled, http.StatusNotFound, "verifier_access_disabled", "Not Found", "Verifier access (the revocation feed and introspection) is not enabled on this server (KEYGATE_VERIFIER_TOKENS).", ""},
	{errVerifierCredential, http.StatusUnauthorized, "unauthorized", "Unauthorized", "A verifier credential is required.", verifierRealm},

	{auth.ErrInvalidCredentials, http.StatusUnauthorized, "invalid_credentials", "Unauthorized", "Invalid e-mail or password.", ""},
	{auth.ErrInvalidGrant, http.StatusBadRequest, "invalid_grant", "Bad Request", invalidGrantDetail, ""},
	{auth.ErrForbidden, http.StatusForbidden, "forbidden", "Forbidden", "You may not do this.", ""},
	{auth.ErrEmailTaken, http.StatusConflict, "email_taken", "Conflict", "This e-mail address is already registered.", ""},
	{auth.ErrLastAdmin, http.StatusConflict, "last_admin", "Conflict", "This is the only enabled admin: grant the admin role to another user first.", ""},
	{auth.ErrWrongPassword, http.StatusForbidden, "wrong_password", "Forbidden", "The current password is wrong.", ""},
	{auth.ErrInvalidLink, http.StatusBadRequest, "invalid_link", "Bad Request", invalidLinkDetail, ""},
	{auth.ErrMailDisabled, http.StatusNotFound, "mail_disabled", "Not Found", "This server sends no e-mail (KEYGATE_SMTP_ADDR is not set): password reset and address verification are off.", ""},
	{auth.ErrPasswordResetRequired, http.StatusForbidden, "password_reset_required", "Forbidden", "An administrator requires a new password: use the link mailed to you, or request a new one with POST /password/reset.", ""},
	{onetime.ErrMalformed, http.StatusBadRequest, "invalid_link", "Bad Request", invalidLinkDetail, ""},

	{identity.ErrInvalidEmail, http.StatusBadRequest, "invalid_email", "Bad Request", "The e-mail address is not valid.", ""},
	{identity.ErrInvalidPassword, http.StatusBadRequest, "invalid_password", "Bad Request", "The password must be 8 to 128 characters.", ""},
	{identity.ErrInvalidName, http.StatusBadRequest, "invalid_name", "Bad Request", "The name must be at most 100 characters, without control characters.", ""},
	{identity.ErrInvalidRole, http.StatusBadRequest, "invalid_role", "Bad Request", "A role is 1 to 64 characters: a lower-case letter, then lower-case letters, digits, '_', '-', '.' or ':'.", ""},

	{session.ErrInvalidToken, http.StatusBadRequest, "invalid_grant", "Bad Request", invalidGrantDetail, ""},
	{session.ErrExpired, http.StatusBadRequest, "invalid_grant", "Bad Request", invalidGrantDetail, ""},
	{session.ErrReused, http.StatusBadRequest, "invalid_grant", "Bad Request", invalidGrantDetail, ""},

	// Every token refusal (token.ErrExpired, token.ErrBadSignature, ...) matches
	// token.ErrInvalid: 401, never saying which check failed.
	{token.ErrInvalid, http.StatusUnauthorized, "invalid_token", "Unauthorized", "The access token is not acceptable.", `Bearer error="invalid_token"`},

	{ports.ErrNotFound, http.StatusNotFound, "not_found", "Not Found", "No such resource.", ""},
	{ports.ErrConflict, http.StatusConflict, "conflict", "Conflict", "The request conflicts with the current state.", ""},

	// Errors of configuration and of the server's own state: a client never caused them, so
	// they are answered as any unknown error, an opaque 500 that is logged with an error id.
	internal(auth.ErrInvalidConfig),
	internal(keyring.ErrInvalidConfig),
	internal(key.ErrSealed),
	internal(key.ErrBadKEK),
	internal(key.ErrOpen),
	internal(key.ErrNoSigning),
	internal(revocation.ErrInvalid),
	internal(session.ErrWeakSecret),
}

// internal is the row of an error that is the server's fault: answered as an unknown error.
func internal(err error) mapping {
	return mapping{err: err, status: http.StatusInternalServerError, code: "internal", title: "Internal Server Error"}
}

// problem is an RFC 9457 problem document with keygate's stable code.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Code     string `json:"code"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// classify returns the answer for err. A *auth.RateLimitedError becomes 429 with its delay;
// an error no row matches becomes an opaque 500 (ok false).
func classify(err error) (m mapping, retryAfter time.Duration, ok bool) {
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			if row.status == http.StatusInternalServerError {
				break // the server's fault: the same answer as an unknown error
			}
			if row.status == http.StatusServiceUnavailable {
				retryAfter = unavailableRetryAfter
				// An overloaded adapter (the password hasher's queue) says when to come back.
				if h, ok := errors.AsType[retryHinter](err); ok {
					retryAfter = max(h.RetryAfterHint(), time.Second)
				}
			}
			return row, retryAfter, true
		}
	}
	if rl, isRL := errors.AsType[*auth.RateLimitedError](err); isRL {
		return mapping{status: http.StatusTooManyRequests, code: "rate_limited", title: "Too Many Requests",
			detail: "Too many attempts; retry later."}, max(rl.RetryAfter, time.Second), true
	}
	if rl, isRL := errors.AsType[*remote.RateLimitedError](err); isRL {
		return mapping{status: http.StatusTooManyRequests, code: "rate_limited", title: "Too Many Requests",
			detail: "Too many requests; retry later."}, max(rl.RetryAfter, time.Second), true
	}
	return internal(nil), 0, false
}

// writeError answers err as a problem document. Only 5xx are logged, with the request id and,
// for unknown errors, an opaque error id that the response repeats so support can find it.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	m, retryAfter, known := classify(err)
	p := problem{Type: problemType + m.code, Title: m.title, Status: m.status, Code: m.code, Detail: m.detail}
	if ie, ok := errors.AsType[*invalidError](err); ok {
		p.Detail = ie.detail
	}
	if !known {
		id := newErrorID()
		p.Detail = "An internal error occurred; quote error id " + id + "."
		p.Instance = "urn:keygate:error:" + id
		logger(log).LogAttrs(r.Context(), slog.LevelError, "httpapi: internal error",
			slog.String("request_id", RequestID(r.Context())), slog.String("error_id", id),
			slog.String("method", r.Method), slog.String("route", r.URL.Path), slog.Any("err", err))
	} else if m.status >= 500 {
		logger(log).LogAttrs(r.Context(), slog.LevelWarn, "httpapi: unavailable",
			slog.String("request_id", RequestID(r.Context())), slog.String("method", r.Method),
			slog.String("route", r.URL.Path), slog.Any("err", err))
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	if m.www != "" {
		w.Header().Set("WWW-Authenticate", m.www)
	}
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p problem) {
	body, _ := json.Marshal(p) // a problem always marshals
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

func newErrorID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

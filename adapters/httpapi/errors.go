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
	errInvalidToken     = errors.New("httpapi: invalid token")
)

// unavailableRetryAfter is the Retry-After sent with a 503.
const unavailableRetryAfter = 5 * time.Second

// problemType is the prefix of every problem document's type URI; the stable code follows.
const problemType = "urn:keygate:problem:"

// mapping is one row of the error table: errors matching err get status, code, title and a
// fixed detail (never the error's own text, which may name internals).
type mapping struct {
	err    error
	status int
	code   string
	title  string
	detail string
}

// errorTable maps every error the core and ports return to an HTTP answer. Order matters: the
// first row whose err matches (errors.Is) wins, so "cannot answer now" rows come first and an
// error wrapping both a use-case sentinel and a noun sentinel gets the use case's answer.
var errorTable = []mapping{
	{ports.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "Service Unavailable", "A backing store cannot answer now; retry later."},
	{token.ErrKeysUnavailable, http.StatusServiceUnavailable, "unavailable", "Service Unavailable", "Tokens cannot be verified now; retry later."},
	{token.ErrRevocationUnavailable, http.StatusServiceUnavailable, "unavailable", "Service Unavailable", "Tokens cannot be verified now; retry later."},

	{errUnsupportedMedia, http.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported Media Type", "The request body must be application/json."},
	{errBodyTooLarge, http.StatusRequestEntityTooLarge, "body_too_large", "Content Too Large", "The request body is too large."},
	{errBadRequest, http.StatusBadRequest, "invalid_request", "Bad Request", "The request is malformed."},
	{errRouteNotFound, http.StatusNotFound, "not_found", "Not Found", "No such resource."},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed", "Method Not Allowed", "This method is not allowed here."},
	{errMissingToken, http.StatusUnauthorized, "unauthorized", "Unauthorized", "A bearer token is required."},
	{errTwoAuthHeaders, http.StatusBadRequest, "invalid_request", "Bad Request", "Send exactly one Authorization header."},

	{auth.ErrInvalidCredentials, http.StatusUnauthorized, "invalid_credentials", "Unauthorized", "Invalid e-mail or password."},
	{auth.ErrInvalidGrant, http.StatusBadRequest, "invalid_grant", "Bad Request", "The refresh token is invalid, expired or revoked."},
	{auth.ErrForbidden, http.StatusForbidden, "forbidden", "Forbidden", "You may not do this."},
	{auth.ErrEmailTaken, http.StatusConflict, "email_taken", "Conflict", "This e-mail address is already registered."},

	{identity.ErrInvalidEmail, http.StatusBadRequest, "invalid_email", "Bad Request", "The e-mail address is not valid."},
	{identity.ErrInvalidPassword, http.StatusBadRequest, "invalid_password", "Bad Request", "The password must be 8 to 128 characters."},
	{identity.ErrInvalidName, http.StatusBadRequest, "invalid_name", "Bad Request", "The name must be at most 100 characters, without control characters."},

	{session.ErrInvalidToken, http.StatusBadRequest, "invalid_grant", "Bad Request", "The refresh token is invalid, expired or revoked."},
	{session.ErrExpired, http.StatusBadRequest, "invalid_grant", "Bad Request", "The refresh token is invalid, expired or revoked."},
	{session.ErrReused, http.StatusBadRequest, "invalid_grant", "Bad Request", "The refresh token is invalid, expired or revoked."},

	{errInvalidToken, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	// Every other token reason is a bad token: 401, never saying which check failed.
	{token.ErrTooLarge, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrMalformed, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrAlgRejected, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrTypRejected, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrHeaderRejected, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrKidMissing, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrUnknownKid, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrBadSignature, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrClaimsMissing, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrExpired, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrNotYetValid, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrIssuedInFuture, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrTooOld, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrIssuerMismatch, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrAudienceMismatch, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},
	{token.ErrRevoked, http.StatusUnauthorized, "invalid_token", "Unauthorized", invalidTokenDetail},

	{ports.ErrNotFound, http.StatusNotFound, "not_found", "Not Found", "No such resource."},
	{ports.ErrConflict, http.StatusConflict, "conflict", "Conflict", "The request conflicts with the current state."},
	{ports.ErrAlreadyUsed, http.StatusConflict, "already_used", "Conflict", "This was used already."},
}

const invalidTokenDetail = "The access token is not acceptable."

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
			if row.status == http.StatusServiceUnavailable {
				retryAfter = unavailableRetryAfter
			}
			return row, retryAfter, true
		}
	}
	if rl, isRL := errors.AsType[*auth.RateLimitedError](err); isRL {
		return mapping{status: http.StatusTooManyRequests, code: "rate_limited", title: "Too Many Requests",
			detail: "Too many attempts; retry later."}, max(rl.RetryAfter, time.Second), true
	}
	return mapping{status: http.StatusInternalServerError, code: "internal", title: "Internal Server Error"}, 0, false
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
	switch {
	case m.code == "invalid_token":
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	case errors.Is(err, errMissingToken):
		w.Header().Set("WWW-Authenticate", `Bearer`)
	case errors.Is(err, errTwoAuthHeaders):
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_request"`)
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

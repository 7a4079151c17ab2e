package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
)

// AuthService is what the auth service's router drives: the use cases of core/auth, and the
// JWKS of the signing-key ring (core/keyring); authd joins the two.
type AuthService interface {
	Register(ctx context.Context, email, password, name string, c auth.Client) (identity.User, error)
	Login(ctx context.Context, email, password string, c auth.Client) (auth.TokenPair, error)
	Refresh(ctx context.Context, rt session.RefreshToken, c auth.Client) (auth.TokenPair, error)
	Logout(ctx context.Context, p token.Claims, c auth.Client) error
	LogoutAll(ctx context.Context, p token.Claims, c auth.Client) error
	ChangePassword(ctx context.Context, p token.Claims, current, next string, c auth.Client) (auth.TokenPair, error)
	Revoke(ctx context.Context, raw, hint string, c auth.Client) error
	Me(ctx context.Context, p token.Claims) (identity.User, error)
	Sessions(ctx context.Context, p token.Claims) ([]session.Session, error)
	RevokeSession(ctx context.Context, p token.Claims, sid string, c auth.Client) error
	ListUsers(ctx context.Context, p token.Claims, after string, limit int) ([]identity.User, error)
	DisableUser(ctx context.Context, p token.Claims, userID string, c auth.Client) error
	RevokeUser(ctx context.Context, p token.Claims, userID string, c auth.Client) error
	EnableUser(ctx context.Context, p token.Claims, userID string, c auth.Client) error
	GrantRole(ctx context.Context, p token.Claims, userID, role string, c auth.Client) error
	RevokeRole(ctx context.Context, p token.Claims, userID, role string, c auth.Client) error
	AuditOf(ctx context.Context, p token.Claims, userID string, limit int) ([]audit.Event, error)
	Registration() auth.RegistrationMode
	RequestPasswordReset(ctx context.Context, email string, c auth.Client) error
	ResetPassword(ctx context.Context, secret, newPassword string, c auth.Client) error
	VerifyEmail(ctx context.Context, secret string, c auth.Client) error
	ResendVerification(ctx context.Context, p token.Claims, c auth.Client) error
	ForcePasswordReset(ctx context.Context, p token.Claims, userID string, c auth.Client) error
	JWKS(ctx context.Context) (doc []byte, etag string, err error)
}

// Config configures the auth service's router.
type Config struct {
	Discovery      []byte                            // the metadata document (jose.Discovery), served at both well-known paths; nil: not served
	JWKSMaxAge     time.Duration                     // Cache-Control max-age of the JWKS and discovery documents; default 5m
	TrustedProxies []netip.Prefix                    // peers whose X-Forwarded-For is believed (see ClientAddr)
	Logger         *slog.Logger                      // 5xx answers are logged here; nil: not logged
	Checks         []Check                           // run by /ready, which answers only ready or not (Ready)
	Middleware     []func(http.Handler) http.Handler // run after the request id, e.g. HTTP metrics

	// Verifier access: GET /revocations/feed streams Relay and POST /introspect asks
	// Introspector (each route only when its field is set), for callers presenting one of
	// Verifiers' credentials; with Verifiers nil both answer 404 verifier_access_disabled.
	Verifiers    *VerifierAccess
	Relay        Relay
	Introspector Introspector
}

type router struct {
	svc AuthService
	cfg Config
	log *slog.Logger
}

// NewAuthRouter returns the auth service's HTTP API (docs/architecture.md), served at its root: the
// account and token endpoints, the Bearer-protected self-service and admin endpoints (v
// authenticates the bearer), the JWKS and discovery documents, its OpenAPI description
// (/openapi.json, OpenAPI), /health and the terse /ready. Metrics and the detailed readiness
// report are the admin listener's (NewAdminRouter).
func NewAuthRouter(svc AuthService, v Verifier, cfg Config) http.Handler {
	if cfg.JWKSMaxAge <= 0 {
		cfg.JWKSMaxAge = 5 * time.Minute
	}
	rt := &router{svc: svc, cfg: cfg, log: logger(cfg.Logger)}
	r := NewRouter(cfg.Logger, cfg.Checks, cfg.Middleware...)

	r.Get("/openapi.json", ServeOpenAPI(authdOpenAPI))
	r.Get("/.well-known/jwks.json", rt.jwks)
	if cfg.Discovery != nil {
		r.Get("/.well-known/openid-configuration", rt.discovery())
		r.Get("/.well-known/oauth-authorization-server", rt.discovery()) // RFC 8414
	}
	if cfg.Relay != nil {
		r.Get("/revocations/feed", rt.revocationFeed)
	}
	if cfg.Introspector != nil {
		r.Post("/introspect", rt.introspect)
	}

	r.Post("/register", rt.register)
	r.Post("/login", rt.login)
	r.Post("/refresh", rt.refresh)
	r.Post("/revoke", rt.revoke)
	r.Post("/password/reset", rt.requestReset)
	r.Post("/password/reset/confirm", rt.confirmReset)
	r.Post("/email/verify", rt.verifyEmail)

	r.Group(func(r chi.Router) {
		r.Use(RequireToken(v, WithLogger(cfg.Logger)))
		r.Post("/logout", rt.logout)
		r.Post("/logout/all", rt.logoutAll)
		r.Post("/password", rt.changePassword)
		r.Get("/me", rt.me)
		r.Get("/sessions", rt.sessions)
		r.Delete("/sessions/{sid}", rt.revokeSession)
		r.Post("/email/verify/resend", rt.resendVerification)
		r.Route("/admin", func(r chi.Router) {
			r.Use(RequireRole(identity.RoleAdmin))
			r.Get("/users", rt.listUsers)
			r.Post("/users/{id}/disable", rt.disableUser)
			r.Post("/users/{id}/revoke", rt.revokeUser)
			r.Post("/users/{id}/enable", rt.enableUser)
			r.Put("/users/{id}/roles/{role}", rt.grantRole)
			r.Delete("/users/{id}/roles/{role}", rt.revokeRole)
			r.Post("/users/{id}/reset-password", rt.forceReset)
			r.Get("/users/{id}/audit", rt.auditOf)
		})
	})
	return r
}

// NewRouter returns a chi router with what every keygate service shares on its public port:
// request ids, an access log line per request carrying the request id, panic recovery,
// security headers, HEAD answered by every GET route (RFC 9110 section 9.3.2), then mw (HTTP
// metrics, say), problem+json answers (405 with Allow) for unknown routes and methods,
// /health, and /ready running checks but answering only ready or not (Ready). It serves no
// /metrics and no per-check detail: those are NewAdminRouter's. Services add their own
// routes to it.
func NewRouter(log *slog.Logger, checks []Check, mw ...func(http.Handler) http.Handler) chi.Router {
	r := baseRouter(log, mw...)
	r.Get("/health", Health)
	r.Get("/ready", Ready(checks))
	return r
}

// NewAdminRouter returns the router of a service's admin listener (KEYGATE_ADMIN_ADDR), which
// must not be reachable from the public network: /health, /ready with each check's status
// and error (ReadyReport), and /metrics serving metrics (404 when nil). It shares
// NewRouter's request ids, access log, recovery, security headers and problem+json answers;
// scrapes are not counted in the HTTP metrics.
func NewAdminRouter(log *slog.Logger, metrics http.Handler, checks []Check) chi.Router {
	r := baseRouter(log)
	r.Get("/health", Health)
	r.Get("/ready", ReadyReport(checks))
	if metrics != nil {
		r.Method(http.MethodGet, "/metrics", metrics)
	}
	return r
}

// baseRouter is the middleware and the problem+json answers NewRouter and NewAdminRouter
// share, then mw.
func baseRouter(log *slog.Logger, mw ...func(http.Handler) http.Handler) chi.Router {
	r := chi.NewRouter()
	r.Use(WithRequestID, accessLog(log), recoverer(log), securityHeaders, middleware.GetHead)
	r.Use(mw...)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { writeError(w, r, log, errRouteNotFound) })
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		allow(w, r, req)
		writeError(w, req, log, errMethodNotAllowed)
	})
	return r
}

// allow sets the Allow header of a 405 answer (RFC 9110 section 15.5.6: it must list the
// methods the target supports), asking mux which methods req's path has routes for.
func allow(w http.ResponseWriter, mux chi.Routes, req *http.Request) {
	path := req.URL.RawPath
	if path == "" {
		path = req.URL.Path
	}
	var ms []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete} {
		if mux.Match(chi.NewRouteContext(), m, path) {
			ms = append(ms, m)
			if m == http.MethodGet {
				ms = append(ms, http.MethodHead) // every GET route answers HEAD (middleware.GetHead)
			}
		}
	}
	if len(ms) > 0 {
		w.Header().Set("Allow", strings.Join(ms, ", "))
	}
}

func (rt *router) client(r *http.Request) auth.Client {
	ua := r.UserAgent()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	return auth.Client{IP: ClientAddr(r, rt.cfg.TrustedProxies), UserAgent: ua}
}

func (rt *router) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, rt.log, err)
}

// claims returns the caller's claims; RequireToken guarantees them on the routes that ask.
func claims(r *http.Request) token.Claims {
	c, _ := Claims(r.Context())
	return c
}

// Request bodies.
type (
	registerRequest struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	loginRequest struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	refreshRequest struct {
		RefreshToken string `json:"refresh_token"`
	}
	changePasswordRequest struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	resetRequest struct {
		Email string `json:"email"`
	}
	confirmResetRequest struct {
		Token       string `json:"token"`
		NewPassword string `json:"new_password"`
	}
	verifyRequest struct {
		Token string `json:"token"`
	}
)

// acceptedJSON is the one answer of a request whose outcome the caller must not learn (does
// an account have this address?): 202 with a fixed body per endpoint.
type acceptedJSON struct {
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// The fixed 202 bodies.
var (
	registerAccepted = acceptedJSON{Status: "accepted", Detail: "Check your mailbox: a message to this address tells you how to continue."}
	resetAccepted    = acceptedJSON{Status: "accepted", Detail: "If an account has this address, a password-reset link is on its way to it."}
	resendAccepted   = acceptedJSON{Status: "accepted", Detail: "Unless your address is verified already, a new verification link is on its way to it."}
)

// Response bodies.
type (
	userJSON struct {
		ID        string    `json:"id"`
		Email     string    `json:"email"`
		Name      string    `json:"name,omitempty"`
		Roles     []string  `json:"roles"`
		Disabled  bool      `json:"disabled"`
		Verified  bool      `json:"email_verified"`
		CreatedAt time.Time `json:"created_at"`
	}
	tokenJSON struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope,omitempty"`
	}
	sessionJSON struct {
		ID         string    `json:"id"`
		ClientID   string    `json:"client_id,omitempty"`
		CreatedAt  time.Time `json:"created_at"`
		LastUsedAt time.Time `json:"last_used_at"`
		ExpiresAt  time.Time `json:"expires_at"`
		UserAgent  string    `json:"user_agent,omitempty"`
		RemoteIP   string    `json:"remote_ip,omitempty"`
		Current    bool      `json:"current"`
	}
	eventJSON struct {
		ID       int64     `json:"id"`
		At       time.Time `json:"at"`
		Action   string    `json:"action"`
		UserID   string    `json:"user_id,omitempty"`
		ActorID  string    `json:"actor_id,omitempty"`
		RemoteIP string    `json:"remote_ip,omitempty"`
		Detail   string    `json:"detail,omitempty"`
	}
)

func toUserJSON(u identity.User) userJSON {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Roles: roles, Disabled: u.Disabled, Verified: u.EmailVerified,
		CreatedAt: u.CreatedAt.UTC()}
}

func (rt *router) register(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if err := DecodeJSON(w, r, &req); err != nil {
		rt.fail(w, r, err)
		return
	}
	u, err := rt.svc.Register(r.Context(), req.Email, req.Password, req.Name, rt.client(r))
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	if rt.svc.Registration() == auth.RegisterVerify {
		// The same answer for a new and a taken address: the mailbox says which it was.
		WriteJSON(w, http.StatusAccepted, registerAccepted)
		return
	}
	WriteJSON(w, http.StatusCreated, toUserJSON(u))
}

// requestReset answers 202 with one body whether or not an account has the address.
func (rt *router) requestReset(w http.ResponseWriter, r *http.Request) {
	var req resetRequest
	if err := DecodeJSON(w, r, &req); err != nil {
		rt.fail(w, r, err)
		return
	}
	if err := rt.svc.RequestPasswordReset(r.Context(), req.Email, rt.client(r)); err != nil {
		rt.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusAccepted, resetAccepted)
}

func (rt *router) confirmReset(w http.ResponseWriter, r *http.Request) {
	var req confirmResetRequest
	if err := DecodeJSON(w, r, &req); err != nil {
		rt.fail(w, r, err)
		return
	}
	if req.Token == "" {
		rt.fail(w, r, fmt.Errorf("%w: token missing", errBadRequest))
		return
	}
	if err := rt.svc.ResetPassword(r.Context(), req.Token, req.NewPassword, rt.client(r)); err != nil {
		rt.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rt *router) verifyEmail(w http.ResponseWriter, r *http.Request) {
	var req verifyRequest
	if err := DecodeJSON(w, r, &req); err != nil {
		rt.fail(w, r, err)
		return
	}
	if req.Token == "" {
		rt.fail(w, r, fmt.Errorf("%w: token missing", errBadRequest))
		return
	}
	if err := rt.svc.VerifyEmail(r.Context(), req.Token, rt.client(r)); err != nil {
		rt.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rt *router) resendVerification(w http.ResponseWriter, r *http.Request) {
	if err := rt.svc.ResendVerification(r.Context(), claims(r), rt.client(r)); err != nil {
		rt.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusAccepted, resendAccepted)
}

func (rt *router) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := DecodeJSON(w, r, &req); err != nil {
		rt.fail(w, r, err)
		return
	}
	p, err := rt.svc.Login(r.Context(), req.Email, req.Password, rt.client(r))
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	writeTokens(w, p)
}

func (rt *router) refresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if err := DecodeJSON(w, r, &req); err != nil {
		rt.fail(w, r, err)
		return
	}
	if req.RefreshToken == "" {
		rt.fail(w, r, fmt.Errorf("%w: refresh_token missing", errBadRequest))
		return
	}
	p, err := rt.svc.Refresh(r.Context(), session.RefreshToken(req.RefreshToken), rt.client(r))
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	writeTokens(w, p)
}

// writeTokens answers a token pair, never cacheable (RFC 6749 section 5.1).
func writeTokens(w http.ResponseWriter, p auth.TokenPair) {
	w.Header().Set("Pragma", "no-cache")
	WriteJSON(w, http.StatusOK, tokenJSON{AccessToken: p.AccessToken, TokenType: "Bearer",
		ExpiresIn: int64(p.ExpiresIn.Round(time.Second) / time.Second), RefreshToken: string(p.RefreshToken), Scope: p.Scope})
}

// revoke is RFC 7009: a form with token and an optional token_type_hint; 200 whether or not
// the token was known, 503 when the revocation could not be stored.
func (rt *router) revoke(w http.ResponseWriter, r *http.Request) {
	form, raw, err := parseTokenForm(w, r)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	if err := rt.svc.Revoke(r.Context(), raw, form.Get("token_type_hint"), rt.client(r)); err != nil {
		rt.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (rt *router) logout(w http.ResponseWriter, r *http.Request) {
	if err := rt.svc.Logout(r.Context(), claims(r), rt.client(r)); err != nil {
		rt.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rt *router) logoutAll(w http.ResponseWriter, r *http.Request) {
	if err := rt.svc.LogoutAll(r.Context(), claims(r), rt.client(r)); err != nil {
		rt.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// changePassword answers 200 with a new access token for the caller's session (every other
// session is revoked, and every access token issued before, the caller's included), or 204
// when the caller's session is gone: log in again with the new password.
func (rt *router) changePassword(w http.ResponseWriter, r *http.Request) {
	var req changePasswordRequest
	if err := DecodeJSON(w, r, &req); err != nil {
		rt.fail(w, r, err)
		return
	}
	p, err := rt.svc.ChangePassword(r.Context(), claims(r), req.CurrentPassword, req.NewPassword, rt.client(r))
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	if p.AccessToken == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeTokens(w, p)
}

func (rt *router) me(w http.ResponseWriter, r *http.Request) {
	u, err := rt.svc.Me(r.Context(), claims(r))
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toUserJSON(u))
}

func (rt *router) sessions(w http.ResponseWriter, r *http.Request) {
	c := claims(r)
	ss, err := rt.svc.Sessions(r.Context(), c)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	out := make([]sessionJSON, 0, len(ss))
	for _, s := range ss {
		out = append(out, sessionJSON{ID: s.ID, ClientID: s.ClientID, CreatedAt: s.CreatedAt.UTC(),
			LastUsedAt: s.LastUsedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(), UserAgent: s.UserAgent,
			RemoteIP: s.RemoteIP, Current: s.ID == c.SessionID})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (rt *router) revokeSession(w http.ResponseWriter, r *http.Request) {
	sid, ok := pathID(r, "sid")
	if !ok {
		rt.fail(w, r, errRouteNotFound)
		return
	}
	if err := rt.svc.RevokeSession(r.Context(), claims(r), sid, rt.client(r)); err != nil {
		rt.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rt *router) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after := q.Get("after")
	limit, err := pageLimit(q.Get("limit"))
	if err != nil || len(after) > 128 {
		rt.fail(w, r, fmt.Errorf("%w: after or limit", errBadRequest))
		return
	}
	us, err := rt.svc.ListUsers(r.Context(), claims(r), after, limit)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, toUserJSON(u))
	}
	body := map[string]any{"users": out}
	if len(us) == limit {
		body["next"] = us[len(us)-1].ID
	}
	WriteJSON(w, http.StatusOK, body)
}

func (rt *router) disableUser(w http.ResponseWriter, r *http.Request) {
	rt.adminAction(w, r, rt.svc.DisableUser)
}

func (rt *router) revokeUser(w http.ResponseWriter, r *http.Request) {
	rt.adminAction(w, r, rt.svc.RevokeUser)
}

func (rt *router) enableUser(w http.ResponseWriter, r *http.Request) {
	rt.adminAction(w, r, rt.svc.EnableUser)
}

func (rt *router) grantRole(w http.ResponseWriter, r *http.Request) {
	rt.roleAction(w, r, rt.svc.GrantRole)
}

// revokeRole takes the role away at once: the user's earlier tokens are revoked everywhere
// (the answer comes once verifiers refuse them), their sessions stay.
func (rt *router) revokeRole(w http.ResponseWriter, r *http.Request) {
	rt.roleAction(w, r, rt.svc.RevokeRole)
}

func (rt *router) roleAction(w http.ResponseWriter, r *http.Request,
	do func(context.Context, token.Claims, string, string, auth.Client) error) {
	id, ok := pathID(r, "id")
	role, ok2 := pathID(r, "role")
	if !ok || !ok2 {
		rt.fail(w, r, errRouteNotFound)
		return
	}
	if err := do(r.Context(), claims(r), id, role, rt.client(r)); err != nil {
		rt.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rt *router) forceReset(w http.ResponseWriter, r *http.Request) {
	rt.adminAction(w, r, rt.svc.ForcePasswordReset)
}

func (rt *router) adminAction(w http.ResponseWriter, r *http.Request,
	do func(context.Context, token.Claims, string, auth.Client) error) {
	id, ok := pathID(r, "id")
	if !ok {
		rt.fail(w, r, errRouteNotFound)
		return
	}
	if err := do(r.Context(), claims(r), id, rt.client(r)); err != nil {
		rt.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rt *router) auditOf(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		rt.fail(w, r, errRouteNotFound)
		return
	}
	limit, err := pageLimit(r.URL.Query().Get("limit"))
	if err != nil {
		rt.fail(w, r, fmt.Errorf("%w: limit", errBadRequest))
		return
	}
	evs, err := rt.svc.AuditOf(r.Context(), claims(r), id, limit)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	out := make([]eventJSON, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventJSON{ID: e.ID, At: e.At.UTC(), Action: string(e.Action), UserID: e.UserID,
			ActorID: e.ActorID, RemoteIP: e.RemoteIP, Detail: e.Detail})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"events": out})
}

func pathID(r *http.Request, name string) (string, bool) {
	id := chi.URLParam(r, name)
	return id, id != "" && len(id) <= 128
}

func pageLimit(s string) (int, error) {
	if s == "" {
		return auth.DefaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > auth.MaxPageSize {
		return 0, fmt.Errorf("limit must be 1 to %d", auth.MaxPageSize)
	}
	return n, nil
}

// jwks serves the public keys with Cache-Control max-age and stale-if-error (RFC 5861), an
// ETag, and 304 for a matching If-None-Match.
func (rt *router) jwks(w http.ResponseWriter, r *http.Request) {
	doc, etag, err := rt.svc.JWKS(r.Context())
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	if etag == "" {
		etag = contentETag(doc)
	}
	etag = quoteETag(etag)
	h := w.Header()
	h.Set("Cache-Control", rt.publicCache())
	h.Set("ETag", etag)
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/jwk-set+json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}

func (rt *router) publicCache() string {
	return fmt.Sprintf("public, max-age=%d, stale-if-error=86400", int(rt.cfg.JWKSMaxAge/time.Second))
}

// discovery serves the issuer's metadata document (cfg.Discovery) with the JWKS's cache
// lifetime and an ETag.
func (rt *router) discovery() http.HandlerFunc {
	doc := rt.cfg.Discovery
	etag := contentETag(doc)
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", rt.publicCache())
		h.Set("ETag", etag)
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}
}

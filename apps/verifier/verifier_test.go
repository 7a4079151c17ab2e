package verifier_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/adapters/system"
	"github.com/keygate/keygate/apps/verifier"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/test/apptest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serve runs v's middleware in front of a handler that answers 200 with the caller's subject.
func serve(t *testing.T, v *verifier.Verifier) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/api/", v.RequireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.Claims(r.Context())
		_, _ = io.WriteString(w, c.Subject)
	})))
	mux.Handle("/ready", v.Ready())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url, bearer string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestRedisUnreachableFromTheStartRefusesEveryToken: a verifier whose Redis is down from the
// start has keys but has never loaded the revocation set; it cannot know that a token was
// revoked, so it answers 503 with Retry-After to a revoked token and to a valid one alike,
// for as long as Redis stays away, and /ready says 503.
func TestRedisUnreachableFromTheStartRefusesEveryToken(t *testing.T) {
	authd := apptest.NewIssuer(false)
	defer authd.Close()
	v, err := verifier.NewFromEnv(apptest.Getenv(map[string]string{
		"KEYGATE_ISSUER": authd.URL, "REDIS_ADDR": apptest.ClosedAddr(t),
	}), "billing")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	srv := serve(t, v)
	// Revoked in authd's Redis before this verifier started, which it cannot reach.
	revoked, valid := authd.Sign("mallory", "sid-logged-out", "billing"), authd.Sign("alice", "sid-live", "billing")
	deadline := time.Now().Add(1500 * time.Millisecond)
	n := 0
	for ; time.Now().Before(deadline); n++ {
		for name, tok := range map[string]string{"revoked": revoked, "valid": valid} {
			resp := get(t, srv.URL+"/api/x", tok)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("%s token with Redis unreachable from the start: %d (Retry-After %q), want 503 with Retry-After",
					name, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp := get(t, srv.URL+"/ready", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/ready = %d, want 503 before the revocation set was ever loaded", resp.StatusCode)
	}
	if n < 10 {
		t.Errorf("only %d rounds of requests in 1.5s", n)
	}
}

// flakyStore is a revocation store that answers ErrUnavailable until up is set.
type flakyStore struct {
	ports.RevocationStore
	up atomic.Bool
}

func (s *flakyStore) Snapshot(ctx context.Context) (revocation.Snapshot, error) {
	if !s.up.Load() {
		return revocation.Snapshot{}, ports.ErrUnavailable
	}
	return s.RevocationStore.Snapshot(ctx)
}

// TestFirstLoadDecides: once the store answers, the first snapshot decides: the token
// revoked while the verifier was blind is 401 and the valid one 200.
func TestFirstLoadDecides(t *testing.T) {
	authd := apptest.NewIssuer(false)
	defer authd.Close()
	clock := system.Clock{}
	store := &flakyStore{RevocationStore: memory.NewRevocationStore(clock, nil)}
	if _, err := store.Revoke(t.Context(), revocation.Entry{Kind: revocation.KindSession, Key: "sid-logged-out",
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cfg, err := verifier.FromEnv(apptest.Getenv(map[string]string{"KEYGATE_ISSUER": authd.URL, "KEYGATE_DEV": "1"}), "billing")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Revocations, cfg.Events, cfg.Log = store, memory.NewEventBus(memory.EventBusConfig{}), quiet()
	v, err := verifier.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	srv := serve(t, v)
	revoked, valid := authd.Sign("mallory", "sid-logged-out", "billing"), authd.Sign("alice", "sid-live", "billing")
	for _, tok := range []string{revoked, valid} {
		if st := get(t, srv.URL+"/api/x", tok).StatusCode; st != http.StatusServiceUnavailable {
			t.Fatalf("before the first load: %d, want 503", st)
		}
	}
	store.up.Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := v.WaitLoaded(ctx); err != nil {
		t.Fatalf("never loaded: %v", err)
	}
	if st := get(t, srv.URL+"/api/x", revoked).StatusCode; st != http.StatusUnauthorized {
		t.Errorf("revoked token after the first load: %d, want 401", st)
	}
	if st := get(t, srv.URL+"/api/x", valid).StatusCode; st != http.StatusOK {
		t.Errorf("valid token after the first load: %d, want 200", st)
	}
}

// TestFollowsRevocations: a revocation published after the start is refused at once.
func TestFollowsRevocations(t *testing.T) {
	authd := apptest.NewIssuer(false)
	defer authd.Close()
	clock := system.Clock{}
	store, bus := memory.NewRevocationStore(clock, nil), memory.NewEventBus(memory.EventBusConfig{})
	v, err := verifier.New(verifier.Config{Guard: guardConfig(authd.URL), Revocations: store, Events: bus, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	srv := serve(t, v)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := v.WaitLoaded(ctx); err != nil {
		t.Fatal(err)
	}
	tok := authd.Sign("alice", "sid-1", "billing")
	if st := get(t, srv.URL+"/api/x", tok).StatusCode; st != http.StatusOK {
		t.Fatalf("before logout: %d", st)
	}
	e := revocation.Entry{Kind: revocation.KindSession, Key: "sid-1", ExpiresAt: time.Now().Add(time.Hour)}
	seq, err := store.Revoke(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(ctx, revocation.Event{Kind: revocation.EventRevoked, Entry: e, Seq: seq, PublishedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); get(t, srv.URL+"/api/x", tok).StatusCode != http.StatusUnauthorized; {
		if time.Now().After(deadline) {
			t.Fatal("logged-out token still accepted after 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var metrics strings.Builder
	rec := httptest.NewRecorder()
	v.Metrics().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metrics.WriteString(rec.Body.String())
	for _, want := range []string{`keygate_token_validations_total{result="revoked"} 1`, `keygate_revocation_entries`} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestNewRefusesNoFeedWithoutDev(t *testing.T) {
	_, err := verifier.New(verifier.Config{Guard: guardConfig("https://auth.example.com")})
	if err == nil || !strings.Contains(err.Error(), "REDIS_ADDR") {
		t.Errorf("New without a feed = %v, want a refusal naming REDIS_ADDR", err)
	}
}

func TestFromEnv(t *testing.T) {
	c, err := verifier.FromEnv(apptest.Getenv(map[string]string{
		"KEYGATE_ISSUER": "https://auth.example.com", "KEYGATE_AUDIENCE": "billing, invoices",
		"REDIS_ADDR": "r1:6379", "REDIS_PASSWORD": "pw", "KEYGATE_REDIS_PREFIX": "staging",
		"KEYGATE_FAIL_CLOSED_AFTER": "30s", "KEYGATE_JWKS_URL": "https://keys.example.com/jwks.json",
	}), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"billing", "invoices"}, c.Guard.Audiences); diff != "" {
		t.Errorf("audiences (-want +got):\n%s", diff)
	}
	if c.Profile() != verifier.ProfileRedis || c.Redis.Prefix != "staging" || c.Redis.Password != "pw" ||
		c.Guard.FailClosedAfter != 30*time.Second || c.Keys.URL != "https://keys.example.com/jwks.json" || len(c.Warnings) != 0 {
		t.Errorf("config %+v", c)
	}
}

func TestFromEnvReportsEveryProblem(t *testing.T) {
	_, err := verifier.FromEnv(apptest.Getenv(map[string]string{
		"KEYGATE_ISSUER": "auth.example.com", "KEYGATE_LEEWAY": "5m", "REDIS_DB": "2",
	}), "")
	if err == nil {
		t.Fatal("FromEnv accepted a broken configuration")
	}
	for _, name := range []string{"KEYGATE_ISSUER", "KEYGATE_LEEWAY", "KEYGATE_AUDIENCE", "REDIS_DB", "REDIS_ADDR"} {
		if !strings.Contains(err.Error(), "config: "+name+":") {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

// TestReadyNamesWhatIsMissing: the admin handler's /ready names the keys and the feed; the
// public Ready says only "not ready", without the issuer's address or any error text.
func TestReadyNamesWhatIsMissing(t *testing.T) {
	issuer := apptest.ClosedAddr(t)
	v, err := verifier.New(verifier.Config{Guard: guardConfig("http://" + issuer), Dev: true, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, h := range []http.Handler{v.ReadyReport(), v.AdminHandler()} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
		var got struct {
			Status string
			Checks map[string]struct{ Status, Error string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusServiceUnavailable ||
			got.Checks["keys"].Status != "fail" || !strings.Contains(got.Checks["keys"].Error, issuer) {
			t.Errorf("admin /ready %d %s, want 503 with keys failing, naming %s", rec.Code, rec.Body, issuer)
		}
	}
	rec := httptest.NewRecorder()
	v.Ready().ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
	if body := strings.TrimSpace(rec.Body.String()); rec.Code != http.StatusServiceUnavailable ||
		body != `{"status":"not ready"}` || rec.Header().Get("Retry-After") == "" {
		t.Errorf("public /ready %d %s Retry-After %q, want 503 {\"status\":\"not ready\"} with Retry-After",
			rec.Code, body, rec.Header().Get("Retry-After"))
	}
}

// TestAdminHandlerServesMetrics: the admin handler serves keygate's metrics and health.
func TestAdminHandlerServesMetrics(t *testing.T) {
	v, err := verifier.New(verifier.Config{Guard: guardConfig("http://" + apptest.ClosedAddr(t)), Dev: true, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for path, want := range map[string]string{"/metrics": "keygate_build_info", "/health": `"status":"ok"`} {
		rec := httptest.NewRecorder()
		v.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("admin %s = %d, want 200 with %s:\n%s", path, rec.Code, want, rec.Body)
		}
	}
}

// TestSessionRequired: a correctly signed token without sid is refused (401, counted as
// claims_missing) by default; KEYGATE_REQUIRE_SID=0, for a foreign issuer without sessions,
// accepts it.
func TestSessionRequired(t *testing.T) {
	authd := apptest.NewIssuer(false)
	defer authd.Close()
	noSid := authd.Sign("alice", "", "billing")
	for _, tt := range []struct {
		require    string
		wantStatus int
		wantMetric string
	}{
		{"", http.StatusUnauthorized, `keygate_token_validations_total{result="claims_missing"} 1`},
		{"1", http.StatusUnauthorized, `keygate_token_validations_total{result="claims_missing"} 1`},
		{"0", http.StatusOK, `keygate_token_validations_total{result="ok"} 1`},
	} {
		t.Run("KEYGATE_REQUIRE_SID="+tt.require, func(t *testing.T) {
			cfg, err := verifier.FromEnv(apptest.Getenv(map[string]string{"KEYGATE_DEV": "1",
				"KEYGATE_ISSUER": authd.URL, "KEYGATE_REQUIRE_SID": tt.require}), "billing")
			if err != nil {
				t.Fatal(err)
			}
			clock := system.Clock{}
			cfg.Revocations, cfg.Events = memory.NewRevocationStore(clock, nil), memory.NewEventBus(memory.EventBusConfig{})
			cfg.Log = quiet()
			v, err := verifier.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			srv := serve(t, v)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := v.WaitLoaded(ctx); err != nil {
				t.Fatal(err)
			}
			resp := get(t, srv.URL+"/api/x", noSid)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("token without sid: %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
			rec := httptest.NewRecorder()
			v.Metrics().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			if !strings.Contains(rec.Body.String(), tt.wantMetric) {
				t.Errorf("metrics lack %s", tt.wantMetric)
			}
		})
	}
	if _, err := verifier.FromEnv(apptest.Getenv(map[string]string{"KEYGATE_DEV": "1", "KEYGATE_REQUIRE_SID": "maybe"}), "billing"); err == nil ||
		!strings.Contains(err.Error(), "KEYGATE_REQUIRE_SID") {
		t.Errorf("KEYGATE_REQUIRE_SID=maybe: %v, want a refusal naming it", err)
	}
}

package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/keygate/keygate/test/apptest"
)

// verifierToken is the verifier credential of the stacks started here.
const verifierToken = "e2e-verifier-credential-0123456789abcdef"

func verifierStack(t *testing.T, env map[string]string) *devStack {
	t.Helper()
	vars := map[string]string{"KEYGATE_VERIFIER_TOKENS": "another-verifier-credential-for-rotation-000," + verifierToken}
	for k, v := range env {
		vars[k] = v
	}
	return startStack(t, vars)
}

// nodeServer is test/node/resource-server.mjs running against a stack.
type nodeServer struct{ url string }

// startNode runs the Node resource server for audience orders, following s's revocation feed
// with credential, and waits until it has loaded the revocation set.
func startNode(t *testing.T, s *devStack, credential string) *nodeServer {
	t.Helper()
	dir := apptest.NodeClients(t)
	cmd := exec.CommandContext(t.Context(), "node", filepath.Join(dir, "resource-server.mjs"))
	cmd.Env = append(os.Environ(), "ISSUER="+s.auth, "AUDIENCE=orders", "KEYGATE_VERIFIER_TOKEN="+credential)
	stderr := &apptest.Output{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				lines <- u
			}
		}
	}()
	var n nodeServer
	select {
	case n.url = <-lines:
	case <-time.After(15 * time.Second):
		t.Fatalf("node resource server did not start within 15s:\n%s", stderr)
	}
	apptest.Eventually(t, 10*time.Second, "the node resource server loads the revocation set", func() bool {
		return n.feed(t, s)["synced"] == true
	})
	return &n
}

func (n *nodeServer) feed(t *testing.T, s *devStack) map[string]any {
	t.Helper()
	return want(t, s.call(t, "GET", n.url+"/_feed", "", nil), 200, "node /_feed").json(t)
}

func (n *nodeServer) status(t *testing.T, s *devStack, at string) int {
	t.Helper()
	return s.call(t, "GET", n.url+"/api/whoami", at, nil).status
}

// percentiles returns p50, p99 and max of ds.
func percentiles(ds []time.Duration) (p50, p99, mx time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(int(q*float64(len(s))), len(s)-1)] }
	return at(0.50), at(0.99), s[len(s)-1]
}

// refusalBound logs in n times, and for each session checks that check accepts the access
// token, logs out, and measures the time from the logout's answer until check refuses it.
func refusalBound(t *testing.T, s *devStack, n int, check func(at string) int) []time.Duration {
	t.Helper()
	email := fmt.Sprintf("bound-%d@example.com", time.Now().UnixNano())
	s.register(t, email, "correct horse battery")
	out := make([]time.Duration, 0, n)
	for i := range n {
		tok := s.login(t, email, "correct horse battery")
		if got := check(tok.access); got != 200 {
			t.Fatalf("logout %d: a fresh token answered %d, want 200", i, got)
		}
		want(t, s.call(t, "POST", s.auth+"/logout", tok.access, nil), 204, "logout")
		t0 := time.Now()
		for {
			if check(tok.access) == http.StatusUnauthorized {
				break
			}
			if time.Since(t0) > 2*time.Second {
				t.Fatalf("logout %d: the token was still accepted 2s after the logout", i)
			}
		}
		out = append(out, time.Since(t0))
	}
	return out
}

// TestDiscoveryStandardClients: go-oidc accepts authd's discovery document and verifies its
// access tokens (EdDSA named by the client: no ID token, no ID-token algorithm advertised);
// Node jose verifies them with createRemoteJWKSet from the RFC 8414 metadata's jwks_uri.
func TestDiscoveryStandardClients(t *testing.T) {
	s := verifierStack(t, nil)
	s.register(t, "oidc@example.com", "correct horse battery")
	tok := s.login(t, "oidc@example.com", "correct horse battery")

	p, err := oidc.NewProvider(t.Context(), s.auth)
	if err != nil {
		t.Fatalf("go-oidc refuses the discovery document: %v", err)
	}
	if ep := p.Endpoint(); ep.AuthURL != "" || ep.TokenURL != "" {
		t.Errorf("go-oidc endpoints = %+v, want none advertised", ep)
	}
	var meta struct {
		Introspection string `json:"introspection_endpoint"`
		Revocation    string `json:"revocation_endpoint"`
	}
	if err := p.Claims(&meta); err != nil || meta.Introspection != s.auth+"/introspect" || meta.Revocation != s.auth+"/revoke" {
		t.Errorf("metadata endpoints = %+v, %v", meta, err)
	}
	v := p.Verifier(&oidc.Config{ClientID: "orders", SupportedSigningAlgs: []string{oidc.EdDSA}})
	idt, err := v.Verify(t.Context(), tok.access)
	if err != nil {
		t.Fatalf("go-oidc refuses a keygate access token: %v", err)
	}
	if idt.Issuer != s.auth || idt.Subject == "" {
		t.Errorf("go-oidc read iss %q sub %q", idt.Issuer, idt.Subject)
	}
	if _, err := p.Verifier(&oidc.Config{ClientID: "elsewhere", SupportedSigningAlgs: []string{oidc.EdDSA}}).Verify(t.Context(), tok.access); err == nil {
		t.Error("go-oidc accepted the token for an audience it does not name")
	}

	n := startNode(t, s, verifierToken)
	if got := n.status(t, s, tok.access); got != 200 {
		t.Errorf("node jose (createRemoteJWKSet) answered %d to a valid token, want 200", got)
	}
	if got := n.status(t, s, tamper(tok.access, 10)); got != 401 {
		t.Errorf("node jose answered %d to a tampered token, want 401", got)
	}
}

func TestRevocationFeedAccess(t *testing.T) {
	s := verifierStack(t, nil)
	feed := s.auth + "/revocations/feed"
	for name, bearer := range map[string]string{"none": "", "wrong": strings.Repeat("x", 40), "an access token": "eyJhbGciOi.x.y"} {
		r := want(t, s.call(t, "GET", feed, bearer, nil), 401, "feed with "+name)
		if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="keygate-verifiers"` {
			t.Errorf("%s: WWW-Authenticate = %q", name, got)
		}
	}
	r := want(t, s.call(t, "POST", s.auth+"/introspect", "", url.Values{"token": {"x"}}), 401, "introspect without credential")
	if r.json(t)["code"] != "unauthorized" {
		t.Errorf("introspect without credential: %s", r.body)
	}

	off := startStack(t, nil)
	for _, c := range []struct{ method, path string }{{"GET", "/revocations/feed"}, {"POST", "/introspect"}} {
		r := want(t, off.call(t, c.method, off.auth+c.path, verifierToken, url.Values{"token": {"x"}}), 404, c.path+" without KEYGATE_VERIFIER_TOKENS")
		if r.json(t)["code"] != "verifier_access_disabled" {
			t.Errorf("%s: %s", c.path, r.body)
		}
	}
	d := want(t, off.call(t, "GET", off.auth+"/.well-known/openid-configuration", "", nil), 200, "discovery").json(t)
	if _, ok := d["introspection_endpoint"]; ok {
		t.Error("introspection_endpoint advertised while introspection is off")
	}
}

// TestNodeFollowsRevocationFeed: a Node resource server (jose + the standard library)
// following authd's feed refuses a logged-out token within milliseconds, and loses no
// revocation across a dropped connection.
func TestNodeFollowsRevocationFeed(t *testing.T) {
	s := verifierStack(t, nil)
	n := startNode(t, s, verifierToken)

	t.Run("bound", func(t *testing.T) {
		lat := refusalBound(t, s, 200, func(at string) int { return n.status(t, s, at) })
		p50, p99, mx := percentiles(lat)
		t.Logf("HTTP feed (Node client): logout -> token refused: n %d, p50 %v, p99 %v, max %v", len(lat), p50, p99, mx)
		if p50 > 50*time.Millisecond {
			t.Errorf("p50 %v, want within 50ms", p50)
		}
	})

	t.Run("dropped connection", func(t *testing.T) {
		s.register(t, "gap@example.com", "correct horse battery")
		s.register(t, "gapall@example.com", "correct horse battery")
		var live, doomed []string
		for i := range 12 {
			tok := s.login(t, "gap@example.com", "correct horse battery")
			if i%2 == 0 {
				doomed = append(doomed, tok.access)
			} else {
				live = append(live, tok.access)
			}
		}
		all := s.login(t, "gapall@example.com", "correct horse battery")
		revokedOne := s.login(t, "gap@example.com", "correct horse battery")
		for _, at := range append(append(slices.Clone(live), doomed...), all.access, revokedOne.access) {
			if got := n.status(t, s, at); got != 200 {
				t.Fatalf("before the drop: %d, want 200", got)
			}
		}
		before := n.feed(t, s)
		want(t, s.call(t, "POST", n.url+"/_feed/drop", "", nil), 200, "drop")

		// While the Node server is away: logouts, a logout-all, an RFC 7009 revocation.
		for _, at := range doomed {
			want(t, s.call(t, "POST", s.auth+"/logout", at, nil), 204, "logout")
		}
		want(t, s.call(t, "POST", s.auth+"/logout/all", all.access, nil), 204, "logout all")
		want(t, s.call(t, "POST", s.auth+"/revoke", "", url.Values{"token": {revokedOne.access}}), 200, "revoke")
		// The Node server has not heard of them: it still accepts (the gap is real).
		if got := n.status(t, s, doomed[0]); got != 200 {
			t.Fatalf("while disconnected the node server answered %d; the test cannot show a gap", got)
		}

		want(t, s.call(t, "POST", n.url+"/_feed/reconnect", "", nil), 200, "reconnect")
		apptest.Eventually(t, 5*time.Second, "the node server reconnects", func() bool {
			return n.feed(t, s)["connects"].(float64) > before["connects"].(float64)
		})
		for i, at := range append(slices.Clone(doomed), all.access, revokedOne.access) {
			if got := n.status(t, s, at); got != 401 {
				t.Errorf("revocation %d made during the gap: node answered %d, want 401", i, got)
			}
		}
		for i, at := range live {
			if got := n.status(t, s, at); got != 200 {
				t.Errorf("live session %d: node answered %d, want 200", i, got)
			}
		}
		starts := n.feed(t, s)["starts"].([]any)
		if got := starts[len(starts)-1]; got != "resumed" {
			t.Errorf("after the reconnect authd answered %v, want resumed (it holds every event since Last-Event-ID)", got)
		}
	})
}

// TestIntrospection: RFC 7662 answers from authd's guard: active with the claims, inactive
// for revoked, refresh, malformed and foreign tokens; a logout reaches it within milliseconds.
func TestIntrospection(t *testing.T) {
	s := verifierStack(t, nil)
	introspect := func(tok string, extra ...string) reply {
		form := url.Values{"token": {tok}}
		for i := 0; i+1 < len(extra); i += 2 {
			form.Set(extra[i], extra[i+1])
		}
		return s.call(t, "POST", s.auth+"/introspect", verifierToken, form)
	}
	active := func(tok string) map[string]any {
		t.Helper()
		r := want(t, introspect(tok), 200, "introspect")
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", cc)
		}
		return r.json(t)
	}
	uid := s.register(t, "intro@example.com", "correct horse battery")
	tok := s.login(t, "intro@example.com", "correct horse battery")

	got := active(tok.access)
	if got["active"] != true || got["sub"] != uid || got["iss"] != s.auth || got["token_type"] != "Bearer" ||
		got["jti"] == nil || got["sid"] == nil || got["exp"] == nil || got["iat"] == nil {
		t.Errorf("active token: %v", got)
	}
	if aud, _ := got["aud"].([]any); !slices.Contains(aud, any("orders")) {
		t.Errorf("aud = %v", got["aud"])
	}
	inactive := map[string]string{
		"refresh token":           tok.refresh,
		"refresh token with hint": tok.refresh,
		"malformed":               "not-a-token",
		"tampered (foreign)":      tamper(tok.access, 10),
	}
	for name, raw := range inactive {
		hint := "access_token"
		if strings.Contains(name, "hint") {
			hint = "refresh_token"
		}
		if got := want(t, introspect(raw, "token_type_hint", hint), 200, name).json(t); len(got) != 1 || got["active"] != false {
			t.Errorf("%s: %v, want exactly {active:false}", name, got)
		}
	}
	want(t, s.call(t, "POST", s.auth+"/introspect", verifierToken, url.Values{}), 400, "no token")
	want(t, s.call(t, "POST", s.auth+"/introspect", verifierToken, `{"token":"x"}`), 415, "JSON body")

	// A revoked token is inactive as soon as authd's revocation set has it.
	lat := refusalBound(t, s, 200, func(at string) int {
		if active(at)["active"] == true {
			return 200
		}
		return http.StatusUnauthorized
	})
	p50, p99, mx := percentiles(lat)
	t.Logf("introspection: logout -> active:false: n %d, p50 %v, p99 %v, max %v", len(lat), p50, p99, mx)
	if p50 > 50*time.Millisecond {
		t.Errorf("p50 %v, want within 50ms", p50)
	}
}

func TestIntrospectionRateLimited(t *testing.T) {
	s := verifierStack(t, map[string]string{"KEYGATE_INTROSPECT_LIMIT": "3/1m"})
	form := url.Values{"token": {"x"}}
	for range 3 {
		want(t, s.call(t, "POST", s.auth+"/introspect", verifierToken, form), 200, "within the limit")
	}
	r := want(t, s.call(t, "POST", s.auth+"/introspect", verifierToken, form), 429, "over the limit")
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The other credential has its own budget.
	want(t, s.call(t, "POST", s.auth+"/introspect", "another-verifier-credential-for-rotation-000", form), 200, "another credential")
}

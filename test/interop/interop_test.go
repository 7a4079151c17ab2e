package interop

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	josead "github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/test/apptest"
)

const audience = "orders"

// verifier verifies tokens against the JWKS at jwksURL for issuer and audience; for each token
// it returns the header and claims it read, or an error.
type verifier func(t *testing.T, jwksURL, issuer string, tokens []string) []result

type result struct {
	OK     bool           `json:"ok"`
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
	Error  string         `json:"error"`
}

// world is an issuer with two keys in its JWKS and a third it never published, and the tokens
// every verifier is given.
type world struct {
	issuer, jwksURL string
	cases           []tokenCase
}

type tokenCase struct {
	name   string
	token  string
	claims token.Claims // what a verifier must read; zero Issuer: the token must be refused
	kid    string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	iss := josead.NewTokenIssuer()
	a, b, unpublished := newKey(1), newKey(2), newKey(3)
	jwks, err := iss.JWKS([]key.Key{a, b})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+josead.JWKSPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(jwks)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	w := &world{issuer: srv.URL, jwksURL: srv.URL + josead.JWKSPath}

	now := time.Now().Truncate(time.Second)
	typical := token.Claims{Issuer: w.issuer, Subject: "u-42", Audience: []string{audience}, ExpiresAt: now.Add(10 * time.Minute),
		IssuedAt: now, NotBefore: now, ID: "t-1", SessionID: "s-1", ClientID: "web", Scope: "orders:read orders:write", Roles: []string{"user"}}
	odd := typical
	odd.Subject = "Zoë <b>&amp; \"quoted\" back\\slash \u2028 東京 🙂 \x01"
	odd.Audience = []string{"payments", audience, "<aud>"}
	odd.Scope = ""
	odd.SessionID = ""
	odd.Roles = []string{"admin", "über&<>"}
	odd.NotBefore = time.Time{}
	sign := func(k key.Key, c token.Claims) string {
		s, err := iss.Sign(k, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := sign(a, typical)
	tampered := good[:len(good)-2] + flip(good[len(good)-2]) + good[len(good)-1:]
	otherClaims := typical
	otherClaims.ID = "t-2"
	w.cases = []tokenCase{
		{name: "typical", token: good, claims: typical, kid: a.ID},
		{name: "odd strings", token: sign(a, odd), claims: odd, kid: a.ID},
		{name: "second key", token: sign(b, otherClaims), claims: otherClaims, kid: b.ID},
		{name: "tampered signature", token: tampered},
		{name: "unpublished key", token: sign(unpublished, typical)},
	}
	return w
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func newKey(seed byte) key.Key {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	return key.Key{ID: key.Thumbprint(pub), Public: pub, Private: priv}
}

// wantClaims is the JSON object a verifier should read from a token of c.
func wantClaims(c token.Claims) map[string]any {
	m := map[string]any{"iss": c.Issuer, "sub": c.Subject, "exp": float64(c.ExpiresAt.Unix()), "iat": float64(c.IssuedAt.Unix()),
		"jti": c.ID, "client_id": c.ClientID}
	aud := []any{}
	for _, a := range c.Audience {
		aud = append(aud, a)
	}
	m["aud"] = aud
	if !c.NotBefore.IsZero() {
		m["nbf"] = float64(c.NotBefore.Unix())
	}
	if c.SessionID != "" {
		m["sid"] = c.SessionID
	}
	if c.Scope != "" {
		m["scope"] = c.Scope
	}
	if len(c.Roles) > 0 {
		var r []any
		for _, s := range c.Roles {
			r = append(r, s)
		}
		m["roles"] = r
	}
	return m
}

// check runs v over the world's tokens and compares what it read with what was signed.
func check(t *testing.T, v verifier) {
	w := newWorld(t)
	tokens := make([]string, len(w.cases))
	for i, c := range w.cases {
		tokens[i] = c.token
	}
	results := v(t, w.jwksURL, w.issuer, tokens)
	if len(results) != len(w.cases) {
		t.Fatalf("%d results for %d tokens", len(results), len(w.cases))
	}
	for i, c := range w.cases {
		r := results[i]
		if c.claims.Issuer == "" {
			if r.OK {
				t.Errorf("%s: accepted, want refused", c.name)
			}
			continue
		}
		if !r.OK {
			t.Errorf("%s: refused: %s", c.name, r.Error)
			continue
		}
		if diff := cmp.Diff(wantClaims(c.claims), normalize(t, r.Claims)); diff != "" {
			t.Errorf("%s: claims (-signed +read):\n%s", c.name, diff)
		}
		if r.Header != nil { // go-oidc does not expose the header
			want := map[string]any{"alg": "EdDSA", "kid": c.kid, "typ": "at+jwt"}
			if diff := cmp.Diff(want, r.Header); diff != "" {
				t.Errorf("%s: header (-signed +read):\n%s", c.name, diff)
			}
		}
	}
}

// normalize gives m the types encoding/json gives a decoded object (float64 numbers, []any).
func normalize(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGoJose(t *testing.T) {
	check(t, func(t *testing.T, jwksURL, issuer string, tokens []string) []result {
		resp, err := http.Get(jwksURL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set gojose.JSONWebKeySet
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		var out []result
		for _, tok := range tokens {
			out = append(out, goJoseVerify(set, issuer, tok))
		}
		return out
	})
}

func goJoseVerify(set gojose.JSONWebKeySet, issuer, tok string) result {
	parsed, err := jwt.ParseSigned(tok, []gojose.SignatureAlgorithm{gojose.EdDSA})
	if err != nil {
		return result{Error: err.Error()}
	}
	h := parsed.Headers[0]
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return result{Error: "no key " + h.KeyID}
	}
	var std jwt.Claims
	var all map[string]any
	if err := parsed.Claims(keys[0].Key, &std, &all); err != nil {
		return result{Error: err.Error()}
	}
	if err := std.Validate(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{audience}}); err != nil {
		return result{Error: err.Error()}
	}
	header := map[string]any{"alg": h.Algorithm, "kid": h.KeyID}
	for k, v := range h.ExtraHeaders {
		header[string(k)] = v
	}
	return result{OK: true, Header: header, Claims: all}
}

func TestGoOIDC(t *testing.T) {
	check(t, func(t *testing.T, jwksURL, issuer string, tokens []string) []result {
		v := oidc.NewVerifier(issuer, oidc.NewRemoteKeySet(t.Context(), jwksURL),
			&oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{oidc.EdDSA}})
		var out []result
		for _, tok := range tokens {
			idt, err := v.Verify(t.Context(), tok)
			if err != nil {
				out = append(out, result{Error: err.Error()})
				continue
			}
			var claims map[string]any
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			out = append(out, result{OK: true, Claims: claims})
		}
		return out
	})
}

func TestNodeJose(t *testing.T) {
	dir := nodeClients(t)
	check(t, func(t *testing.T, jwksURL, issuer string, tokens []string) []result {
		return runLines(t, exec.CommandContext(t.Context(), "node", filepath.Join(dir, "verify.mjs"), jwksURL, issuer, audience), tokens)
	})
}

// pyVerify is the PyJWT client: the keys from the JWKS (PyJWKClient), then jwt.decode with the
// issuer, the audience and EdDSA only; one JSON line a token, as verify.mjs prints.
const pyVerify = `
import json, sys, jwt
url, issuer, audience = sys.argv[1:4]
client = jwt.PyJWKClient(url)
for line in sys.stdin:
    tok = line.strip()
    if not tok:
        continue
    try:
        key = client.get_signing_key_from_jwt(tok)
        claims = jwt.decode(tok, key.key, algorithms=["EdDSA"], audience=audience, issuer=issuer)
        print(json.dumps({"ok": True, "header": jwt.get_unverified_header(tok), "claims": claims}), flush=True)
    except Exception as e:
        print(json.dumps({"ok": False, "error": type(e).__name__ + ": " + str(e)}), flush=True)
`

func TestPyJWT(t *testing.T) {
	python := pyJWT(t)
	check(t, func(t *testing.T, jwksURL, issuer string, tokens []string) []result {
		return runLines(t, exec.CommandContext(t.Context(), python, "-c", pyVerify, jwksURL, issuer, audience), tokens)
	})
}

// runLines gives cmd the tokens on stdin and reads one JSON result a line from its stdout.
func runLines(t *testing.T, cmd *exec.Cmd, tokens []string) []result {
	t.Helper()
	cmd.Stdin = strings.NewReader(strings.Join(tokens, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd.Path, err, stderr.String())
	}
	var results []result
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s printed %q: %v", cmd.Path, sc.Text(), err)
		}
		results = append(results, r)
	}
	return results
}

// skipOrFail skips t because of reason, or fails it under KEYGATE_REQUIRE_DOCKER=1.
func skipOrFail(t *testing.T, reason string) {
	t.Helper()
	apptest.SkipOrFail(t, "interop: "+reason)
}

// nodeClients returns test/node with its pinned jose installed, or skips t without node and npm.
func nodeClients(t *testing.T) string {
	t.Helper()
	return apptest.NodeClients(t)
}

// pyJWT returns a python3 that imports jwt and cryptography (Debian's first: PyJWT is
// installed from Debian's python3-jwt), or skips t.
func pyJWT(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if exec.CommandContext(t.Context(), p, "-c", "import jwt, cryptography").Run() == nil {
			return p
		}
	}
	skipOrFail(t, "no python3 imports jwt and cryptography (install Debian's python3-jwt and python3-cryptography; test/testbed/up.sh does)")
	return ""
}

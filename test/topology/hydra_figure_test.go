package topology_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
	"github.com/keygate/keygate/test/containers"
)

// EnvHydraBin names the Ory Hydra binary TestFigureRefreshVsHydra runs.
const EnvHydraBin = "KEYGATE_HYDRA_BIN"

// howToBuildHydra is the advice printed when EnvHydraBin is unset.
const howToBuildHydra = "set " + EnvHydraBin + " to an Ory Hydra v2.3.0 binary; to build one, copy the module source " +
	"of github.com/ory/hydra/v2@v2.3.0 out of the module cache (go mod download -json github.com/ory/hydra/v2@v2.3.0 " +
	"prints its Dir), make it writable, and in it run `go mod edit -dropreplace github.com/ory/hydra-client-go/v2` " +
	"and `GOFLAGS=-mod=mod go build -o hydra .`"

// TestFigureRefreshVsHydra measures issue 9's refresh row side by side with Ory Hydra v2.3.0,
// in one run: 16 clients for 5 s each, every client refreshing its own chain and keeping the
// refresh token each answer rotates in.
//
//   - Hydra: `hydra serve all --dev` on a PostgreSQL of its own, reached at the container's
//     address; the refresh_token grant three ways (see kinds): a confidential client
//     (client_secret_post; Hydra checks its secret, hashed with its default PBKDF2 of 25,000
//     iterations, at every grant) with the scope openid (a new RS256 ID token at every
//     refresh) and without, and a public client (none) without: its refresh token is its only
//     credential, as at keygate's POST /refresh. Hydra's defaults otherwise: opaque access
//     tokens, refresh tokens rotated (the test checks that a used one is refused), the DSN's
//     default pool of two connections per core; only its log level is warn, so that it does
//     not log every request. Each chain starts with the authorization-code flow, through a
//     login and consent app in this process that accepts every request.
//   - keygate: POST /refresh on one authd of the "redis (dev users)" profile of
//     TestFigureRefresh (Redis at its container's address, users in memory).
//
// Each side runs in a subtest of its own, so the other's processes and containers are gone
// while it is measured. It reports each line (req/s, p50, p99) with the server CPU per refresh
// (Hydra and every process of PostgreSQL's container; authd and redis-server), then keygate's
// rate over each of Hydra's, the p99s and the CPU per refresh (which varies less than the
// rates on a shared machine: the two sides are measured one after the other). A refresh
// refused while the chains are set up, or any failed request under load on either side, fails
// the test and no ratio is reported.
//
// The binary is Hydra v2.3.0 built from its module source (without ldflags, so `hydra version`
// says "master"); see howToBuildHydra.
//
//	KEYGATE_HYDRA_BIN=/path/to/hydra go test ./test/topology -run FigureRefreshVsHydra -figures -v -count=1
func TestFigureRefreshVsHydra(t *testing.T) {
	if !*figures {
		t.Skip("measures figures; run with -figures")
	}
	bin := os.Getenv(EnvHydraBin)
	if bin == "" {
		t.Skip(howToBuildHydra)
	}
	const clients, d = 16, 5 * time.Second

	// Hydra's refresh three ways, to show what each part costs: for a confidential client with
	// the scope openid (a new ID token, RS256 with Hydra's 4096-bit key, at every refresh);
	// without it; and for a public client without it, whose refresh token is its only
	// credential as at keygate's POST /refresh: Hydra's cheapest refresh.
	kinds := []struct{ name, authMethod, scope string }{
		{"confidential client, openid offline_access", "client_secret_post", "openid offline_access"},
		{"confidential client, offline_access", "client_secret_post", "offline_access"},
		{"public client, offline_access", "none", "offline_access"},
	}
	// side is one line of the figure: the load's stats and the server CPU per refresh (the
	// server's and its store's).
	type side struct {
		stats
		cpu time.Duration
	}
	hydra := make([]side, len(kinds))
	t.Run("hydra", func(t *testing.T) {
		h := startHydra(t, bin)
		c := newClient(128)
		cls := make([]hydraClient, len(kinds))
		chains := make([][]string, len(kinds))
		for k, kind := range kinds {
			cls[k] = h.createClient(t, kind.authMethod, kind.scope)
			chains[k] = make([]string, clients)
			for i := range chains[k] {
				chains[k][i] = h.chain(t, c, cls[k])
			}
		}
		for k, kind := range kinds {
			s, hydraCPU, pgCPU := h.measureRefresh(t, c, cls[k], chains[k], d)
			report(t, "refresh, hydra v2.3.0 (postgres), %s, %d clients: %v; CPU per refresh: hydra %v, postgres %v", kind.name, clients, s, hydraCPU, pgCPU)
			if s.errors > 0 {
				t.Errorf("%s: %d hydra refreshes failed", kind.name, s.errors)
			}
			hydra[k] = side{s, hydraCPU + pgCPU}
		}
	})
	var keygate side
	t.Run("keygate", func(t *testing.T) {
		i := slices.IndexFunc(figureProfiles(false), func(p profile) bool { return p.name == "redis (dev users)" })
		if i < 0 {
			t.Fatal("no profile redis (dev users)")
		}
		p := figureProfiles(false)[i]
		a, c := startFigureAuthd(t, p, nil)
		chains := refreshChains(t, c, a.URL, clients)
		s, authdCPU, redisCPU := measureRefresh(t, a, c, chains, d)
		report(t, "refresh, keygate %s, %d clients: %v; CPU per refresh: authd %v, redis %v", p.name, clients, s, authdCPU, redisCPU)
		if s.errors > 0 {
			t.Errorf("%d keygate refreshes failed", s.errors)
		}
		keygate = side{s, authdCPU + redisCPU}
	})
	if t.Failed() || keygate.n == 0 || slices.ContainsFunc(hydra, func(s side) bool { return s.n == 0 }) {
		t.Fatal("no ratio: a side failed or measured nothing")
	}
	ms := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	for k, kind := range kinds {
		h := hydra[k]
		report(t, "refresh, %d clients, keygate / hydra %s: rate x%.1f (%.0f/s vs %.0f/s); p50 %v vs %v; p99 %v vs %v (hydra's x%.1f); server CPU per refresh %v vs %v (hydra's x%.1f)",
			clients, kind.name, keygate.rate/h.rate, keygate.rate, h.rate, ms(keygate.p50), ms(h.p50), ms(keygate.p99), ms(h.p99),
			float64(h.p99)/float64(max(keygate.p99, 1)), keygate.cpu, h.cpu, float64(h.cpu)/float64(max(keygate.cpu, 1)))
	}
}

// hydraServer is one `hydra serve all --dev` on a PostgreSQL of its own, with a login and
// consent app that accepts every request.
type hydraServer struct {
	public, admin string // base URLs
	redirectURI   string // the clients' redirect URI, on the app; nothing follows it
	proc          *proc
	pg            *containers.Postgres

	rotationChecked atomic.Bool // by the first chain
}

// hydraClient is an OAuth 2.0 client registered with Hydra (a public client has no secret)
// and the scope its authorization requests ask for.
type hydraClient struct{ id, secret, scope string }

// form is the token request's form with the client's credentials.
func (cl hydraClient) form(v url.Values) url.Values {
	v.Set("client_id", cl.id)
	if cl.secret != "" {
		v.Set("client_secret", cl.secret)
	}
	return v
}

// startHydra starts PostgreSQL, applies Hydra's migrations and starts Hydra on free ports; it
// returns once Hydra's admin API answers /health/ready.
func startHydra(t *testing.T, bin string) *hydraServer {
	t.Helper()
	pg := containers.StartPostgres(t)
	ip, err := pg.ContainerIP(t.Context())
	if err != nil {
		t.Fatalf("postgres container address: %v", err)
	}
	dsn := (&url.URL{Scheme: "postgres", User: url.UserPassword(pg.User, pg.Password), Host: ip + ":5432",
		Path: "/" + pg.CreateDatabase(t), RawQuery: "sslmode=disable"}).String()
	env := map[string]string{"DSN": dsn}

	publicPort, adminPort := freePort(t), freePort(t)
	h := &hydraServer{
		public: "http://127.0.0.1:" + strconv.Itoa(publicPort),
		admin:  "http://127.0.0.1:" + strconv.Itoa(adminPort),
		pg:     pg,
	}
	app := httptest.NewServer(h.loginConsent(t))
	t.Cleanup(app.Close)
	h.redirectURI = app.URL + "/callback"

	config := map[string]any{
		"serve": map[string]any{
			"public": map[string]any{"host": "127.0.0.1", "port": publicPort},
			"admin":  map[string]any{"host": "127.0.0.1", "port": adminPort},
		},
		"urls": map[string]any{
			"self":    map[string]any{"issuer": h.public},
			"login":   app.URL + "/login",
			"consent": app.URL + "/consent",
		},
		"secrets": map[string]any{"system": []string{"topology-test-hydra-system-secret-0123456789"}},
		"log":     map[string]any{"level": "warn"},
	}
	b, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "hydra.json")
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}

	if out, err := runCmd(t, bin, env, "hydra", "migrate", "sql", "up", "-e", "--yes", "-c", cfg); err != nil {
		t.Fatalf("hydra migrate sql up: %v\n%s", err, apptest.Tail(out, 30))
	}
	h.proc = spawn(t, "hydra", bin, env, "serve", "all", "--dev", "--sqa-opt-out", "-c", cfg)
	c := newClient(1)
	deadline := time.Now().Add(60 * time.Second)
	for c.do(t, "GET", h.admin+"/health/ready", "", nil).status != http.StatusOK {
		select {
		case <-h.proc.Exited():
			t.Fatalf("hydra serve exited before it was ready: %v\n%s", h.proc.Err(), apptest.Tail(h.proc.Out.String(), 30))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("hydra serve: admin %s/health/ready not 200 within 60s\n%s", h.admin, apptest.Tail(h.proc.Out.String(), 30))
		}
	}
	return h
}

// loginConsent is the login and consent app: it accepts every login request (as subject
// "bench") and every consent request (granting the scopes and audiences requested) through
// Hydra's admin API and sends the browser on to where Hydra says.
func (h *hydraServer) loginConsent(t *testing.T) http.Handler {
	admin := newClient(4)
	accept := func(w http.ResponseWriter, r *http.Request, what, challenge string, body any) {
		b, _ := json.Marshal(body)
		res := admin.do(t, "PUT", h.admin+"/admin/oauth2/auth/requests/"+what+"/accept?"+what+"_challenge="+url.QueryEscape(challenge), "", string(b))
		var to struct {
			RedirectTo string `json:"redirect_to"`
		}
		if res.status != http.StatusOK || json.Unmarshal(res.body, &to) != nil || to.RedirectTo == "" {
			http.Error(w, "accept "+what+": "+res.String(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, to.RedirectTo, http.StatusFound)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		accept(w, r, "login", r.URL.Query().Get("login_challenge"), map[string]any{"subject": "bench"})
	})
	mux.HandleFunc("GET /consent", func(w http.ResponseWriter, r *http.Request) {
		challenge := r.URL.Query().Get("consent_challenge")
		res := admin.do(t, "GET", h.admin+"/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(challenge), "", nil)
		var req struct {
			Scope    []string `json:"requested_scope"`
			Audience []string `json:"requested_access_token_audience"`
		}
		if res.status != http.StatusOK || json.Unmarshal(res.body, &req) != nil {
			http.Error(w, "consent request: "+res.String(), http.StatusBadGateway)
			return
		}
		accept(w, r, "consent", challenge, map[string]any{"grant_scope": req.Scope, "grant_access_token_audience": req.Audience})
	})
	return mux
}

// createClient registers a client for the authorization-code flow with refresh tokens, which
// authenticates at the token endpoint with authMethod, client_secret_post (confidential) or
// none (public), and asks for scope.
func (h *hydraServer) createClient(t *testing.T, authMethod, scope string) hydraClient {
	t.Helper()
	b, _ := json.Marshal(map[string]any{
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"scope":                      "openid offline_access",
		"redirect_uris":              []string{h.redirectURI},
		"token_endpoint_auth_method": authMethod,
	})
	r := want(t, newClient(1).do(t, "POST", h.admin+"/admin/clients", "", string(b)), http.StatusCreated, "hydra: create client")
	cl := hydraClient{id: r.str(t, "client_id"), scope: scope}
	if authMethod != "none" {
		cl.secret = r.str(t, "client_secret")
	}
	return cl
}

// chain runs the authorization-code flow for cl, exchanges the code for tokens, and refreshes
// once; it returns the refresh token that refresh answered, the head of a chain. The first
// chain also checks that Hydra rotates refresh tokens: the one used is refused afterwards.
func (h *hydraServer) chain(t *testing.T, c *client, cl hydraClient) string {
	t.Helper()
	code := h.authorize(t, cl)
	r := want(t, c.do(t, "POST", h.public+"/oauth2/token", "", cl.form(url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {h.redirectURI},
	})), http.StatusOK, "hydra: exchange the code")
	first := r.str(t, "refresh_token")
	next := want(t, h.refresh(t, c, cl, first), http.StatusOK, "hydra: refresh while setting up the chains").str(t, "refresh_token")
	if h.rotationChecked.CompareAndSwap(false, true) {
		// A reused refresh token revokes its whole chain, so this chain is not used for load.
		if r := h.refresh(t, c, cl, first); r.status != http.StatusBadRequest {
			t.Fatalf("hydra: a used refresh token got %s, want 400: refresh tokens are not rotated", r)
		}
		return h.chain(t, c, cl)
	}
	return next
}

// authorize runs the authorization-code flow for cl as a browser would (cookies kept,
// redirects followed through the login and consent app) and returns the code Hydra sends to
// the redirect URI.
func (h *hydraServer) authorize(t *testing.T, cl hydraClient) string {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), h.redirectURI) {
			return http.ErrUseLastResponse
		}
		if len(via) >= 20 {
			return errors.New("more than 20 redirects")
		}
		return nil
	}}
	const state = "topology-test-state"
	res, err := browser.Get(h.public + "/oauth2/auth?" + url.Values{
		"client_id": {cl.id}, "response_type": {"code"}, "scope": {cl.scope},
		"redirect_uri": {h.redirectURI}, "state": {state},
	}.Encode())
	if err != nil {
		t.Fatalf("hydra: authorization flow: %v", err)
	}
	defer res.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(res.Body)
	to, err := res.Location()
	if err != nil || !strings.HasPrefix(to.String(), h.redirectURI) {
		t.Fatalf("hydra: authorization flow ended at %s with %d %s, want a redirect to %s", res.Request.URL, res.StatusCode, bytes.TrimSpace(body.Bytes()), h.redirectURI)
	}
	q := to.Query()
	if q.Get("code") == "" || q.Get("state") != state {
		t.Fatalf("hydra: authorization flow redirected to %s, want a code and state %q", to, state)
	}
	return q.Get("code")
}

// refresh sends the refresh_token grant for rt.
func (h *hydraServer) refresh(t *testing.T, c *client, cl hydraClient, rt string) reply {
	t.Helper()
	return c.do(t, "POST", h.public+"/oauth2/token", "", cl.form(url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {rt},
	}))
}

// measureRefresh is measureRefresh of figures_test.go for Hydra (measureChains): one client per chain for d,
// each refreshing its chain; the CPU per refresh is that of the hydra process and of every
// process of the PostgreSQL container (the postmaster and its backends).
func (h *hydraServer) measureRefresh(t *testing.T, c *client, cl hydraClient, chains []string, d time.Duration) (s stats, hydraCPU, pgCPU time.Duration) {
	t.Helper()
	st, err := h.pg.State(t.Context())
	if err != nil {
		t.Fatalf("postgres container state: %v", err)
	}
	cpu := func() (time.Duration, time.Duration) {
		return procCPU(t, h.proc.Cmd.Process.Pid), treeCPU(t, st.Pid)
	}
	return measureChains(chains, d, cpu, func(rt string) reply { return h.refresh(t, c, cl, rt) })
}

// treeCPU returns the CPU time used so far by pid and all its descendants, those that have
// exited included (a process's cutime and cstime hold its waited-for children's): all the
// processes of a container whose first process is pid.
func treeCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("cpu time of %d: %v", pid, err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := procStat(p)
		if err != nil {
			continue // exited meanwhile
		}
		if ppid, err := strconv.Atoi(f[statPpid]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var total time.Duration
	var walk func(p int)
	walk = func(p int) {
		f, err := procStat(p)
		if err != nil {
			if p == pid {
				t.Fatalf("cpu time of %d: %v", pid, err)
			}
			return // exited meanwhile: its parent's cutime holds it once waited for
		}
		d, err := statCPU(f, statUtime, statStime, statCutime, statCstime)
		if err != nil {
			t.Fatalf("cpu time of %d: %v", p, err)
		}
		total += d
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	return total
}

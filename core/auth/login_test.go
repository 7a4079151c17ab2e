package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

func TestNewChecksConfigAndFillsDefaults(t *testing.T) {
	e := newEnv(t)
	got := e.svc.Config()
	want := testConfig()
	want.RefreshSecret = nil
	want.ClientID = "keygate"
	want.Scope = "openid"
	want.AccessTTL = 15 * time.Minute
	want.Leeway = 2 * time.Minute
	want.Session = session.Policy{IdleTTL: 336 * time.Hour, MaxTTL: 720 * time.Hour, Grace: 10 * time.Second}
	want.HeartbeatEvery = 2 * time.Second
	want.BrakeDelay = time.Second
	want.PublicURL = "https://auth.test"
	want.ResetTTL, want.VerifyTTL = 30*time.Minute, 48*time.Hour
	want.Registration = RegisterOpen
	want.LimitMail = Limit{N: 5, Window: time.Hour}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("effective config (-want +got):\n%s", diff)
	}

	tests := []struct {
		name   string
		change func(*Config, *Deps)
	}{
		{"no issuer", func(c *Config, _ *Deps) { c.Issuer = "" }},
		{"no audiences", func(c *Config, _ *Deps) { c.Audiences = nil }},
		{"empty audience", func(c *Config, _ *Deps) { c.Audiences = []string{""} }},
		{"short refresh secret", func(c *Config, _ *Deps) { c.RefreshSecret = []byte("short") }},
		{"negative access TTL", func(c *Config, _ *Deps) { c.AccessTTL = -time.Second }},
		{"keep-after shorter than token life", func(c *Config, _ *Deps) { c.AccessTTL = time.Hour }},
		{"bad rate limit", func(c *Config, _ *Deps) { c.LimitAccount = Limit{N: 0, Window: time.Minute} }},
		{"no user repo", func(_ *Config, d *Deps) { d.Users = nil }},
		{"no clock", func(_ *Config, d *Deps) { d.Clock = nil }},
		{"no signer", func(_ *Config, d *Deps) { d.Signer = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, d := testConfig(), e.deps
			tt.change(&c, &d)
			s, err := New(d, c)
			if !errors.Is(err, ErrInvalidConfig) || s != nil {
				t.Errorf("New = %v, %v; want ErrInvalidConfig", s, err)
			}
		})
	}
}

func TestRegister(t *testing.T) {
	tests := []struct {
		name             string
		email, pw, uname string
		setup            func(t *testing.T, e *env)
		swap             func(*Deps)
		wantErr          error
		wantHash         bool // the password was hashed
	}{
		{name: "ok", email: "  Alice@Example.ORG ", pw: testPassword, uname: "Alice", wantHash: true},
		{name: "invalid e-mail", email: "alice", pw: testPassword, wantErr: identity.ErrInvalidEmail},
		{name: "password too short", email: "a@x.org", pw: "short", wantErr: identity.ErrInvalidPassword},
		{name: "password of 129 characters is refused before hashing", email: "a@x.org",
			pw: strings.Repeat("p", 129), wantErr: identity.ErrInvalidPassword},
		{name: "name with control character", email: "a@x.org", pw: testPassword, uname: "a\x00b",
			wantErr: identity.ErrInvalidName},
		{name: "e-mail taken, whatever its case", email: "ALICE@example.org", pw: testPassword, wantHash: true,
			setup: func(t *testing.T, e *env) { e.register(t, "alice@example.org") }, wantErr: ErrEmailTaken},
		{name: "user repo down", email: "a@x.org", pw: testPassword, wantHash: true,
			swap: func(d *Deps) { d.Users = portstest.UnavailableUserRepo{} }, wantErr: ports.ErrUnavailable},
		{name: "hasher down", email: "a@x.org", pw: testPassword,
			swap: func(d *Deps) { d.Hasher = portstest.UnavailablePasswordHasher{} }, wantErr: ports.ErrUnavailable},
		{name: "limiter down", email: "a@x.org", pw: testPassword,
			swap: func(d *Deps) { d.Limiter = portstest.UnavailableRateLimiter{} }, wantErr: ports.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			svc := e.svc
			if tt.swap != nil {
				svc = e.service(t, tt.swap)
			}
			before := e.hasher.hashes.Load()
			u, err := svc.Register(t.Context(), tt.email, tt.pw, tt.uname, client)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Register error = %v, want %v", err, tt.wantErr)
			}
			if got := e.hasher.hashes.Load() > before; got != tt.wantHash {
				t.Errorf("hashed = %v, want %v", got, tt.wantHash)
			}
			if err != nil {
				return
			}
			want := identity.User{Email: "alice@example.org", Name: "Alice", CreatedAt: t0, UpdatedAt: t0}
			if diff := cmp.Diff(want, u, cmpopts.IgnoreFields(identity.User{}, "ID", "PasswordHash")); diff != "" {
				t.Errorf("user (-want +got):\n%s", diff)
			}
			stored, err := e.users.ByEmail(t.Context(), "alice@example.org")
			if err != nil || stored.ID != u.ID {
				t.Errorf("stored user = %+v, %v", stored, err)
			}
			if got := e.auditActions(t, u.ID); !slices.Equal(got, []audit.Action{audit.ActionRegister}) {
				t.Errorf("audit = %v", got)
			}
			e.login(t, tt.email) // the user can log in with the raw e-mail as typed
		})
	}
}

func TestRegisterHashesTheNFKCPassword(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.Register(t.Context(), "a@x.org", "ﬁne password", "", client); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Login(t.Context(), "a@x.org", "fine password", client); err != nil {
		t.Errorf("login with the compatibility-equivalent password: %v", err)
	}
}

func TestRegisterRateLimits(t *testing.T) {
	tests := []struct {
		name    string
		limit   func(*Config)
		emails  []string
		ips     []string
		wantErr []bool
	}{
		{"per account", func(c *Config) { c.LimitAccount = Limit{N: 2, Window: time.Minute} },
			[]string{"a@x.org", "A@x.org", "a@x.org", "b@x.org"}, []string{"1", "2", "3", "4"},
			[]bool{false, true, true, false}}, // the second is "taken", the third limited
		{"per address", func(c *Config) { c.LimitAddress = Limit{N: 2, Window: time.Minute} },
			[]string{"a@x.org", "b@x.org", "c@x.org", "d@x.org"}, []string{"1", "1", "1", "2"},
			[]bool{false, false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.limit)
			var limited int
			for i, em := range tt.emails {
				_, err := e.svc.Register(t.Context(), em, testPassword, "", Client{IP: tt.ips[i]})
				if (err != nil) != tt.wantErr[i] {
					t.Errorf("attempt %d: err = %v, want error %v", i, err, tt.wantErr[i])
				}
				var rl *RateLimitedError
				if errors.As(err, &rl) {
					limited++
					if rl.RetryAfter <= 0 {
						t.Errorf("RetryAfter = %v", rl.RetryAfter)
					}
				}
			}
			if limited != 1 {
				t.Errorf("rate-limited %d times, want 1", limited)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name       string
		email, pw  string
		setup      func(t *testing.T, e *env)
		swap       func(*Deps)
		wantErr    error
		wantResult string
	}{
		{name: "ok", email: "Alice@example.org", pw: testPassword, wantResult: "ok"},
		{name: "wrong password", email: "alice@example.org", pw: "wrong password", wantErr: ErrInvalidCredentials,
			wantResult: "invalid_credentials"},
		{name: "unknown e-mail", email: "bob@example.org", pw: testPassword, wantErr: ErrInvalidCredentials,
			wantResult: "invalid_credentials"},
		{name: "disabled user", email: "alice@example.org", pw: testPassword, wantErr: ErrInvalidCredentials,
			wantResult: "invalid_credentials", setup: disable("alice@example.org")},
		{name: "corrupted stored hash", email: "alice@example.org", pw: testPassword, wantErr: ErrInvalidCredentials,
			wantResult: "invalid_credentials", setup: func(t *testing.T, e *env) {
				u, _ := e.users.ByEmail(t.Context(), "alice@example.org")
				_, err := e.users.Update(t.Context(), u.ID, func(u *identity.User) error {
					u.PasswordHash = "$argon2id$v=19$m=999999999,t=99,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}},
		{name: "malformed e-mail", email: "alice", pw: testPassword, wantErr: ErrInvalidCredentials,
			wantResult: "invalid_request"},
		{name: "password over 128 characters", email: "alice@example.org", pw: strings.Repeat("x", 200),
			wantErr: ErrInvalidCredentials, wantResult: "invalid_request"},
		{name: "user repo down", email: "alice@example.org", pw: testPassword, wantErr: ports.ErrUnavailable,
			wantResult: "unavailable", swap: func(d *Deps) { d.Users = portstest.UnavailableUserRepo{} }},
		{name: "hasher down", email: "alice@example.org", pw: testPassword, wantErr: ports.ErrUnavailable,
			wantResult: "unavailable", swap: func(d *Deps) { d.Hasher = portstest.UnavailablePasswordHasher{} }},
		{name: "limiter down", email: "alice@example.org", pw: testPassword, wantErr: ports.ErrUnavailable,
			wantResult: "unavailable", swap: func(d *Deps) { d.Limiter = portstest.UnavailableRateLimiter{} }},
		{name: "session store down", email: "alice@example.org", pw: testPassword, wantErr: ports.ErrUnavailable,
			wantResult: "unavailable", swap: func(d *Deps) { d.Sessions = portstest.UnavailableSessionStore{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			alice := e.register(t, "alice@example.org")
			if tt.setup != nil {
				tt.setup(t, e)
			}
			svc := e.svc
			if tt.swap != nil {
				svc = e.service(t, tt.swap)
			}
			tp, err := svc.Login(t.Context(), tt.email, tt.pw, client)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Login error = %v, want %v", err, tt.wantErr)
			}
			if errors.Is(err, ErrInvalidCredentials) && err.Error() != ErrInvalidCredentials.Error() {
				t.Errorf("error text %q says more than %q", err, ErrInvalidCredentials)
			}
			if got := e.metrics.loginCounts(); !cmp.Equal(got, map[string]int{tt.wantResult: 1}) {
				t.Errorf("login metrics = %v, want %s once", got, tt.wantResult)
			}
			if err != nil {
				return
			}
			c := e.claims(t, tp.AccessToken)
			want := token.Claims{Issuer: "https://auth.test", Subject: alice.ID, Audience: []string{"orders", "payments"},
				IssuedAt: t0.Truncate(time.Second), NotBefore: t0.Truncate(time.Second),
				ExpiresAt: t0.Truncate(time.Second).Add(15 * time.Minute), ClientID: "keygate", Scope: "openid"}
			if diff := cmp.Diff(want, c, cmpopts.IgnoreFields(token.Claims{}, "ID", "SessionID")); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			if len(c.ID) != 32 || c.SessionID == "" {
				t.Errorf("jti %q, sid %q", c.ID, c.SessionID)
			}
			if tp.Scope != "openid" || tp.ExpiresIn <= 14*time.Minute || tp.ExpiresIn > 15*time.Minute {
				t.Errorf("pair = scope %q, expires in %v", tp.Scope, tp.ExpiresIn)
			}
			sess, err := e.sessions.Get(t.Context(), c.SessionID)
			if err != nil {
				t.Fatal(err)
			}
			wantSess := session.Session{ID: c.SessionID, UserID: alice.ID, ClientID: "keygate", Generation: 1,
				CreatedAt: t0, LastUsedAt: t0, ExpiresAt: t0.Add(720 * time.Hour), UserAgent: "test/1.0", RemoteIP: "192.0.2.1"}
			if diff := cmp.Diff(wantSess, sess); diff != "" {
				t.Errorf("session (-want +got):\n%s", diff)
			}
			if tp.RefreshToken != e.svc.codec.Token(c.SessionID, 1) {
				t.Errorf("refresh token is not the session's first generation")
			}
			if e.metrics.issued != 1 {
				t.Errorf("tokens issued = %d", e.metrics.issued)
			}
			want2 := []audit.Action{audit.ActionRegister, audit.ActionLoginSuccess}
			if got := e.auditActions(t, alice.ID); !slices.Equal(got, want2) {
				t.Errorf("audit = %v, want %v", got, want2)
			}
		})
	}
}

func disable(email string) func(t *testing.T, e *env) {
	return func(t *testing.T, e *env) {
		t.Helper()
		u, err := e.users.ByEmail(t.Context(), email)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.users.Update(t.Context(), u.ID, func(u *identity.User) error { u.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
	}
}

// An attacker cannot tell an unknown e-mail from a wrong password or a disabled account:
// same error, and the same password-hash work (one Verify each; the unknown e-mail's against
// the empty hash, which the hasher makes cost the same).
func TestLoginEnumerationEquivalence(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	e.register(t, "carol@example.org")
	disable("carol@example.org")(t, e)
	tests := []struct {
		name       string
		email, pw  string
		wantEmpty  int64
		wantAudits int
	}{
		{"unknown e-mail", "bob@example.org", testPassword, 1, 0},
		{"wrong password", "alice@example.org", "not the password", 0, 1},
		{"disabled account", "carol@example.org", testPassword, 0, 1},
	}
	var errs []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v0, empty0 := e.hasher.verifies.Load(), e.hasher.emptyVerifies.Load()
			_, err := e.svc.Login(t.Context(), tt.email, tt.pw, client)
			if !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("err = %v", err)
			}
			errs = append(errs, err.Error())
			if got := e.hasher.verifies.Load() - v0; got != 1 {
				t.Errorf("Verify calls = %d, want 1", got)
			}
			if got := e.hasher.emptyVerifies.Load() - empty0; got != tt.wantEmpty {
				t.Errorf("Verify calls with the empty hash = %d, want %d", got, tt.wantEmpty)
			}
		})
	}
	if len(errs) == 3 && (errs[0] != errs[1] || errs[1] != errs[2]) {
		t.Errorf("error texts differ: %q", errs)
	}
}

func TestLoginRateLimits(t *testing.T) {
	tests := []struct {
		name  string
		limit func(*Config)
		ips   []string
		pws   []string
		want  []string // "ok", "invalid", "limited"
	}{
		// Failures count, per account and client: the failing client is refused even with the
		// right password, another client is not.
		{"failures per account and client", func(c *Config) { c.LoginFailures = Limit{N: 2, Window: time.Minute} },
			[]string{"1", "1", "1", "2"}, []string{"bad password", "bad password", testPassword, testPassword},
			[]string{"invalid", "invalid", "limited", "ok"}},
		{"failures per account and client, IPv6 counts by /64", func(c *Config) { c.LoginFailures = Limit{N: 2, Window: time.Minute} },
			[]string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3", "2001:db8:1:3::1"},
			[]string{"bad password", "bad password", testPassword, testPassword},
			[]string{"invalid", "invalid", "limited", "ok"}},
		{"per address", func(c *Config) { c.LimitAddress = Limit{N: 2, Window: time.Minute} },
			[]string{"1", "1", "1", "2"}, []string{testPassword, testPassword, testPassword, testPassword},
			[]string{"ok", "ok", "limited", "ok"}},
		// One host holds a whole /64: hopping addresses inside it must not reset the count.
		{"per address, IPv6 counts by /64", func(c *Config) { c.LimitAddress = Limit{N: 2, Window: time.Minute} },
			[]string{"2001:db8:1:2::1", "2001:db8:1:2::ffff", "2001:db8:1:2:abcd::9", "2001:db8:1:3::1"},
			[]string{testPassword, testPassword, testPassword, testPassword},
			[]string{"ok", "ok", "limited", "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.limit)
			e.register(t, "alice@example.org")
			for i := range tt.ips {
				_, err := e.svc.Login(t.Context(), "alice@example.org", tt.pws[i], Client{IP: tt.ips[i]})
				var rl *RateLimitedError
				got := "ok"
				switch {
				case errors.As(err, &rl):
					got = "limited"
					if rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
						t.Errorf("RetryAfter = %v", rl.RetryAfter)
					}
				case errors.Is(err, ErrInvalidCredentials):
					got = "invalid"
				case err != nil:
					t.Fatalf("attempt %d: %v", i, err)
				}
				if got != tt.want[i] {
					t.Errorf("attempt %d = %s, want %s", i, got, tt.want[i])
				}
			}
			if got := e.metrics.loginCounts()["rate_limited"]; got != 1 {
				t.Errorf("rate_limited logins = %d", got)
			}
			e.clock.Advance(time.Minute)
			if _, err := e.svc.Login(t.Context(), "alice@example.org", testPassword, Client{IP: tt.ips[0]}); err != nil {
				t.Errorf("after the window: %v", err)
			}
		})
	}
}

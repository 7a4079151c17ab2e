// Package authsvc assembles authd, the auth service, from its adapters: the configuration
// read from the environment (docs/configuration.md), the wire provider sets of each
// deployment profile, and App, which serves the HTTP API and runs the background work. The
// authd and devstack binaries hold the wire injectors.
package authsvc

import (
	"crypto/rand"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/keygate/keygate/adapters/argon2"
	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/adapters/smtp"
	"github.com/keygate/keygate/apps/internal/env"
	"github.com/keygate/keygate/apps/internal/stores"
	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/keyring"
	"github.com/keygate/keygate/core/remote"
	"github.com/keygate/keygate/core/session"
)

// DefaultPort is authd's port when PORT is unset.
const DefaultPort = 8080

// DefaultAdminAddr is authd's admin listener (metrics, the detailed readiness report) when
// KEYGATE_ADMIN_ADDR is unset (with PORT=0: a free port).
const DefaultAdminAddr = ":9090"

// Config is authd's whole configuration, read once at start.
type Config struct {
	Port            int
	AdminAddr       string // KEYGATE_ADMIN_ADDR; "": off
	Dev             bool
	LogLevel        string
	Auth            auth.Config    // Issuer is filled in by Listened when KEYGATE_ISSUER is unset
	Keys            keyring.Config // KEYGATE_KEK, KEYGATE_KEY_ROTATE_EVERY; publish lead from KEYGATE_JWKS_MAX_AGE
	Hash            argon2.Config  // KEYGATE_HASH_CONCURRENCY
	JWKSMaxAge      time.Duration  // KEYGATE_JWKS_MAX_AGE
	FailClosedAfter time.Duration  // KEYGATE_FAIL_CLOSED_AFTER: the bound of authd's own guard, as in every verifier
	TrustedProxies  []netip.Prefix // KEYGATE_TRUSTED_PROXIES
	AdminEmail      string
	AdminPassword   string
	stores.Config                           // the profile and its stores: REDIS_*, DB_*, DATABASE_URL, KEYGATE_MIGRATE
	Verifiers       *httpapi.VerifierAccess // KEYGATE_VERIFIER_TOKENS; nil: the revocation feed and introspection are off
	IntrospectLimit remote.Limit            // KEYGATE_INTROSPECT_LIMIT, per verifier credential
	Warnings        []string                // said once at start (dev-mode compromises)
	// SMTP (KEYGATE_SMTP_*) sends the account e-mails (reset and verification links); nil
	// without KEYGATE_SMTP_ADDR: dev mode then prints them (MailConsole), otherwise none are
	// sent and the reset and verification endpoints answer 404 mail_disabled.
	SMTP *smtp.Config
	// MailConsole is where dev mode prints the account e-mails when no SMTP server is
	// configured (set by the binary: authd's and devstack's stdout); nil: the log.
	MailConsole io.Writer
}

// Load reads authd's configuration through getenv. Every problem is reported in the one
// error, one line per variable.
func Load(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Port:     r.Port(DefaultPort),
		Dev:      r.Flag("KEYGATE_DEV"),
		LogLevel: r.OneOf("KEYGATE_LOG_LEVEL", "info", "debug", "info", "warn", "error"),
	}
	c.AdminAddr = r.AdminAddr(DefaultAdminAddr, c.Port)
	c.Auth.Issuer = r.String("KEYGATE_ISSUER", "")
	if c.Auth.Issuer != "" {
		env.CheckIssuer(r, "KEYGATE_ISSUER", c.Auth.Issuer)
		env.CheckHTTPS(r, "KEYGATE_ISSUER", c.Auth.Issuer, c.Dev)
	}
	c.Auth.Audiences = r.List("KEYGATE_AUDIENCES", []string{"orders", "payments"})
	c.Auth.AccessTTL = r.Duration("KEYGATE_ACCESS_TTL", 15*time.Minute, time.Minute, 24*time.Hour)
	c.Auth.Session = session.Policy{
		IdleTTL: r.Duration("KEYGATE_REFRESH_IDLE_TTL", 336*time.Hour, time.Minute, 0),
		MaxTTL:  r.Duration("KEYGATE_REFRESH_MAX_TTL", 720*time.Hour, time.Minute, 0),
		Grace:   r.Duration("KEYGATE_REFRESH_GRACE", 10*time.Second, 0, 5*time.Minute),
	}
	if c.Auth.Session.Grace == 0 {
		c.Auth.Session.Grace = -1 // auth.Config: negative disables the window; zero means default
	}
	c.JWKSMaxAge = r.Duration("KEYGATE_JWKS_MAX_AGE", 5*time.Minute, 0, 24*time.Hour)
	c.FailClosedAfter = r.Duration("KEYGATE_FAIL_CLOSED_AFTER", 0, time.Second, 0)
	c.Keys.Policy = key.Policy{
		RotateEvery: r.Duration("KEYGATE_KEY_ROTATE_EVERY", 720*time.Hour, time.Hour, 0),
		PublishLead: max(2*c.JWKSMaxAge, time.Minute),
	}
	// A key stays published while the tokens it signed live, at the most lenient verifier.
	c.Keys.TokenLife = c.Auth.AccessTTL + auth.DefaultLeeway
	loginLimits(r, &c)
	n, w := r.Limit("KEYGATE_LOGIN_LIMIT_IP", 50, time.Minute)
	c.Auth.LimitAddress = auth.Limit{N: n, Window: w}
	c.Hash.MaxConcurrent = r.Int("KEYGATE_HASH_CONCURRENCY", 0, 1, 1024)
	loadMail(r, getenv, &c)

	if s := r.String("KEYGATE_TRUSTED_PROXIES", ""); s != "" {
		p, err := httpapi.ParseTrustedProxies(s)
		if err != nil {
			r.Fail("KEYGATE_TRUSTED_PROXIES", "want comma-separated CIDRs such as 10.0.0.0/8: %v", err)
		}
		c.TrustedProxies = p
	}
	va, err := httpapi.NewVerifierAccess(r.List("KEYGATE_VERIFIER_TOKENS", nil))
	if err != nil {
		r.Fail("KEYGATE_VERIFIER_TOKENS", "%v", err)
	}
	c.Verifiers = va
	n, w = r.Limit("KEYGATE_INTROSPECT_LIMIT", 6000, time.Minute)
	c.IntrospectLimit = remote.Limit{N: n, Window: w}
	c.AdminEmail = r.String("KEYGATE_ADMIN_EMAIL", "")
	c.AdminPassword = getenv("KEYGATE_ADMIN_PASSWORD") // not trimmed: a password is taken as given
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		r.Fail("KEYGATE_ADMIN_PASSWORD", "set both KEYGATE_ADMIN_EMAIL and KEYGATE_ADMIN_PASSWORD, or neither")
	}

	c.Auth.RefreshSecret = []byte(getenv("KEYGATE_REFRESH_SECRET"))
	if n := len(c.Auth.RefreshSecret); n > 0 && n < 32 {
		r.Fail("KEYGATE_REFRESH_SECRET", "must be at least 32 bytes, got %d", n)
	}
	c.Keys.KEK = r.Base64("KEYGATE_KEK", 32)

	var warnings []string
	c.Config, warnings = stores.Load(r, getenv, c.Dev)
	c.Warnings = append(c.Warnings, warnings...)
	if c.Dev || c.Profile != stores.ProfileMemory { // the memory profile outside dev mode is refused already
		secrets(r, &c)
	}
	return c, r.Err()
}

// loginLimits reads the per-account limits of login and registration. The variable they
// replace, KEYGATE_LOGIN_LIMIT_ACCOUNT (every attempt per e-mail, which let anyone lock a
// user out), is still honoured with a warning: its value becomes the registration limit per
// e-mail and the failed-login limit per account and client.
func loginLimits(r *env.Reader, c *Config) {
	const old = "KEYGATE_LOGIN_LIMIT_ACCOUNT"
	replaced := []string{"KEYGATE_LOGIN_FAILURES_CLIENT", "KEYGATE_REGISTER_LIMIT_ACCOUNT"}
	defReg, defFail := auth.Limit{N: 10, Window: time.Minute}, auth.Limit{N: 10, Window: 15 * time.Minute}
	if r.Set(old) {
		n, w := r.Limit(old, 10, time.Minute)
		defReg, defFail = auth.Limit{N: n, Window: w}, auth.Limit{N: n, Window: w}
		for _, name := range replaced {
			if r.Set(name) {
				r.Fail(old, "replaced by KEYGATE_LOGIN_FAILURES_CLIENT and KEYGATE_REGISTER_LIMIT_ACCOUNT: set only those (%s is set)", name)
			}
		}
		c.Warnings = append(c.Warnings, old+" is deprecated: its value now limits failed logins per account and client "+
			"(KEYGATE_LOGIN_FAILURES_CLIENT) and registrations per e-mail (KEYGATE_REGISTER_LIMIT_ACCOUNT); set those instead")
	}
	n, w := r.Limit("KEYGATE_REGISTER_LIMIT_ACCOUNT", defReg.N, defReg.Window)
	c.Auth.LimitAccount = auth.Limit{N: n, Window: w}
	n, w = r.Limit("KEYGATE_LOGIN_FAILURES_CLIENT", defFail.N, defFail.Window)
	c.Auth.LoginFailures = auth.Limit{N: n, Window: w}
	n, w = r.Limit("KEYGATE_LOGIN_FAILURES_ACCOUNT", 50, time.Hour)
	c.Auth.LoginBrake = auth.Limit{N: n, Window: w}
	c.Auth.BrakeDelay = r.Duration("KEYGATE_LOGIN_BRAKE_DELAY", auth.DefaultBrakeDelay, 0, 10*time.Second)
	if c.Auth.BrakeDelay == 0 {
		c.Auth.BrakeDelay = -1 // auth.Config: negative is no wait; zero means default
	}
}

// smtpVars are the variables of the SMTP server, meaningful only with KEYGATE_SMTP_ADDR.
var smtpVars = []string{"KEYGATE_SMTP_FROM", "KEYGATE_SMTP_USER", "KEYGATE_SMTP_PASSWORD", "KEYGATE_SMTP_TLS",
	"KEYGATE_SMTP_CA_FILE"}

// loadMail reads the account e-mails' settings: the SMTP server, the links' base URL, the
// links' lives, the per-address limit and the registration mode (docs/configuration.md).
func loadMail(r *env.Reader, getenv func(string) string, c *Config) {
	if r.Set("KEYGATE_SMTP_ADDR") {
		sc := smtp.Config{
			Addr:     r.String("KEYGATE_SMTP_ADDR", ""),
			From:     r.String("KEYGATE_SMTP_FROM", ""),
			Username: r.String("KEYGATE_SMTP_USER", ""),
			Password: getenv("KEYGATE_SMTP_PASSWORD"), // not trimmed: a password is taken as given
			TLS:      r.OneOf("KEYGATE_SMTP_TLS", smtp.TLSStartTLS, smtp.TLSStartTLS, smtp.TLSImplicit, smtp.TLSNone),
			CAFile:   r.String("KEYGATE_SMTP_CA_FILE", ""),
		}
		if _, err := smtp.New(sc); err != nil { // checks the address, sender, TLS mode and CA file once, at start
			r.Fail("KEYGATE_SMTP_ADDR", "%v", err)
		}
		c.SMTP = &sc
	} else {
		for _, name := range smtpVars {
			if r.Set(name) {
				r.Fail(name, "set without KEYGATE_SMTP_ADDR")
			}
		}
	}
	if u := r.String("KEYGATE_PUBLIC_URL", ""); u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.RawQuery != "" || p.Fragment != "" {
			r.Fail("KEYGATE_PUBLIC_URL", "want an absolute http(s) URL without query or fragment, got %q", u)
		} else {
			env.CheckHTTPS(r, "KEYGATE_PUBLIC_URL", u, c.Dev)
		}
		c.Auth.PublicURL = u
	} else if c.SMTP != nil {
		c.Warnings = append(c.Warnings, "KEYGATE_SMTP_ADDR is set without KEYGATE_PUBLIC_URL: the links in account e-mails "+
			"open the issuer (/password/reset?token=..., /email/verify?token=...), where authd serves no page; "+
			"set KEYGATE_PUBLIC_URL to the front end that serves them")
	}
	c.Auth.ResetTTL = r.Duration("KEYGATE_RESET_TTL", auth.DefaultResetTTL, time.Minute, 24*time.Hour)
	c.Auth.VerifyTTL = r.Duration("KEYGATE_VERIFY_TTL", auth.DefaultVerifyTTL, time.Minute, 30*24*time.Hour)
	n, w := r.Limit("KEYGATE_MAIL_LIMIT_ACCOUNT", 5, time.Hour)
	c.Auth.LimitMail = auth.Limit{N: n, Window: w}
	mail := c.SMTP != nil || c.Dev
	def := string(auth.RegisterOpen)
	if c.SMTP != nil {
		def = string(auth.RegisterVerify)
	}
	c.Auth.Registration = auth.RegistrationMode(r.OneOf("KEYGATE_REGISTRATION_MODE", def,
		string(auth.RegisterOpen), string(auth.RegisterVerify)))
	if c.Auth.Registration == auth.RegisterVerify && !mail {
		r.Fail("KEYGATE_REGISTRATION_MODE", "verify needs mail: set KEYGATE_SMTP_ADDR (and KEYGATE_SMTP_FROM)")
	}
}

// secrets requires the refresh secret and the KEK outside dev mode, and the KEK whenever a
// database holds the keys (a generated one would leave them unreadable after a restart). In
// dev mode a missing secret is generated, with a warning.
func secrets(r *env.Reader, c *Config) {
	switch {
	case len(c.Auth.RefreshSecret) > 0 || r.Set("KEYGATE_REFRESH_SECRET"):
	case !c.Dev:
		r.Fail("KEYGATE_REFRESH_SECRET", "required outside dev mode: at least 32 bytes, the same on every replica")
	default:
		c.Auth.RefreshSecret = random(32)
		c.Warnings = append(c.Warnings, "dev mode: KEYGATE_REFRESH_SECRET is unset; using a random secret (refresh tokens die with the process)")
	}
	switch {
	case c.Keys.KEK != nil || r.Set("KEYGATE_KEK"):
	case c.Database.Configured():
		r.Fail("KEYGATE_KEK", "required with a database, even in dev mode: base64 of 32 bytes that seals the signing keys it stores")
	case !c.Dev:
		r.Fail("KEYGATE_KEK", "required outside dev mode: base64 of 32 bytes, the same on every replica")
	default:
		c.Keys.KEK = random(32)
		c.Warnings = append(c.Warnings, "dev mode: KEYGATE_KEK is unset; using a random key-encryption key")
	}
}

// Listened completes the configuration once the listener's port is known: the issuer
// defaults to http://localhost:<port>.
func (c *Config) Listened(port int) {
	if c.Auth.Issuer == "" {
		c.Auth.Issuer = "http://localhost:" + strconv.Itoa(port)
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// LogValue shows the configuration without its secrets (refresh secret, KEK, admin password).
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("port", c.Port), slog.String("admin_addr", c.AdminAddr), slog.Bool("dev", c.Dev), slog.String("profile", string(c.Profile)),
		slog.String("issuer", c.Auth.Issuer), slog.Any("audiences", c.Auth.Audiences),
		slog.Duration("access_ttl", c.Auth.AccessTTL), slog.Duration("jwks_max_age", c.JWKSMaxAge),
		slog.String("admin_email", c.AdminEmail), slog.Any("redis", redisValue(c)),
		slog.Any("database", c.Database), slog.Bool("migrate", c.Migrate), slog.Bool("verifier_access", c.Verifiers != nil),
		slog.Any("mail", mailValue(c)), slog.String("registration", string(c.Auth.Registration)),
		slog.String("secrets", "[redacted]"),
	)
}

// mailValue names where account e-mails go (smtp.Config's String leaves out the password).
func mailValue(c Config) any {
	switch {
	case c.SMTP != nil:
		return c.SMTP.String()
	case c.Dev:
		return "console (dev mode)"
	}
	return "none"
}

func redisValue(c Config) any {
	if len(c.Redis.Addrs) == 0 {
		return "none"
	}
	return c.Redis
}

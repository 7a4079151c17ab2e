package authsvc

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/apps/internal/stores"
	"github.com/keygate/keygate/core/auth"
)

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	c, err := Load(getenv(map[string]string{"KEYGATE_DEV": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	c.Listened(8080)
	got := map[string]any{
		"port": c.Port, "issuer": c.Auth.Issuer, "audiences": c.Auth.Audiences, "access": c.Auth.AccessTTL,
		"idle": c.Auth.Session.IdleTTL, "max": c.Auth.Session.MaxTTL, "grace": c.Auth.Session.Grace,
		"rotate": c.Keys.Policy.RotateEvery, "lead": c.Keys.Policy.PublishLead, "jwks": c.JWKSMaxAge,
		"account": c.Auth.LimitAccount, "ip": c.Auth.LimitAddress.N, "profile": c.Profile,
		"failures": c.Auth.LoginFailures, "brake": c.Auth.LoginBrake, "brake delay": c.Auth.BrakeDelay,
		"secret": len(c.Auth.RefreshSecret), "kek": len(c.Keys.KEK),
	}
	want := map[string]any{
		"port": 8080, "issuer": "http://localhost:8080", "audiences": []string{"orders", "payments"},
		"access": 15 * time.Minute, "idle": 336 * time.Hour, "max": 720 * time.Hour, "grace": 10 * time.Second,
		"rotate": 720 * time.Hour, "lead": 10 * time.Minute, "jwks": 5 * time.Minute,
		"account": auth.Limit{N: 10, Window: time.Minute}, "ip": 50, "profile": stores.ProfileMemory, "secret": 32, "kek": 32,
		"failures": auth.Limit{N: 10, Window: 15 * time.Minute}, "brake": auth.Limit{N: 50, Window: time.Hour},
		"brake delay": time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if len(c.Warnings) == 0 {
		t.Error("dev mode with generated secrets gave no warning")
	}
}

// TestLoadLoginLimits: the failure limits and the brake are read; the variable they replace
// still works, with a warning, and is refused beside its replacements.
func TestLoadLoginLimits(t *testing.T) {
	c, err := Load(getenv(map[string]string{"KEYGATE_DEV": "1",
		"KEYGATE_LOGIN_FAILURES_CLIENT": "5/10m", "KEYGATE_LOGIN_FAILURES_ACCOUNT": "200/2h",
		"KEYGATE_LOGIN_BRAKE_DELAY": "0", "KEYGATE_REGISTER_LIMIT_ACCOUNT": "3/1m"}))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Auth.LoginFailures, c.Auth.LoginBrake, c.Auth.BrakeDelay, c.Auth.LimitAccount}
	want := []any{auth.Limit{N: 5, Window: 10 * time.Minute}, auth.Limit{N: 200, Window: 2 * time.Hour},
		time.Duration(-1), auth.Limit{N: 3, Window: time.Minute}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("limits (-want +got):\n%s", diff)
	}

	c, err = Load(getenv(map[string]string{"KEYGATE_DEV": "1", "KEYGATE_LOGIN_LIMIT_ACCOUNT": "4/1h"}))
	if err != nil {
		t.Fatal(err)
	}
	if old := (auth.Limit{N: 4, Window: time.Hour}); c.Auth.LoginFailures != old || c.Auth.LimitAccount != old {
		t.Errorf("KEYGATE_LOGIN_LIMIT_ACCOUNT=4/1h gave failures %v, registrations %v; want %v for both",
			c.Auth.LoginFailures, c.Auth.LimitAccount, old)
	}
	if !strings.Contains(strings.Join(c.Warnings, "\n"), "KEYGATE_LOGIN_LIMIT_ACCOUNT is deprecated") {
		t.Errorf("no deprecation warning: %q", c.Warnings)
	}

	for _, bad := range []map[string]string{
		{"KEYGATE_LOGIN_LIMIT_ACCOUNT": "4/1h", "KEYGATE_LOGIN_FAILURES_CLIENT": "5/1h"},
		{"KEYGATE_LOGIN_BRAKE_DELAY": "1m"},
		{"KEYGATE_LOGIN_FAILURES_ACCOUNT": "0/1h"},
	} {
		bad["KEYGATE_DEV"] = "1"
		if _, err := Load(getenv(bad)); err == nil {
			t.Errorf("Load accepted %v", bad)
		}
	}
}

func TestLoadIssuerKeepsExplicitValue(t *testing.T) {
	c, err := Load(getenv(map[string]string{"KEYGATE_DEV": "1", "KEYGATE_ISSUER": "https://auth.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	c.Listened(1234)
	if c.Auth.Issuer != "https://auth.example.com" {
		t.Errorf("issuer = %q", c.Auth.Issuer)
	}
}

// TestLoadReportsEveryProblem: one line per bad variable, all at once.
func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(getenv(map[string]string{
		"PORT":                        "http",
		"KEYGATE_DEV":                 "yes",
		"KEYGATE_ACCESS_TTL":          "15",
		"KEYGATE_ISSUER":              "https://auth.example.com/",
		"KEYGATE_REFRESH_SECRET":      "short",
		"KEYGATE_KEK":                 "not base64!",
		"KEYGATE_LOGIN_LIMIT_ACCOUNT": "ten",
		"KEYGATE_TRUSTED_PROXIES":     "10.0.0.0/99",
		"KEYGATE_ADMIN_EMAIL":         "admin@example.com",
		"KEYGATE_LOG_LEVEL":           "loud",
		"REDIS_ADDR":                  "redis:6379,redis-2",
		"REDIS_DB":                    "x",
		"KEYGATE_REDIS_PREFIX":        "{kg}",
		"DB_DRIVER":                   "oracle",
		"DB_HOST":                     "db",
		"DB_PORT":                     "99999",
	}))
	if err == nil {
		t.Fatal("Load accepted a broken configuration")
	}
	lines := strings.Split(err.Error(), "\n")
	var got []string
	for _, l := range lines {
		name, _, _ := strings.Cut(strings.TrimPrefix(l, "config: "), ":")
		got = append(got, name)
	}
	want := []string{"PORT", "KEYGATE_DEV", "KEYGATE_LOG_LEVEL", "KEYGATE_ISSUER", "KEYGATE_ACCESS_TTL",
		"KEYGATE_LOGIN_LIMIT_ACCOUNT", "KEYGATE_TRUSTED_PROXIES", "KEYGATE_ADMIN_PASSWORD",
		"KEYGATE_REFRESH_SECRET", "KEYGATE_KEK", "REDIS_ADDR", "REDIS_DB", "KEYGATE_REDIS_PREFIX",
		"DB_DRIVER", "DB_PORT", "DB_NAME"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("variables named (-want +got):\n%s\nfull error:\n%v", diff, err)
	}
}

func TestLoadRefusesMemoryWithoutDev(t *testing.T) {
	_, err := Load(getenv(nil))
	if err == nil || !strings.Contains(err.Error(), "KEYGATE_DEV=1") {
		t.Errorf("error = %v, want a refusal naming KEYGATE_DEV=1", err)
	}
}

func TestConfigLogsNoSecret(t *testing.T) {
	c, err := Load(getenv(map[string]string{
		"KEYGATE_DEV": "1", "KEYGATE_REFRESH_SECRET": "refresh-secret-refresh-secret-refresh",
		"KEYGATE_ADMIN_EMAIL": "root@example.com", "KEYGATE_ADMIN_PASSWORD": "admin-password-123",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "cfg", c)
	for _, secret := range []string{"refresh-secret", "admin-password-123", string(c.Keys.KEK)} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("log line contains a secret: %s", b.String())
		}
	}
	if !strings.Contains(b.String(), "root@example.com") {
		t.Errorf("log line lacks the non-secret settings: %s", b.String())
	}
}

// prodEnv is a complete production configuration on Redis and MySQL.
func prodEnv(extra map[string]string) map[string]string {
	m := map[string]string{
		"KEYGATE_REFRESH_SECRET": strings.Repeat("s", 32),
		"KEYGATE_KEK":            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"REDIS_ADDR":             "redis:6379",
		"DB_HOST":                "mysql",
		"DB_USER":                "keygate",
		"DB_PASSWORD":            "db-password",
		"DB_NAME":                "keygate",
	}
	for k, v := range extra {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

// TestLoadProfiles: which environment selects which adapters.
func TestLoadProfiles(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		want   stores.Profile
		driver string
	}{
		{"nothing, dev", map[string]string{"KEYGATE_DEV": "1"}, stores.ProfileMemory, ""},
		{"redis only, dev", map[string]string{"KEYGATE_DEV": "1", "REDIS_ADDR": "localhost:6379"}, stores.ProfileRedis, ""},
		{"redis and DB_HOST", prodEnv(nil), stores.ProfileRedisMySQL, stores.DriverMySQL},
		{"redis and DB_HOST, DB_DRIVER=postgres", prodEnv(map[string]string{"DB_DRIVER": "postgres"}), stores.ProfileRedisPostgres, stores.DriverPostgres},
		{"redis and a postgres:// URL", prodEnv(map[string]string{"DB_HOST": "", "DB_USER": "", "DB_NAME": "",
			"DATABASE_URL": "postgres://u:p@pg:5432/keygate?sslmode=disable"}), stores.ProfileRedisPostgres, stores.DriverPostgres},
		{"redis and a postgresql:// URL", prodEnv(map[string]string{"DB_HOST": "", "DB_USER": "", "DB_NAME": "",
			"DATABASE_URL": "postgresql://u@pg/keygate"}), stores.ProfileRedisPostgres, stores.DriverPostgres},
		{"redis and a mysql:// URL", prodEnv(map[string]string{"DB_HOST": "", "DB_USER": "", "DB_NAME": "",
			"DATABASE_URL": "mysql://u:p@db:3306/keygate"}), stores.ProfileRedisMySQL, stores.DriverMySQL},
		{"redis and a MySQL DSN", prodEnv(map[string]string{"DB_HOST": "", "DB_USER": "", "DB_NAME": "",
			"DATABASE_URL": "u:p@tcp(db:3306)/keygate"}), stores.ProfileRedisMySQL, stores.DriverMySQL},
		{"sentinels", prodEnv(map[string]string{"REDIS_ADDR": "s1:26379, s2:26379,s3:26379", "REDIS_MASTER_NAME": "keygate"}),
			stores.ProfileRedisMySQL, stores.DriverMySQL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(getenv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Profile != tt.want || c.Database.Driver != tt.driver {
				t.Errorf("profile %q driver %q, want %q %q", c.Profile, c.Database.Driver, tt.want, tt.driver)
			}
		})
	}
}

func TestLoadRedisAndDatabaseSettings(t *testing.T) {
	c, err := Load(getenv(prodEnv(map[string]string{
		"REDIS_ADDR": "s1:26379,s2:26379", "REDIS_PASSWORD": " pw ", "REDIS_MASTER_NAME": "keygate", "REDIS_DB": "2",
		"REDIS_SENTINEL_PASSWORD": "sentinel-pw", "KEYGATE_REDIS_PREFIX": "staging", "DB_PORT": "3307", "KEYGATE_MIGRATE": "1",
	})))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"addrs": c.Redis.Addrs, "password": c.Redis.Password, "master": c.Redis.MasterName, "db": c.Redis.DB,
		"sentinel_password": c.Redis.SentinelPassword,
		"prefix":            c.Redis.Prefix, "host": c.Database.MySQL.Host, "port": c.Database.MySQL.Port,
		"user": c.Database.MySQL.User, "dbpw": c.Database.MySQL.Password, "name": c.Database.MySQL.Name,
		"migrate": c.Migrate, "warnings": len(c.Warnings),
	}
	want := map[string]any{
		"addrs": []string{"s1:26379", "s2:26379"}, "password": " pw ", "master": "keygate", "db": 2,
		"sentinel_password": "sentinel-pw",
		"prefix":            "staging", "host": "mysql", "port": 3307, "user": "keygate", "dbpw": "db-password",
		"name": "keygate", "migrate": true, "warnings": 0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	c, err = Load(getenv(prodEnv(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.Prefix != "keygate" {
		t.Errorf("default prefix %q, want keygate", c.Redis.Prefix)
	}
}

// TestLoadRefusals: each incomplete or contradictory profile stops the process with a line
// naming the variable to set.
func TestLoadRefusals(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string // variables named, in order
	}{
		{"memory without dev", nil, []string{"KEYGATE_DEV"}},
		{"redis without a database outside dev", prodEnv(map[string]string{"DB_HOST": "", "DB_USER": "", "DB_NAME": ""}),
			[]string{"DB_HOST"}},
		{"a database without redis", prodEnv(map[string]string{"REDIS_ADDR": ""}), []string{"REDIS_ADDR"}},
		{"a database without redis, even in dev", prodEnv(map[string]string{"REDIS_ADDR": "", "KEYGATE_DEV": "1"}), []string{"REDIS_ADDR"}},
		{"no secrets outside dev", prodEnv(map[string]string{"KEYGATE_REFRESH_SECRET": "", "KEYGATE_KEK": ""}),
			[]string{"KEYGATE_REFRESH_SECRET", "KEYGATE_KEK"}},
		{"no KEK with a database in dev", prodEnv(map[string]string{"KEYGATE_DEV": "1", "KEYGATE_KEK": "", "KEYGATE_REFRESH_SECRET": ""}),
			[]string{"KEYGATE_KEK"}},
		{"DB_HOST without DB_NAME", prodEnv(map[string]string{"DB_NAME": ""}), []string{"DB_NAME"}},
		{"both DB_HOST and DATABASE_URL", prodEnv(map[string]string{"DATABASE_URL": "mysql://u@db/keygate"}), []string{"DATABASE_URL"}},
		{"driver and URL disagree", prodEnv(map[string]string{"DB_HOST": "", "DB_NAME": "", "DB_DRIVER": "mysql",
			"DATABASE_URL": "postgres://u@pg/keygate"}), []string{"DB_DRIVER"}},
		{"unknown URL scheme", prodEnv(map[string]string{"DB_HOST": "", "DB_NAME": "", "DATABASE_URL": "sqlite://x"}), []string{"DATABASE_URL"}},
		{"bad MySQL DSN", prodEnv(map[string]string{"DB_HOST": "", "DB_NAME": "", "DATABASE_URL": "u:p@tcp(db:3306)"}), []string{"DATABASE_URL"}},
		{"migrate without a database", map[string]string{"KEYGATE_DEV": "1", "KEYGATE_MIGRATE": "1"}, []string{"KEYGATE_MIGRATE"}},
		{"DB parts without DB_HOST", map[string]string{"KEYGATE_DEV": "1", "DB_NAME": "keygate"}, []string{"DB_NAME"}},
		{"sentinel name without REDIS_ADDR", map[string]string{"KEYGATE_DEV": "1", "REDIS_MASTER_NAME": "m"}, []string{"REDIS_MASTER_NAME"}},
		{"sentinel password without a master name", prodEnv(map[string]string{"REDIS_SENTINEL_PASSWORD": "x"}), []string{"REDIS_SENTINEL_PASSWORD"}},
		{"bad redis address", prodEnv(map[string]string{"REDIS_ADDR": "redis"}), []string{"REDIS_ADDR"}},
		{"http issuer outside dev", prodEnv(map[string]string{"KEYGATE_ISSUER": "http://auth.example.com"}), []string{"KEYGATE_ISSUER"}},
		{"schema wait without a database", map[string]string{"KEYGATE_DEV": "1", "KEYGATE_SCHEMA_WAIT": "1m"}, []string{"KEYGATE_SCHEMA_WAIT"}},
		{"schema wait not a duration", prodEnv(map[string]string{"KEYGATE_SCHEMA_WAIT": "until done"}), []string{"KEYGATE_SCHEMA_WAIT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(getenv(tt.env))
			if err == nil {
				t.Fatal("Load accepted it")
			}
			var got []string
			for l := range strings.SplitSeq(err.Error(), "\n") {
				name, _, _ := strings.Cut(strings.TrimPrefix(l, "config: "), ":")
				got = append(got, name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("variables named (-want +got):\n%s\nfull error:\n%v", diff, err)
			}
		})
	}
}

// TestLoadRedisWithoutDatabaseWarnsOnce: the dev-only Redis profile says so in one line.
func TestLoadRedisWithoutDatabaseWarnsOnce(t *testing.T) {
	c, err := Load(getenv(map[string]string{"KEYGATE_DEV": "1", "REDIS_ADDR": "localhost:6379",
		"KEYGATE_REFRESH_SECRET": strings.Repeat("s", 32), "KEYGATE_KEK": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "without a database") {
		t.Errorf("warnings = %q, want one about running without a database", c.Warnings)
	}
}

func TestConfigLogsNoDatabaseSecret(t *testing.T) {
	for _, env := range []map[string]string{
		prodEnv(map[string]string{"REDIS_PASSWORD": "redis-password-1"}),
		prodEnv(map[string]string{"DB_HOST": "", "DB_NAME": "", "DATABASE_URL": "postgres://u:db-password@pg/keygate"}),
	} {
		c, err := Load(getenv(env))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "cfg", c)
		for _, secret := range []string{"db-password", "redis-password-1"} {
			if strings.Contains(b.String(), secret) {
				t.Errorf("log line contains a secret: %s", b.String())
			}
		}
	}
}

// TestMailLinksWithoutAPublicURLWarn: with mail on and no KEYGATE_PUBLIC_URL the links open
// the issuer, where authd serves no page: said once at start; with it, nothing is said.
func TestMailLinksWithoutAPublicURLWarn(t *testing.T) {
	base := map[string]string{"KEYGATE_DEV": "1", "KEYGATE_SMTP_ADDR": "127.0.0.1:2525", "KEYGATE_SMTP_FROM": "no-reply@example.com", "KEYGATE_SMTP_TLS": "none"}
	c, err := Load(getenv(base))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(c.Warnings, "\n"), "without KEYGATE_PUBLIC_URL") {
		t.Errorf("no warning about the links' base: %q", c.Warnings)
	}
	base["KEYGATE_PUBLIC_URL"] = "https://app.example.com"
	if c, err = Load(getenv(base)); err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(c.Warnings, "\n"); strings.Contains(w, "KEYGATE_PUBLIC_URL") {
		t.Errorf("a warning with KEYGATE_PUBLIC_URL set: %q", w)
	}
}

package authsvc

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
		"rotate": c.Auth.Keys.RotateEvery, "lead": c.Auth.Keys.PublishLead, "jwks": c.JWKSMaxAge,
		"account": c.Auth.LimitAccount.N, "ip": c.Auth.LimitAddress.N, "profile": c.Profile,
		"secret": len(c.Auth.RefreshSecret), "kek": len(c.Auth.KEK),
	}
	want := map[string]any{
		"port": 8080, "issuer": "http://localhost:8080", "audiences": []string{"orders", "payments"},
		"access": 15 * time.Minute, "idle": 336 * time.Hour, "max": 720 * time.Hour, "grace": 10 * time.Second,
		"rotate": 720 * time.Hour, "lead": 10 * time.Minute, "jwks": 5 * time.Minute,
		"account": 10, "ip": 50, "profile": ProfileMemory, "secret": 32, "kek": 32,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if len(c.Warnings) == 0 {
		t.Error("dev mode with generated secrets gave no warning")
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
		"REDIS_ADDR":                  "redis:6379",
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
		"KEYGATE_REFRESH_SECRET", "KEYGATE_KEK", "REDIS_ADDR", "KEYGATE_DEV"}
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
	for _, secret := range []string{"refresh-secret", "admin-password-123", string(c.Auth.KEK)} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("log line contains a secret: %s", b.String())
		}
	}
	if !strings.Contains(b.String(), "root@example.com") {
		t.Errorf("log line lacks the non-secret settings: %s", b.String())
	}
}

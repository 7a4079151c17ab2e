package demo

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/apps/verifier"
	"github.com/keygate/keygate/core/guard"
)

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDefaultsAgreeWithAuthd(t *testing.T) {
	for _, kind := range []string{Orders, Payments} {
		c, err := Load(getenv(map[string]string{"KEYGATE_DEV": "1"}), kind, 8081, ":9091")
		if err != nil {
			t.Fatal(err)
		}
		want := guard.Config{Issuer: "http://localhost:8080", Audiences: []string{kind},
			Leeway: 30 * time.Second, MaxAge: 15 * time.Minute,
			CacheEntries: guard.DefaultCacheEntries, CacheBytes: guard.DefaultCacheBytes}
		if diff := cmp.Diff(want, c.Verifier.Guard); diff != "" {
			t.Errorf("%s guard config (-want +got):\n%s", kind, diff)
		}
		if c.Verifier.Keys.Issuer != "http://localhost:8080" || c.Verifier.Keys.URL != "" {
			t.Errorf("%s keys config = %+v, want discovery from the default issuer", kind, c.Verifier.Keys)
		}
		if len(c.Verifier.Warnings) == 0 {
			t.Errorf("%s: no warning about running without a revocation feed", kind)
		}
	}
}

func TestLoadRefusesNoFeedWithoutDev(t *testing.T) {
	_, err := Load(getenv(map[string]string{"KEYGATE_ISSUER": "https://auth.example.com"}), Orders, 8081, ":9091")
	if err == nil || !strings.Contains(err.Error(), "REDIS_ADDR") {
		t.Errorf("error = %v, want a refusal naming REDIS_ADDR", err)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(getenv(map[string]string{
		"KEYGATE_DEV": "1", "KEYGATE_LEEWAY": "5m", "KEYGATE_MAX_TOKEN_AGE": "soon",
		"KEYGATE_ISSUER": "auth.example.com", "KEYGATE_FAIL_CLOSED_AFTER": "-1s",
	}), Payments, 8082, ":9092")
	if err == nil {
		t.Fatal("Load accepted a broken configuration")
	}
	for _, name := range []string{"KEYGATE_LEEWAY", "KEYGATE_MAX_TOKEN_AGE", "KEYGATE_ISSUER", "KEYGATE_FAIL_CLOSED_AFTER"} {
		if !strings.Contains(err.Error(), "config: "+name+":") {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n != 4 {
		t.Errorf("%d lines, want one per bad variable:\n%v", n, err)
	}
}

// TestLoadRedisProfile: REDIS_ADDR selects the Redis revocation feed, with no warning, and the
// fail-closed bound reaches the guard.
func TestLoadRedisProfile(t *testing.T) {
	c, err := Load(getenv(map[string]string{
		"REDIS_ADDR": "s1:26379,s2:26379", "REDIS_MASTER_NAME": "keygate", "REDIS_PASSWORD": "pw",
		"KEYGATE_REDIS_PREFIX": "staging", "KEYGATE_FAIL_CLOSED_AFTER": "2m",
	}), Orders, 8081, ":9091")
	if err != nil {
		t.Fatal(err)
	}
	v := c.Verifier
	if v.Profile() != verifier.ProfileRedis || len(v.Warnings) != 0 {
		t.Errorf("profile %q warnings %q, want redis and none", v.Profile(), v.Warnings)
	}
	if diff := cmp.Diff([]string{"s1:26379", "s2:26379"}, v.Redis.Addrs); diff != "" || v.Redis.MasterName != "keygate" ||
		v.Redis.Password != "pw" || v.Redis.Prefix != "staging" {
		t.Errorf("redis config %+v", v.Redis)
	}
	if v.Guard.FailClosedAfter != 2*time.Minute {
		t.Errorf("FailClosedAfter = %v, want 2m", v.Guard.FailClosedAfter)
	}
}

func TestLoadRedisBadSettings(t *testing.T) {
	_, err := Load(getenv(map[string]string{"REDIS_ADDR": "redis", "REDIS_DB": "-1", "KEYGATE_REDIS_PREFIX": "a}b"}), Payments, 8082, ":9092")
	for _, name := range []string{"REDIS_ADDR", "REDIS_DB", "KEYGATE_REDIS_PREFIX"} {
		if err == nil || !strings.Contains(err.Error(), "config: "+name+":") {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

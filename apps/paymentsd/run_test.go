package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunRefusesToStartWithoutARevocationFeed(t *testing.T) {
	env := map[string]string{"PORT": "0", "KEYGATE_ISSUER": "http://localhost:8080"}
	err := run(t.Context(), []string{"paymentsd"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "REDIS_ADDR") || !strings.Contains(err.Error(), "KEYGATE_DEV=1") {
		t.Errorf("run = %v, want a refusal naming REDIS_ADDR and KEYGATE_DEV=1", err)
	}
}

func TestRunReportsEveryBadVariable(t *testing.T) {
	env := map[string]string{"PORT": "-1", "KEYGATE_DEV": "1", "KEYGATE_LEEWAY": "10m"}
	err := run(t.Context(), []string{"paymentsd"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "config: PORT:") || !strings.Contains(err.Error(), "config: KEYGATE_LEEWAY:") {
		t.Errorf("run = %v, want one line for PORT and one for KEYGATE_LEEWAY", err)
	}
}

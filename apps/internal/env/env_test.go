package env

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func reader(m map[string]string) *Reader { return New(func(k string) string { return m[k] }) }

func TestValidValues(t *testing.T) {
	r := reader(map[string]string{
		"D": "90s", "L": " a, b ,,c ", "N": "7", "F": "1", "K": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"RL": "10/1m", "O": "WARN",
	})
	n, w := r.Limit("RL", 1, time.Second)
	got := []any{r.Duration("D", 0, 0, 0), r.List("L", nil), r.Int("N", 0, 1, 10), r.Flag("F"),
		len(r.Base64("K", 32)), n, w, r.OneOf("O", "info", "debug", "info", "warn"), r.String("UNSET", "def")}
	want := []any{90 * time.Second, []string{"a", "b", "c"}, 7, true, 32, 10, time.Minute, "warn", "def"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if err := r.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
}

func TestBadValuesAreEachReported(t *testing.T) {
	tests := []struct {
		name  string
		value string
		read  func(r *Reader)
		want  string
	}{
		{"duration syntax", "99 bottles!", func(r *Reader) { r.Duration("X", 0, 0, 0) }, "config: X: want a duration"},
		{"duration below", "1m", func(r *Reader) { r.Duration("X", 0, time.Hour, 0) }, "at least 1h0m0s"},
		{"duration above", "3h", func(r *Reader) { r.Duration("X", 0, 0, time.Second) }, "from 0s to 1s"},
		{"int", "99 bottles!", func(r *Reader) { r.Int("X", 0, 0, 5) }, "config: X: want an integer from 0 to 5"},
		{"flag", "99 bottles!", func(r *Reader) { r.Flag("X") }, "config: X: want 1 or 0"},
		{"base64", "99 bottles!", func(r *Reader) { r.Base64("X", 32) }, "config: X: not base64"},
		{"limit", "99 bottles!", func(r *Reader) { r.Limit("X", 1, time.Second) }, "config: X: want N/window"},
		{"one of", "99 bottles!", func(r *Reader) { r.OneOf("X", "a", "a", "b") }, "config: X: want one of a, b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reader(map[string]string{"X": tt.value})
			tt.read(r)
			if err := r.Err(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCheckHTTPS(t *testing.T) {
	tests := []struct {
		url  string
		dev  bool
		fail bool
	}{
		{"https://auth.example.com", false, false},
		{"http://auth.example.com", false, true},
		{"http://authd:8080", false, true},
		{"http://auth.example.com", true, false},
		{"http://localhost:8080", false, false},
		{"http://127.0.0.1:41234/auth", false, false},
		{"http://[::1]:8080", false, false},
		{"http://127.0.0.1.example.com", false, true},
	}
	for _, tt := range tests {
		r := New(func(string) string { return "" })
		CheckHTTPS(r, "KEYGATE_ISSUER", tt.url, tt.dev)
		if got := r.Err() != nil; got != tt.fail {
			t.Errorf("CheckHTTPS(%q, dev=%v) error %v, want failing %v", tt.url, tt.dev, r.Err(), tt.fail)
		}
	}
}

func TestAdminAddr(t *testing.T) {
	tests := []struct {
		name  string
		value string
		port  int
		want  string
	}{
		{"unset: the default", "", 8080, ":9090"},
		{"unset with PORT=0: a free port", "", 0, ":0"},
		{"off", "off", 8080, ""},
		{"OFF", " OFF ", 0, ""},
		{"host and port", "127.0.0.1:9191", 8080, "127.0.0.1:9191"},
		{"a bare port", "9191", 8080, ":9191"},
		{"set wins over PORT=0", "127.0.0.1:0", 0, "127.0.0.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reader(map[string]string{"KEYGATE_ADMIN_ADDR": tt.value})
			if got := r.AdminAddr(":9090", tt.port); got != tt.want || r.Err() != nil {
				t.Errorf("AdminAddr = %q (%v), want %q", got, r.Err(), tt.want)
			}
		})
	}
	for _, bad := range []string{"localhost", "host:port", ":70000", "on"} {
		r := reader(map[string]string{"KEYGATE_ADMIN_ADDR": bad})
		r.AdminAddr(":9090", 8080)
		if err := r.Err(); err == nil || !strings.Contains(err.Error(), "config: KEYGATE_ADMIN_ADDR: want host:port") {
			t.Errorf("KEYGATE_ADMIN_ADDR=%q: Err = %v, want a clear refusal", bad, err)
		}
	}
}

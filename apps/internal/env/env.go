// Package env reads keygate's configuration from environment variables, collecting every
// problem so a process reports them all at once, one line per variable, before it stops.
// The names and defaults are those of docs/configuration.md; only apps/ reads the environment.
package env

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Reader reads variables through getenv and remembers what was wrong with them.
type Reader struct {
	getenv func(string) string
	errs   []error
}

// New returns a Reader over getenv (os.Getenv in main, a map in tests).
func New(getenv func(string) string) *Reader { return &Reader{getenv: getenv} }

// Fail records a problem with variable name.
func (r *Reader) Fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("config: %s: %s", name, fmt.Sprintf(format, args...)))
}

// Err returns every recorded problem joined (one per line), or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Set reports whether name is set to a non-empty value.
func (r *Reader) Set(name string) bool { return strings.TrimSpace(r.getenv(name)) != "" }

// String returns name's value, or def when it is unset or empty.
func (r *Reader) String(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

// Flag returns whether name is "1" (or "true"); unset, "0" or "false" is false; anything else
// is a problem.
func (r *Reader) Flag(name string) bool {
	switch strings.ToLower(strings.TrimSpace(r.getenv(name))) {
	case "", "0", "false":
		return false
	case "1", "true":
		return true
	default:
		r.Fail(name, "want 1 or 0, got %q", r.getenv(name))
		return false
	}
}

// CertPool returns the PEM certificates of the file name points at (a CA bundle), or nil
// when name is unset: the caller then trusts the system's roots.
func (r *Reader) CertPool(name string) *x509.CertPool {
	file := r.String(name, "")
	if file == "" {
		return nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		r.Fail(name, "cannot read the CA bundle: %v", err)
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		r.Fail(name, "no PEM certificate in %s", file)
		return nil
	}
	return pool
}

// Int returns name as an integer in [lo, hi], or def when unset.
func (r *Reader) Int(name string, def, lo, hi int) int {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.Fail(name, "want an integer from %d to %d, got %q", lo, hi, v)
		return def
	}
	return n
}

// Port returns PORT (0 to 65535; 0 picks a free port), or def when unset.
func (r *Reader) Port(def int) int { return r.Int("PORT", def, 0, 65535) }

// AdminOff is the KEYGATE_ADMIN_ADDR value that turns the admin listener off.
const AdminOff = "off"

// AdminAddr returns KEYGATE_ADMIN_ADDR, the address of the admin listener (metrics and the
// detailed readiness report; never to be exposed publicly): a host:port (or a bare port, read
// as ":port"; port 0 picks a free one), or "" for "off" (no admin listener). Unset, it is def
// (such as ":9090"), except that with public port 0 (PORT=0: tests, a stack on free ports)
// the default picks a free port too, on def's host.
func (r *Reader) AdminAddr(def string, publicPort int) string {
	const name = "KEYGATE_ADMIN_ADDR"
	v := strings.TrimSpace(r.getenv(name))
	switch {
	case strings.EqualFold(v, AdminOff):
		return ""
	case v == "" && publicPort == 0:
		host, _, _ := net.SplitHostPort(def)
		return net.JoinHostPort(host, "0")
	case v == "":
		return def
	}
	if _, err := strconv.Atoi(v); err == nil {
		v = ":" + v
	}
	_, port, err := net.SplitHostPort(v)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		r.Fail(name, "want host:port (such as :9090 or 127.0.0.1:9090), a port, or %q, got %q", AdminOff, r.getenv(name))
		return def
	}
	return v
}

// Duration returns name as a Go duration in [lo, hi] (hi 0: no upper bound), or def when unset.
func (r *Reader) Duration(name string, def, lo, hi time.Duration) time.Duration {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.Fail(name, "want a duration such as 15m or 336h, got %q", v)
		return def
	}
	if d < lo || (hi > 0 && d > hi) {
		if hi > 0 {
			r.Fail(name, "want a duration from %v to %v, got %v", lo, hi, d)
		} else {
			r.Fail(name, "want a duration of at least %v, got %v", lo, d)
		}
		return def
	}
	return d
}

// List returns name split on commas, blanks dropped, or def when unset.
func (r *Reader) List(name string, def []string) []string {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		r.Fail(name, "empty list")
		return def
	}
	return out
}

// Base64 returns name decoded from standard or URL base64 (padded or not), or nil when unset.
// A value of the wrong length is a problem when size is positive.
func (r *Reader) Base64(name string, size int) []byte {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			if size > 0 && len(b) != size {
				r.Fail(name, "want base64 of %d bytes, got %d bytes", size, len(b))
				return nil
			}
			return b
		}
	}
	r.Fail(name, "not base64")
	return nil
}

// Limit parses a rate limit "N/window" such as "10/1m", or returns def when unset.
func (r *Reader) Limit(name string, defN int, defWindow time.Duration) (int, time.Duration) {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return defN, defWindow
	}
	ns, ws, ok := strings.Cut(v, "/")
	n, err1 := strconv.Atoi(strings.TrimSpace(ns))
	w, err2 := time.ParseDuration(strings.TrimSpace(ws))
	if !ok || err1 != nil || err2 != nil || n <= 0 || w <= 0 {
		r.Fail(name, "want N/window such as 10/1m, got %q", v)
		return defN, defWindow
	}
	return n, w
}

// OneOf returns name's value if it is one of allowed, def when unset.
func (r *Reader) OneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(strings.TrimSpace(r.getenv(name)))
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.Fail(name, "want one of %s, got %q", strings.Join(allowed, ", "), r.getenv(name))
	return def
}

// CheckHTTPS reports a URL that is not https:// outside dev mode (see PlainHTTP).
func CheckHTTPS(r *Reader, name, rawURL string, dev bool) {
	if !dev && PlainHTTP(rawURL) {
		r.Fail(name, "must be an https:// URL outside dev mode (KEYGATE_DEV=1), got %q: it is in every token and tells verifiers where the keys are", rawURL)
	}
}

// PlainHTTP reports an http:// URL whose host is not loopback. Plain http:// to localhost,
// 127.0.0.0/8 or ::1 never leaves the machine: tests and a local proxy use it. A URL that
// does not parse is not reported here (CheckIssuer and the consumers report it).
func PlainHTTP(rawURL string) bool {
	if !strings.HasPrefix(rawURL, "http://") {
		return false
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	host := u.Hostname()
	ip, err := netip.ParseAddr(host)
	return host != "localhost" && !(err == nil && ip.IsLoopback())
}

// CheckIssuer reports an issuer that is not an absolute http(s) URL without a trailing slash.
func CheckIssuer(r *Reader, name, issuer string) {
	if !(strings.HasPrefix(issuer, "http://") || strings.HasPrefix(issuer, "https://")) ||
		strings.HasSuffix(issuer, "/") || strings.ContainsAny(issuer, "?# ") {
		r.Fail(name, "want an absolute http(s) URL without a trailing slash, query or fragment, got %q", issuer)
	}
}

package httpapi

import (
	"strings"
	"testing"
)

func TestNewVerifierAccess(t *testing.T) {
	long := strings.Repeat("a", MinVerifierTokenLen)
	other := strings.Repeat("b", MinVerifierTokenLen+8)
	for name, tokens := range map[string][]string{
		"short":        {long, "tooshort"},
		"space":        {strings.Repeat("a ", MinVerifierTokenLen)},
		"control char": {long + "\x01"},
		"twice":        {long, long},
	} {
		if _, err := NewVerifierAccess(tokens); err == nil {
			t.Errorf("%s: NewVerifierAccess(%q) accepted", name, tokens)
		}
	}
	if va, err := NewVerifierAccess(nil); va != nil || err != nil {
		t.Errorf("no tokens = %v, %v, want nil, nil (access off)", va, err)
	}
	va, err := NewVerifierAccess([]string{long, other})
	if err != nil {
		t.Fatal(err)
	}
	n1, ok1 := va.identify(long)
	n2, ok2 := va.identify(other)
	if !ok1 || !ok2 || n1 == n2 || strings.Contains(n1, long) {
		t.Errorf("identify = %q %v, %q %v: want two distinct names that do not reveal the secret", n1, ok1, n2, ok2)
	}
	for _, bad := range []string{"", long[:31], long + "a", strings.ToUpper(long)} {
		if _, ok := va.identify(bad); ok {
			t.Errorf("identify(%q) accepted", bad)
		}
	}
	// The same secret has the same name on every replica (rate limits are shared).
	va2, _ := NewVerifierAccess([]string{other})
	if n, _ := va2.identify(other); n != n2 {
		t.Errorf("name of the same secret differs: %q vs %q", n, n2)
	}
}

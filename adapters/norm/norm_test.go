package norm_test

import (
	"errors"
	"testing"

	textnorm "golang.org/x/text/unicode/norm"

	"github.com/keygate/keygate/adapters/norm"
	"github.com/keygate/keygate/core/identity"
)

func TestNFKC(t *testing.T) {
	n := norm.New()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"ascii unchanged", "Passw0rd!", "Passw0rd!"},
		{"decomposed e acute composes", "e\u0301", "\u00e9"},
		{"kelvin sign", "\u212a", "K"},
		{"angstrom sign", "\u212b", "\u00c5"},
		{"fullwidth letters", "ｐａｓｓ", "pass"},
		{"ffi ligature", "o\ufb03ce", "office"},
		{"superscript two", "x\u00b2", "x2"},
		{"dotless i is its own letter", "m\u0131ke", "m\u0131ke"},
		{"sharp s is not folded", "stra\u00dfe", "stra\u00dfe"},
		{"hangul jamo compose", "\u1100\u1161", "\uac00"},
		{"invalid utf-8 passes through", "a\xffb", "a\xffb"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := n.NFKC(tt.in); got != tt.want {
				t.Errorf("NFKC(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestNormalizeEmail shows what a user notices: the decomposed and composed spellings of one
// address are one account, while look-alike letters stay distinct addresses.
func TestNormalizeEmail(t *testing.T) {
	n := norm.New()
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"composed and decomposed", "Jos\u00e9@Example.org", "jose\u0301@example.org", true},
		{"kelvin sign is k", "\u212aate@example.org", "kate@example.org", true},
		{"dotless i stays distinct", "m\u0131ke@example.org", "mike@example.org", false},
		{"fullwidth local part is its plain twin", "ａdmin@example.org", "admin@example.org", true},
		{"fullwidth domain is its plain twin", "admin@ｅｘａｍｐｌｅ．ｃｏｍ", "admin@example.com", true},
		{"ideographic full stop separates labels", "admin@example\u3002com", "admin@example.com", true},
		{"J with combining caron is the precomposed j caron", "J\u030c@example.org", "\u01f0@example.org", true},
		{"case folding: final sigma", "\u03a3\u03bf\u03c6\u03b9\u03b1@example.org", "\u03c3\u03bf\u03c6\u03b9\u03b1@example.org", true},
		{"upper-case domain", "admin@EXAMPLE.COM", "admin@example.com", true},
		{"A-label and U-label of one domain", "jose@xn--bcher-kva.example", "jose@b\u00fccher.example", true},
		{"latin and cyrillic a stay distinct", "\u0430dmin@example.org", "admin@example.org", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := identity.NormalizeEmail(tt.a, n.Email)
			if err != nil {
				t.Fatal(err)
			}
			b, err := identity.NormalizeEmail(tt.b, n.Email)
			if err != nil {
				t.Fatal(err)
			}
			if got := a == b; got != tt.same {
				t.Errorf("NormalizeEmail(%q) = %q, NormalizeEmail(%q) = %q: same = %v, want %v", tt.a, a, tt.b, b, got, tt.same)
			}
		})
	}
}

// TestEmailRefusesInvisibles shows that an address carrying a character a person cannot see
// is refused, not registered beside its visible twin (issue 10's look-alike accounts).
func TestEmailRefusesInvisibles(t *testing.T) {
	n := norm.New()
	for name, in := range map[string]string{
		"zero-width space":        "admin\u200b@example.com",
		"zero-width joiner":       "ad\u200dmin@example.com",
		"soft hyphen":             "ad\u00admin@example.com",
		"byte-order mark":         "\ufeffadmin@example.com",
		"right-to-left override":  "admin\u202e@example.com",
		"left-to-right mark":      "admin@exa\u200emple.com",
		"first strong isolate":    "\u2068admin@example.com",
		"arabic letter mark":      "admin\u061c@example.com",
		"word joiner":             "admin\u2060@example.com",
		"invisible separator":     "a\u2063dmin@example.com",
		"tag character":           "admin\U000e0041@example.com",
		"domain with underscore":  "admin@exa_mple.com",
		"domain label hyphen end": "admin@example-.com",
		"invalid utf-8":           "admin\xff@example.com",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := identity.NormalizeEmail(in, n.Email)
			if !errors.Is(err, identity.ErrInvalidEmail) {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want ErrInvalidEmail", in, got, err)
			}
		})
	}
}

// TestEmailStable: the stored form is a fixed point, so an address read back from the store
// and normalised again finds the same row, and the stored form is NFC.
func TestEmailStable(t *testing.T) {
	n := norm.New()
	for _, in := range []string{"J\u030c@example.org", "Jos\u00e9@Example.org", "STRASSE@b\u00fccher.example",
		"\u13a0\u13a1@example.org", "ｍｉｘｅｄ.Ｃａｓｅ+tag@ｅｘａｍｐｌｅ.org", "o'brien@example.org"} {
		once, err := identity.NormalizeEmail(in, n.Email)
		if err != nil {
			t.Fatalf("NormalizeEmail(%q): %v", in, err)
		}
		twice, err := identity.NormalizeEmail(once, n.Email)
		if err != nil || twice != once {
			t.Errorf("NormalizeEmail(%q) = %q, again %q, %v: not a fixed point", in, once, twice, err)
		}
		if !textnorm.NFC.IsNormalString(once) {
			t.Errorf("stored form %q of %q is not NFC", once, in)
		}
	}
}

// FuzzEmail: whatever arrives, Email does not panic, and an accepted address normalises to a
// fixed point (the stored form finds its own row again).
func FuzzEmail(f *testing.F) {
	for _, s := range []string{"a@example.org", "J\u030c@example.org", "admin@ｅｘａｍｐｌｅ．ｃｏｍ", "x@xn--bcher-kva.example", "\u13a0@x.org", "a\u200b@b.c", "@", ""} {
		f.Add(s)
	}
	n := norm.New()
	f.Fuzz(func(t *testing.T, in string) {
		once, err := identity.NormalizeEmail(in, n.Email)
		if err != nil {
			return
		}
		if twice, err := identity.NormalizeEmail(once, n.Email); err != nil || twice != once {
			t.Fatalf("NormalizeEmail(%q) = %q, again %q, %v", in, once, twice, err)
		}
	})
}

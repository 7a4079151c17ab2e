package norm_test

import (
	"testing"

	"github.com/keygate/keygate/adapters/norm"
	"github.com/keygate/keygate/core/identity"
)

func TestNormalizer(t *testing.T) {
	n := norm.New()
	tests := []struct {
		name string
		in   string
		nfc  string
		nfkc string
	}{
		{"ascii unchanged", "Passw0rd!", "Passw0rd!", "Passw0rd!"},
		{"decomposed e acute composes", "e\u0301", "\u00e9", "\u00e9"},
		{"precomposed stays", "\u00e9", "\u00e9", "\u00e9"},
		{"kelvin sign", "\u212a", "K", "K"}, // canonical singleton: even NFC maps it
		{"angstrom sign", "\u212b", "\u00c5", "\u00c5"},
		{"fullwidth letters only under NFKC", "ｐａｓｓ", "ｐａｓｓ", "pass"},
		{"ffi ligature only under NFKC", "o\ufb03ce", "o\ufb03ce", "office"},
		{"superscript two only under NFKC", "x\u00b2", "x\u00b2", "x2"},
		{"dotless i is its own letter", "m\u0131ke", "m\u0131ke", "m\u0131ke"},
		{"sharp s is not folded", "stra\u00dfe", "stra\u00dfe", "stra\u00dfe"},
		{"hangul jamo compose", "\u1100\u1161", "\uac00", "\uac00"},
		{"invalid utf-8 passes through", "a\xffb", "a\xffb", "a\xffb"},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := n.NFC(tt.in); got != tt.nfc {
				t.Errorf("NFC(%q) = %q, want %q", tt.in, got, tt.nfc)
			}
			if got := n.NFKC(tt.in); got != tt.nfkc {
				t.Errorf("NFKC(%q) = %q, want %q", tt.in, got, tt.nfkc)
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
		{"fullwidth stays distinct under NFC", "ａ@example.org", "a@example.org", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := identity.NormalizeEmail(tt.a, n.NFC)
			if err != nil {
				t.Fatal(err)
			}
			b, err := identity.NormalizeEmail(tt.b, n.NFC)
			if err != nil {
				t.Fatal(err)
			}
			if got := a == b; got != tt.same {
				t.Errorf("NormalizeEmail(%q) = %q, NormalizeEmail(%q) = %q: same = %v, want %v", tt.a, a, tt.b, b, got, tt.same)
			}
		})
	}
}

// Package norm implements ports.Normalizer with golang.org/x/text and golang.org/x/net/idna:
// the comparable form of e-mail addresses (no format or bidi characters, width-mapped,
// case-folded, NFC; the domain through IDNA UTS #46) and NFKC for passwords (the standard
// library has no Unicode normalisation).
package norm

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"

	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/ports"
)

// Normalizer is a ports.Normalizer. Its zero value is ready to use; it holds no state and is
// safe for concurrent use.
type Normalizer struct{}

var _ ports.Normalizer = Normalizer{}

// New returns a Normalizer.
func New() Normalizer { return Normalizer{} }

// domains maps a domain for lookup as UTS #46 says (non-transitional: ß and ς stay distinct,
// as browsers and registries now treat them), with the STD3 host-name rules, hyphen and
// joiner checks and the bidi rule.
var domains = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(true),
	idna.ValidateLabels(true), idna.BidiRule(), idna.CheckHyphens(true), idna.CheckJoiners(true))

// Email is ports.Normalizer's Email. The local part is width-folded (fullwidth "ａ" is "a"),
// case-folded with Unicode full case folding (which, unlike lower-casing, maps every case
// variant to one form), and composed to NFC after folding, so the stored form is NFC. The
// domain goes through IDNA UTS #46 mapping and validation and is kept in its Unicode form
// (an A-label such as "xn--bcher-kva.example" becomes "bücher.example"), so both spellings of
// one domain are one address.
func (Normalizer) Email(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: not UTF-8", identity.ErrInvalidEmail)
	}
	s = strings.TrimSpace(s)
	for _, r := range s {
		if unicode.Is(unicode.Cf, r) || isBidiControl(r) {
			return "", fmt.Errorf("%w: invisible or bidirectional control character %U", identity.ErrInvalidEmail, r)
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		// No domain: fold the whole, and let the identity rules refuse its shape.
		return foldLocal(s), nil
	}
	local, domain := s[:at], s[at+1:]
	if domain == "" {
		return foldLocal(local) + "@", nil
	}
	// Full stops of other scripts (ideographic "。", fullwidth "．") separate labels too.
	a, err := domains.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("%w: domain: %v", identity.ErrInvalidEmail, err)
	}
	u, err := domains.ToUnicode(a)
	if err != nil {
		return "", fmt.Errorf("%w: domain: %v", identity.ErrInvalidEmail, err)
	}
	return foldLocal(local) + "@" + u, nil
}

// isBidiControl reports the explicit bidirectional formatting characters (UAX #9). All are
// in category Cf today; listing them keeps them refused whatever a later Unicode says.
func isBidiControl(r rune) bool {
	switch {
	case r == '\u061c', r == '\u200e', r == '\u200f':
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// foldLocal width-folds, case-folds and then composes a local part.
func foldLocal(s string) string {
	return norm.NFC.String(strings.Map(cherokeeFold, cases.Fold().String(width.Fold.String(s))))
}

// cherokeeFold maps Cherokee small letters to capitals, as Unicode's CaseFolding.txt does
// (Cherokee folds to upper case). x/text's Fold maps them the other way round, so without
// this "Ꭰ" and "ꭰ" would swap on every pass and the stored form would not be a fixed point.
func cherokeeFold(r rune) rune {
	if (r >= '\uab70' && r <= '\uabbf') || (r >= '\u13f8' && r <= '\u13fd') {
		return unicode.ToUpper(r)
	}
	return r
}

// NFKC returns the compatibility composition of s (form KC): fullwidth letters, ligatures and
// the Kelvin sign become their plain equivalents.
func (Normalizer) NFKC(s string) string { return norm.NFKC.String(s) }

// Package norm implements ports.Normalizer with golang.org/x/text/unicode/norm: NFC for e-mail
// addresses, NFKC for passwords (the standard library has no Unicode normalisation).
package norm

import (
	"golang.org/x/text/unicode/norm"

	"github.com/keygate/keygate/ports"
)

// Normalizer is a ports.Normalizer. Its zero value is ready to use; it holds no state and is
// safe for concurrent use.
type Normalizer struct{}

var _ ports.Normalizer = Normalizer{}

// New returns a Normalizer.
func New() Normalizer { return Normalizer{} }

// NFC returns the canonical composition of s (Unicode normalisation form C). Invalid UTF-8 is
// passed through unchanged.
func (Normalizer) NFC(s string) string { return norm.NFC.String(s) }

// NFKC returns the compatibility composition of s (form KC): fullwidth letters, ligatures and
// the Kelvin sign become their plain equivalents.
func (Normalizer) NFKC(s string) string { return norm.NFKC.String(s) }

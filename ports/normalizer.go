package ports

// Normalizer prepares text for comparison, with the Unicode tables the standard library lacks:
// e-mail addresses before the identity rules (identity.NormalizeEmail), passwords before
// hashing. Safe for concurrent use.
type Normalizer interface {
	// Email returns the comparable form of an e-mail address, so that addresses a person
	// cannot tell apart are one account: it refuses format characters (Unicode category Cf:
	// zero-width characters, soft hyphens, byte-order marks) and bidirectional controls, maps
	// fullwidth and halfwidth forms to their plain equivalents, case-folds and then composes
	// (NFC) the local part, and maps the domain with IDNA (UTS #46). An address it cannot
	// prepare gives an error wrapping identity.ErrInvalidEmail. It does not check the
	// address's shape; identity.NormalizeEmail does.
	Email(s string) (string, error)
	// NFKC returns the compatibility composition of a password (form KC).
	NFKC(s string) string
}

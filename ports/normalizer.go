package ports

// Normalizer applies Unicode normalisation (the standard library has none): NFC for e-mail
// addresses, NFKC for passwords.
type Normalizer interface {
	NFC(s string) string
	NFKC(s string) string
}

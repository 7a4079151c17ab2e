package ports

import "time"

// Metrics receives what the core and the adapters do, for monitoring. Result and label values
// are low-cardinality names (token.Reason, "ok", "invalid_credentials"...). Implementations
// must be cheap and safe for concurrent use; the telemetry adapter exports them to Prometheus
// under the names listed in docs/configuration.md.
type Metrics interface {
	// TokenIssued counts one access token signed.
	TokenIssued()
	// Login counts a login attempt by result: ok, invalid_credentials, rate_limited,
	// unavailable, invalid_request.
	Login(result string)
	// Verified records one token validation by result (token.Reason) and its duration.
	Verified(result string, d time.Duration)
	// TokenCache counts one lookup in a verifier's cache of verified tokens: a hit (the
	// signature check was skipped) or a miss.
	TokenCache(hit bool)
	// RevocationStoreOp records one RevocationStore call: op (revoke, snapshot, seq, since), its
	// duration, and whether it failed.
	RevocationStoreOp(op string, d time.Duration, err error)
	// EventApplied records one event applied by a verifier and its propagation delay (now
	// minus the event's PublishedAt).
	EventApplied(kind string, lag time.Duration)
	// RevocationSet reports the size of a verifier's local set.
	RevocationSet(entries int)
	// Feed reports a verifier's feed: connected or not, and how stale its set may be.
	Feed(connected bool, staleness time.Duration)
	// Resynced counts one full resynchronisation from the store, by reason: connected, gap,
	// periodic.
	Resynced(reason string)
	// JWKSFetch records one JWKS fetch by trigger (startup, schedule, unknown_kid, push) and
	// outcome (200, 304, http_error, timeout, too_large, parse_error, rejected_empty,
	// rejected_dup_kid) and its duration.
	JWKSFetch(trigger, outcome string, d time.Duration)
	// SigningKey reports the age of the signing key and the time until the next key takes
	// over (negative when rotation is overdue).
	SigningKey(age, untilNext time.Duration)
}

// NopMetrics is a Metrics that records nothing: what a use case reports to when it is given
// no Metrics, and what a test or tool that exports none passes.
type NopMetrics struct{}

var _ Metrics = NopMetrics{}

func (NopMetrics) TokenIssued()                                   {}
func (NopMetrics) Login(string)                                   {}
func (NopMetrics) Verified(string, time.Duration)                 {}
func (NopMetrics) TokenCache(bool)                                {}
func (NopMetrics) RevocationStoreOp(string, time.Duration, error) {}
func (NopMetrics) EventApplied(string, time.Duration)             {}
func (NopMetrics) RevocationSet(int)                              {}
func (NopMetrics) Feed(bool, time.Duration)                       {}
func (NopMetrics) Resynced(string)                                {}
func (NopMetrics) JWKSFetch(string, string, time.Duration)        {}
func (NopMetrics) SigningKey(time.Duration, time.Duration)        {}

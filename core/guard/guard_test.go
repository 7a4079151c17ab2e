package guard

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	edwardsadapter "github.com/keygate/keygate/adapters/edwards25519"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// bRow is one access-token input of the bad-input catalogue (anchors-security.md 2.A, rows
// B-01..B-48 that reach a verifier) with the exact sentinel expected.
type bRow struct {
	name   string
	tok    func(f *fixture) string
	want   error // nil: accepted
	lookup bool  // whether the KeySet may be asked for the key (false: rejected before any key lookup or signature check)
	setup  func(f *fixture)
	check  func(t *testing.T, f *fixture, c token.Claims)
}

// hdr is our header with extra members appended.
func hdr(f *fixture, extra string) string {
	return fmt.Sprintf(`{"alg":"EdDSA","typ":"at+jwt","kid":%q%s}`, f.s.kid, extra)
}

// signedWith signs a token whose header and claims are given, with our key.
func signedWith(header func(f *fixture) string, claims func(f *fixture) string) func(f *fixture) string {
	return func(f *fixture) string { return f.s.sign(header(f), claims(f)) }
}

func goodClaims(f *fixture) string { return with(f.clock.Now(), nil) }

// claimsEdit is a valid token with its claims changed.
func claimsEdit(edit func(now time.Time) map[string]any) func(f *fixture) string {
	return func(f *fixture) string { return f.s.sign(f.s.header(), with(f.clock.Now(), edit(f.clock.Now()))) }
}

// rawClaims is a valid header with claims given as text (built from the fixture's time).
func rawClaims(text func(now time.Time) string) func(f *fixture) string {
	return func(f *fixture) string { return f.s.sign(f.s.header(), text(f.clock.Now())) }
}

func headerText(text func(f *fixture) string) func(f *fixture) string {
	return signedWith(text, goodClaims)
}

// withSig replaces the signature segment.
func withSig(tok string, sig []byte) string {
	i := strings.LastIndexByte(tok, '.')
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// macToken is an HMAC token keyed with our public key bytes (the key-confusion attack).
func macToken(f *fixture, alg string) string {
	h := enc(fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q}`, alg, f.s.kid))
	p := enc(goodClaims(f))
	m := hmac.New(sha256.New, f.s.pub())
	if alg == "HS512" {
		m = hmac.New(sha512.New, f.s.pub())
	}
	m.Write([]byte(h + "." + p))
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// nonCanonicalLast sets the unused low bits of seg's last character.
func nonCanonicalLast(seg string) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	unused := map[int]uint{2: 4, 3: 2}[len(seg)%4]
	if unused == 0 {
		return ""
	}
	v := strings.IndexByte(alpha, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alpha[v|1])
}

// sPlusL adds the group order L to the S half of a signature (the malleable twin).
func sPlusL(sig []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(b []byte) *big.Int {
		r := make([]byte, len(b))
		for i := range b {
			r[len(b)-1-i] = b[i]
		}
		return new(big.Int).SetBytes(r)
	}
	s := new(big.Int).Add(le(sig[32:]), l)
	be := s.FillBytes(make([]byte, 32))
	out := append([]byte(nil), sig[:32]...)
	for i := range be {
		out = append(out, be[31-i])
	}
	return out
}

func bRows() []bRow {
	lw := DefaultLeeway
	rows := []bRow{
		{name: "valid token", tok: (*fixture).good, want: nil, lookup: true,
			check: func(t *testing.T, f *fixture, c token.Claims) {
				now := f.clock.Now()
				want := token.Claims{Issuer: testIssuer, Subject: "u1", Audience: []string{testAud, "payments"},
					ExpiresAt: time.Unix(now.Add(10*time.Minute).Unix(), 0).UTC(), IssuedAt: time.Unix(now.Add(-time.Minute).Unix(), 0).UTC(),
					NotBefore: time.Unix(now.Add(-time.Minute).Unix(), 0).UTC(), ID: "t1", SessionID: "s1", ClientID: "web",
					Scope: "orders:read", Roles: []string{"user"}}
				if diff := cmp.Diff(want, c); diff != "" {
					t.Errorf("claims (-want +got):\n%s", diff)
				}
			}},
		{name: "B-01 alg none with an empty signature", want: token.ErrMalformed, tok: func(f *fixture) string {
			return enc(fmt.Sprintf(`{"alg":"none","typ":"at+jwt","kid":%q}`, f.s.kid)) + "." + enc(goodClaims(f)) + "."
		}},
		{name: "B-01 alg none with a 64-byte signature", want: token.ErrAlgRejected, tok: headerText(func(f *fixture) string {
			return fmt.Sprintf(`{"alg":"none","typ":"at+jwt","kid":%q}`, f.s.kid)
		})},
		{name: "B-03 HS256 MAC keyed with our public key", want: token.ErrMalformed, tok: func(f *fixture) string { return macToken(f, "HS256") }},
		{name: "B-03 HS512 MAC keyed with our public key (64 bytes, like a signature)", want: token.ErrAlgRejected, tok: func(f *fixture) string { return macToken(f, "HS512") }},
		{name: "B-04 ES256 header with a 64-byte signature", want: token.ErrAlgRejected, tok: headerText(func(f *fixture) string {
			return fmt.Sprintf(`{"alg":"ES256","typ":"at+jwt","kid":%q}`, f.s.kid)
		})},
		{name: "B-04 RS256 header with a 256-byte signature", want: token.ErrMalformed, tok: func(f *fixture) string {
			t := f.s.sign(fmt.Sprintf(`{"alg":"RS256","typ":"at+jwt","kid":%q}`, f.s.kid), goodClaims(f))
			return withSig(t, make([]byte, 256))
		}},
		{name: "B-05 alg Ed25519 (RFC 9864) signed by our key", want: nil, lookup: true, tok: headerText(func(f *fixture) string {
			return fmt.Sprintf(`{"alg":"Ed25519","typ":"at+jwt","kid":%q}`, f.s.kid)
		})},
		{name: "B-06 alg missing", want: token.ErrAlgRejected, tok: headerText(func(f *fixture) string {
			return fmt.Sprintf(`{"typ":"at+jwt","kid":%q}`, f.s.kid)
		})},
		{name: "B-06 alg numeric", want: token.ErrAlgRejected, tok: headerText(func(f *fixture) string {
			return fmt.Sprintf(`{"alg":5,"typ":"at+jwt","kid":%q}`, f.s.kid)
		})},
		{name: "B-06 alg in an array", want: token.ErrAlgRejected, tok: headerText(func(f *fixture) string {
			return fmt.Sprintf(`{"alg":["EdDSA"],"typ":"at+jwt","kid":%q}`, f.s.kid)
		})},
		{name: "B-07 unknown kid on a live token of our issuer", want: token.ErrUnknownKid, lookup: true, tok: func(f *fixture) string {
			o := newSigner(9)
			return o.sign(o.header(), goodClaims(f))
		}, check: func(t *testing.T, f *fixture, _ token.Claims) {
			if got := f.keys.mayRefresh.Load(); got != 1 {
				t.Errorf("lookups allowed to refresh = %d, want 1", got)
			}
		}},
		{name: "B-07 unknown kid on an expired token never refreshes", want: token.ErrUnknownKid, lookup: true, tok: func(f *fixture) string {
			o := newSigner(9)
			return o.sign(o.header(), with(f.clock.Now(), map[string]any{"exp": f.clock.Now().Add(-time.Hour).Unix()}))
		}, check: func(t *testing.T, f *fixture, _ token.Claims) {
			if got := f.keys.mayRefresh.Load(); got != 0 {
				t.Errorf("lookups allowed to refresh = %d, want 0", got)
			}
		}},
		{name: "B-07 unknown kid on a token of another issuer never refreshes", want: token.ErrUnknownKid, lookup: true, tok: func(f *fixture) string {
			o := newSigner(9)
			return o.sign(o.header(), with(f.clock.Now(), map[string]any{"iss": "https://evil.example"}))
		}, check: func(t *testing.T, f *fixture, _ token.Claims) {
			if got := f.keys.mayRefresh.Load(); got != 0 {
				t.Errorf("lookups allowed to refresh = %d, want 0", got)
			}
		}},
		{name: "B-08 kid missing", want: token.ErrKidMissing, tok: headerText(func(*fixture) string { return `{"alg":"EdDSA","typ":"at+jwt"}` })},
		{name: "B-08 kid empty", want: token.ErrKidMissing, tok: headerText(func(*fixture) string { return `{"alg":"EdDSA","typ":"at+jwt","kid":""}` })},
		{name: "B-09 kid path traversal", want: token.ErrKidMissing, tok: headerText(func(*fixture) string {
			return `{"alg":"EdDSA","typ":"at+jwt","kid":"../../../../dev/null"}`
		})},
		{name: "B-09 kid SQL injection", want: token.ErrKidMissing, tok: headerText(func(*fixture) string {
			return `{"alg":"EdDSA","typ":"at+jwt","kid":"' OR 1=1 --"}`
		})},
		{name: "B-09 kid with a newline", want: token.ErrKidMissing, tok: headerText(func(*fixture) string {
			return `{"alg":"EdDSA","typ":"at+jwt","kid":"a\nb"}`
		})},
		{name: "B-09 kid of 65 characters", want: token.ErrKidMissing, tok: headerText(func(*fixture) string {
			return `{"alg":"EdDSA","typ":"at+jwt","kid":"` + strings.Repeat("k", 65) + `"}`
		})},
		{name: "B-09 kid numeric", want: token.ErrKidMissing, tok: headerText(func(*fixture) string { return `{"alg":"EdDSA","typ":"at+jwt","kid":5}` })},
		{name: "B-09 kid of 10 KB", want: token.ErrTooLarge, tok: headerText(func(*fixture) string {
			return `{"alg":"EdDSA","typ":"at+jwt","kid":"` + strings.Repeat("k", 10<<10) + `"}`
		})},
		{name: "B-09 kid of 600 bytes (header over 512 B)", want: token.ErrMalformed, tok: headerText(func(*fixture) string {
			return `{"alg":"EdDSA","typ":"at+jwt","kid":"` + strings.Repeat("k", 600) + `"}`
		})},
		{name: "B-10 jku header on a token our key signed", want: token.ErrHeaderRejected, tok: headerText(func(f *fixture) string {
			return hdr(f, `,"jku":"https://evil.example/jwks.json"`)
		})},
		{name: "B-10 x5u header on a token our key signed", want: token.ErrHeaderRejected, tok: headerText(func(f *fixture) string {
			return hdr(f, `,"x5u":"https://evil.example/cert.pem"`)
		})},
		{name: "B-11 embedded jwk", want: token.ErrHeaderRejected, tok: headerText(func(f *fixture) string {
			return hdr(f, fmt.Sprintf(`,"jwk":{"kty":"OKP","crv":"Ed25519","x":%q}`, base64.RawURLEncoding.EncodeToString(f.s.pub())))
		})},
		{name: "B-12 x5c header", want: token.ErrHeaderRejected, tok: headerText(func(f *fixture) string { return hdr(f, `,"x5c":["MIIB"]`) })},
		{name: "B-13 crit naming exp", want: token.ErrHeaderRejected, tok: headerText(func(f *fixture) string { return hdr(f, `,"crit":["exp"],"exp":1`) })},
		{name: "B-13 empty crit", want: token.ErrHeaderRejected, tok: headerText(func(f *fixture) string { return hdr(f, `,"crit":[]`) })},
		{name: "B-14 b64 false without crit", want: token.ErrHeaderRejected, tok: headerText(func(f *fixture) string { return hdr(f, `,"b64":false`) })},
		{name: "B-15 zip header", want: token.ErrHeaderRejected, tok: headerText(func(f *fixture) string { return hdr(f, `,"zip":"DEF"`) })},
		{name: "B-15 cty header", want: token.ErrHeaderRejected, tok: headerText(func(f *fixture) string { return hdr(f, `,"cty":"JWT"`) })},
		{name: "B-15 unknown header member", want: token.ErrHeaderRejected, tok: headerText(func(f *fixture) string { return hdr(f, `,"foo":"bar"`) })},
		{name: "B-15 header member named like ours in another case", want: token.ErrHeaderRejected, tok: headerText(func(f *fixture) string { return hdr(f, `,"Alg":"none"`) })},
		{name: "B-16 JWE compact (five segments)", want: token.ErrMalformed, tok: func(f *fixture) string { return f.good() + ".AAAA.AAAA" }},
		{name: "B-17 JWS JSON serialization", want: token.ErrMalformed, tok: func(f *fixture) string {
			parts := strings.Split(f.good(), ".")
			return fmt.Sprintf(`{"payload":%q,"protected":%q,"signature":%q}`, parts[1], parts[0], parts[2])
		}},
		{name: "B-18 token of 1 MB", want: token.ErrTooLarge, tok: func(f *fixture) string { return f.good() + strings.Repeat("A", 1<<20) }},
		{name: "B-18 signed token one byte over the limit", want: token.ErrTooLarge, tok: func(f *fixture) string {
			for pad := 3000; ; pad++ {
				t := f.s.sign(f.s.header(), with(f.clock.Now(), map[string]any{"pad": strings.Repeat("x", pad)}))
				if len(t) > DefaultMaxTokenBytes {
					return t
				}
			}
		}},
		{name: "B-19 one MB of dots", want: token.ErrTooLarge, tok: func(*fixture) string { return strings.Repeat(".", 1<<20) }},
		{name: "B-19 4000 dots", want: token.ErrMalformed, tok: func(*fixture) string { return strings.Repeat(".", 4000) }},
		{name: "B-20 header nested 200000 deep", want: token.ErrTooLarge, tok: headerText(func(*fixture) string {
			return strings.Repeat("[", 200000) + strings.Repeat("]", 200000)
		})},
		{name: "B-20 alg nested in arrays", want: token.ErrAlgRejected, tok: headerText(func(f *fixture) string {
			return fmt.Sprintf(`{"alg":%s"EdDSA"%s,"typ":"at+jwt","kid":%q}`, strings.Repeat("[", 20), strings.Repeat("]", 20), f.s.kid)
		})},
		{name: "B-20 claims nested 100 deep", want: token.ErrMalformed, tok: rawClaims(func(now time.Time) string {
			c := with(now, nil)
			return c[:len(c)-1] + `,"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}"
		})},
		{name: "B-21 header null", want: token.ErrMalformed, tok: headerText(func(*fixture) string { return "null" })},
		{name: "B-21 header array", want: token.ErrMalformed, tok: headerText(func(*fixture) string { return "[]" })},
		{name: "B-21 header with trailing data", want: token.ErrMalformed, tok: headerText(func(f *fixture) string { return hdr(f, "") + "{}" })},
		{name: "B-22 empty token", want: token.ErrMalformed, tok: func(*fixture) string { return "" }},
		{name: "B-22 two segments", want: token.ErrMalformed, tok: func(f *fixture) string {
			t := f.good()
			return t[:strings.LastIndexByte(t, '.')]
		}},
		{name: "B-22 four segments", want: token.ErrMalformed, tok: func(f *fixture) string { return f.good() + ".AAAA" }},
		{name: "B-22 trailing dot", want: token.ErrMalformed, tok: func(f *fixture) string { return f.good() + "." }},
		{name: "B-22 empty payload", want: token.ErrMalformed, tok: func(f *fixture) string {
			return enc(f.s.header()) + ".." + strings.Repeat("A", 86)
		}},
		{name: "B-23 non-canonical base64 in the signature", want: token.ErrMalformed, tok: func(f *fixture) string {
			t := f.good()
			i := strings.LastIndexByte(t, '.')
			return t[:i+1] + nonCanonicalLast(t[i+1:])
		}},
		{name: "B-23 non-canonical base64 in the payload", want: token.ErrMalformed, tok: func(f *fixture) string {
			for pad := 0; ; pad++ {
				p := enc(with(f.clock.Now(), map[string]any{"pad": strings.Repeat("x", pad)}))
				if q := nonCanonicalLast(p); q != "" {
					h := enc(f.s.header())
					sig := ed25519.Sign(f.s.priv, []byte(h+"."+q))
					return h + "." + q + "." + base64.RawURLEncoding.EncodeToString(sig)
				}
			}
		}},
		{name: "B-24 CR LF inside the payload", want: token.ErrMalformed, tok: func(f *fixture) string {
			parts := strings.Split(f.good(), ".")
			return parts[0] + "." + parts[1][:10] + "\r\n" + parts[1][10:] + "." + parts[2]
		}},
		{name: "B-24 LF inside the signature", want: token.ErrMalformed, tok: func(f *fixture) string {
			t := f.good()
			return t[:len(t)-10] + "\n" + t[len(t)-10:]
		}},
		{name: "B-25 padded signature", want: token.ErrMalformed, tok: func(f *fixture) string { return f.good() + "==" }},
		{name: "B-25 padded header", want: token.ErrMalformed, tok: func(f *fixture) string {
			h := base64.URLEncoding.EncodeToString([]byte(f.s.header()))
			if !strings.HasSuffix(h, "=") {
				h = base64.URLEncoding.EncodeToString([]byte(f.s.header() + " "))
			}
			return f.s.signSegs(h, enc(goodClaims(f)))
		}},
		{name: "B-25 standard alphabet (+ and /)", want: token.ErrMalformed, tok: func(f *fixture) string {
			for pad := 0; ; pad++ {
				p := base64.RawStdEncoding.EncodeToString([]byte(with(f.clock.Now(), map[string]any{"pad": strings.Repeat("?", pad)})))
				if strings.ContainsAny(p, "+/") {
					return f.s.signSegs(enc(f.s.header()), p)
				}
			}
		}},
		{name: "B-25 interior space", want: token.ErrMalformed, tok: func(f *fixture) string {
			t := f.good()
			return t[:20] + " " + t[20:]
		}},
		{name: "B-26 trailing newline", want: token.ErrMalformed, tok: func(f *fixture) string { return f.good() + "\n" }},
		{name: "B-26 leading space", want: token.ErrMalformed, tok: func(f *fixture) string { return " " + f.good() }},
		{name: "B-27 duplicate alg in the header", want: token.ErrMalformed, tok: headerText(func(f *fixture) string { return hdr(f, `,"alg":"EdDSA"`) })},
		{name: "B-27 duplicate alg spelled with an escape", want: token.ErrMalformed, tok: headerText(func(f *fixture) string { return hdr(f, `,"\u0061lg":"none"`) })},
		{name: "B-27 duplicate sub in the claims", want: token.ErrMalformed, tok: rawClaims(func(now time.Time) string {
			c := with(now, nil)
			return c[:len(c)-1] + `,"sub":"admin"}`
		})},
		{name: "B-27 duplicate member in a nested object", want: token.ErrMalformed, tok: rawClaims(func(now time.Time) string {
			c := with(now, nil)
			return c[:len(c)-1] + `,"ext":{"a":1,"a":2}}`
		})},
		{name: "B-28 case-variant Sub never overrides sub", want: nil, lookup: true, tok: rawClaims(func(now time.Time) string {
			c := with(now, nil)
			return c[:len(c)-1] + `,"Sub":"admin","SUB":"root"}`
		}), check: func(t *testing.T, _ *fixture, c token.Claims) {
			if c.Subject != "u1" {
				t.Errorf("Subject = %q, want u1", c.Subject)
			}
		}},
		{name: "B-28 Sub alone is not sub", want: token.ErrClaimsMissing, lookup: true, tok: rawClaims(func(now time.Time) string {
			c := with(now, map[string]any{"sub": nil})
			return c[:len(c)-1] + `,"Sub":"admin"}`
		})},
		{name: "B-29 invalid UTF-8 in a claim", want: token.ErrMalformed, tok: rawClaims(func(now time.Time) string {
			c := with(now, nil)
			return c[:len(c)-1] + ",\"x\":\"\xff\xfe\"}"
		})},
		{name: "B-29 NUL in sub", want: token.ErrClaimsMissing, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"sub": "u1\x00admin"} })},
		{name: "B-29 raw control character in a string", want: token.ErrMalformed, tok: rawClaims(func(now time.Time) string {
			c := with(now, nil)
			return c[:len(c)-1] + ",\"x\":\"a\x01b\"}"
		})},
		{name: "B-29 lone surrogate", want: token.ErrMalformed, tok: rawClaims(func(now time.Time) string {
			c := with(now, nil)
			return c[:len(c)-1] + `,"x":"\ud800"}`
		})},
		{name: "B-29 UTF-8 BOM before the claims", want: token.ErrMalformed, tok: rawClaims(func(now time.Time) string { return "\ufeff" + with(now, nil) })},
		{name: "B-30 expired by one second past the leeway", want: token.ErrExpired, lookup: true, tok: claimsEdit(func(now time.Time) map[string]any {
			return map[string]any{"exp": now.Add(-lw - time.Second).Unix()}
		})},
		{name: "B-30 expired exactly at the leeway", want: token.ErrExpired, lookup: true, tok: claimsEdit(func(now time.Time) map[string]any {
			return map[string]any{"exp": now.Add(-lw).Unix()}
		})},
		{name: "B-30 expired one second ago, within the leeway", want: nil, lookup: true, tok: claimsEdit(func(now time.Time) map[string]any {
			return map[string]any{"exp": now.Add(-time.Second).Unix()}
		})},
		{name: "B-30 expires in one second", want: nil, lookup: true, tok: claimsEdit(func(now time.Time) map[string]any {
			return map[string]any{"exp": now.Add(time.Second).Unix()}
		})},
		{name: "B-31 nbf one second past the leeway", want: token.ErrNotYetValid, lookup: true, tok: claimsEdit(func(now time.Time) map[string]any {
			return map[string]any{"nbf": now.Add(lw + time.Second).Unix()}
		})},
		{name: "B-31 nbf at the leeway", want: nil, lookup: true, tok: claimsEdit(func(now time.Time) map[string]any {
			return map[string]any{"nbf": now.Add(lw).Unix()}
		})},
		{name: "B-32 iat an hour in the future", want: token.ErrIssuedInFuture, lookup: true, tok: claimsEdit(func(now time.Time) map[string]any {
			return map[string]any{"iat": now.Add(time.Hour).Unix(), "exp": now.Add(time.Hour + time.Minute).Unix()}
		})},
		{name: "B-32 iat at the leeway", want: nil, lookup: true, tok: claimsEdit(func(now time.Time) map[string]any {
			return map[string]any{"iat": now.Add(lw).Unix()}
		})},
		{name: "B-34 exp as a string", want: token.ErrClaimsMissing, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"exp": "99999999999"} })},
		{name: "B-34 iat as a boolean", want: token.ErrClaimsMissing, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"iat": true} })},
		{name: "B-35 nbf near 2^63", want: token.ErrClaimsMissing, tok: rawClaims(func(now time.Time) string {
			c := with(now, map[string]any{"nbf": nil})
			return c[:len(c)-1] + `,"nbf":9223372036854775000}`
		})},
		{name: "B-35 exp 1e300", want: token.ErrClaimsMissing, tok: rawClaims(func(now time.Time) string {
			c := with(now, map[string]any{"exp": nil})
			return c[:len(c)-1] + `,"exp":1e300}`
		})},
		{name: "B-35 exp -1e300", want: token.ErrClaimsMissing, tok: rawClaims(func(now time.Time) string {
			c := with(now, map[string]any{"exp": nil})
			return c[:len(c)-1] + `,"exp":-1e300}`
		})},
		{name: "B-35 exp negative", want: token.ErrClaimsMissing, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"exp": -1} })},
		{name: "B-35 fractional exp is a number", want: nil, lookup: true, tok: rawClaims(func(now time.Time) string {
			c := with(now, map[string]any{"exp": nil})
			return c[:len(c)-1] + fmt.Sprintf(`,"exp":%d.5}`, now.Add(time.Minute).Unix())
		})},
		{name: "B-36 ten-year token", want: token.ErrTooOld, lookup: true, tok: claimsEdit(func(now time.Time) map[string]any {
			return map[string]any{"iat": now.Unix(), "exp": now.AddDate(10, 0, 0).Unix()}
		})},
		{name: "B-36 issued longer ago than the maximum age", want: token.ErrTooOld, lookup: true, tok: claimsEdit(func(now time.Time) map[string]any {
			return map[string]any{"iat": now.Add(-DefaultMaxAge - lw - time.Second).Unix(), "exp": now.Add(time.Minute).Unix(), "nbf": nil}
		})},
		{name: "B-37 wrong iss", want: token.ErrIssuerMismatch, lookup: true, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"iss": "https://evil.example"} })},
		{name: "B-37 iss with a trailing slash", want: token.ErrIssuerMismatch, lookup: true, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"iss": testIssuer + "/"} })},
		{name: "B-37 iss in another case", want: token.ErrIssuerMismatch, lookup: true, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"iss": strings.ToUpper(testIssuer)} })},
		{name: "B-37 iss numeric", want: token.ErrClaimsMissing, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"iss": 1} })},
		{name: "B-38 wrong aud", want: token.ErrAudienceMismatch, lookup: true, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"aud": "billing"} })},
		{name: "B-38 aud array without us", want: token.ErrAudienceMismatch, lookup: true, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"aud": []string{"billing", "payments"}} })},
		{name: "B-38 empty aud array", want: token.ErrAudienceMismatch, lookup: true, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"aud": []string{}} })},
		{name: "B-38 numeric aud", want: token.ErrClaimsMissing, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"aud": 5} })},
		{name: "B-38 aud array with a number", want: token.ErrClaimsMissing, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"aud": []any{testAud, 5}} })},
		{name: "B-38 aud string naming us", want: nil, lookup: true, tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{"aud": testAud} })},
		{name: "B-39 typ missing", want: token.ErrTypRejected, tok: headerText(func(f *fixture) string { return fmt.Sprintf(`{"alg":"EdDSA","kid":%q}`, f.s.kid) })},
		{name: "B-39 typ JWT", want: token.ErrTypRejected, tok: headerText(func(f *fixture) string { return fmt.Sprintf(`{"alg":"EdDSA","typ":"JWT","kid":%q}`, f.s.kid) })},
		{name: "B-39 typ numeric", want: token.ErrTypRejected, tok: headerText(func(f *fixture) string { return fmt.Sprintf(`{"alg":"EdDSA","typ":1,"kid":%q}`, f.s.kid) })},
		{name: "B-39 typ at+JWT (case-insensitive)", want: nil, lookup: true, tok: headerText(func(f *fixture) string { return fmt.Sprintf(`{"alg":"EdDSA","typ":"at+JWT","kid":%q}`, f.s.kid) })},
		{name: "B-39 typ application/at+jwt", want: nil, lookup: true, tok: headerText(func(f *fixture) string {
			return fmt.Sprintf(`{"alg":"EdDSA","typ":"application/at+jwt","kid":%q}`, f.s.kid)
		})},
		{name: "B-40 S+L (non-canonical S)", want: token.ErrBadSignature, lookup: true, tok: func(f *fixture) string {
			t := f.good()
			sig, _ := base64.RawURLEncoding.DecodeString(t[strings.LastIndexByte(t, '.')+1:])
			return withSig(t, sPlusL(sig))
		}},
		{name: "B-40 all-zero signature", want: token.ErrBadSignature, lookup: true, tok: func(f *fixture) string { return withSig(f.good(), make([]byte, 64)) }},
		{name: "B-40 signature of 63 bytes", want: token.ErrMalformed, tok: func(f *fixture) string { return withSig(f.good(), make([]byte, 63)) }},
		{name: "B-40 signature of 65 bytes", want: token.ErrMalformed, tok: func(f *fixture) string { return withSig(f.good(), make([]byte, 65)) }},
		{name: "B-40 signed by another key under our kid", want: token.ErrBadSignature, lookup: true, tok: func(f *fixture) string {
			o := newSigner(9)
			return o.sign(f.s.header(), goodClaims(f))
		}},
		{name: "B-40 payload changed after signing", want: token.ErrBadSignature, lookup: true, tok: func(f *fixture) string {
			parts := strings.Split(f.good(), ".")
			other := enc(with(f.clock.Now(), map[string]any{"sub": "admin"}))
			return parts[0] + "." + other + "." + parts[2]
		}},
		{name: "B-42 key set hands out a 31-byte key", want: token.ErrKeysUnavailable, lookup: true, tok: (*fixture).good, setup: func(f *fixture) {
			f.keys.keys[f.s.kid] = f.s.pub()[:31]
		}},
		{name: "keys unavailable", want: token.ErrKeysUnavailable, lookup: true, tok: (*fixture).good, setup: func(f *fixture) {
			f.keys.err = token.ErrKeysUnavailable
		}},
		{name: "B-46 revoked jti", want: token.ErrRevoked, lookup: true, tok: (*fixture).good, setup: func(f *fixture) {
			f.feed.set.Apply(revocation.Entry{Kind: revocation.KindToken, Key: "t1", ExpiresAt: f.clock.Now().Add(time.Hour)})
		}},
		{name: "B-46 revoked session", want: token.ErrRevoked, lookup: true, tok: (*fixture).good, setup: func(f *fixture) {
			f.feed.set.Apply(revocation.Entry{Kind: revocation.KindSession, Key: "s1", ExpiresAt: f.clock.Now().Add(time.Hour)})
		}},
		{name: "B-46 iat before the user's not-before", want: token.ErrRevoked, lookup: true, tok: (*fixture).good, setup: func(f *fixture) {
			f.feed.set.Apply(revocation.Entry{Kind: revocation.KindSubject, Key: "u1", NotBefore: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour)})
		}},
		{name: "B-46 iat after the user's not-before", want: nil, lookup: true, tok: (*fixture).good, setup: func(f *fixture) {
			f.feed.set.Apply(revocation.Entry{Kind: revocation.KindSubject, Key: "u1", NotBefore: f.clock.Now().Add(-time.Hour), ExpiresAt: f.clock.Now().Add(time.Hour)})
		}},
		{name: "B-46 revoked jti whose entry expired", want: nil, lookup: true, tok: (*fixture).good, setup: func(f *fixture) {
			f.feed.set.Apply(revocation.Entry{Kind: revocation.KindToken, Key: "t1", ExpiresAt: f.clock.Now().Add(-time.Second)})
		}},
	}
	for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "sid", "client_id"} {
		rows = append(rows, bRow{name: "B-33 " + c + " missing", want: token.ErrClaimsMissing, lookup: true,
			tok: claimsEdit(func(time.Time) map[string]any { return map[string]any{c: nil} })})
	}
	for _, alg := range []string{"None", "NONE", "nOnE", "eddsa", "EDDSA", "HS256", "RS256", "ES256K", "Ed448"} {
		rows = append(rows, bRow{name: "B-02 alg " + alg, want: token.ErrAlgRejected, tok: headerText(func(f *fixture) string {
			return fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q}`, alg, f.s.kid)
		})})
	}
	return rows
}

// TestAuthenticateBadInputCatalogue runs the catalogue with crypto/ed25519 (Config.Verifier
// nil) and with the verifier the apps wire (adapters/edwards25519): the same answer to each.
func TestAuthenticateBadInputCatalogue(t *testing.T) {
	for _, v := range []struct {
		name string
		v    ports.SignatureVerifier
	}{{"stdlib", nil}, {"kept", edwardsadapter.NewVerifier()}} {
		t.Run(v.name, func(t *testing.T) { runBadInputCatalogue(t, v.v) })
	}
}

func runBadInputCatalogue(t *testing.T, v ports.SignatureVerifier) {
	for _, row := range bRows() {
		t.Run(row.name, func(t *testing.T) {
			f := newFixture(t, Config{Verifier: v})
			if row.setup != nil {
				row.setup(f)
			}
			c, err := f.g.Authenticate(t.Context(), row.tok(f))
			if row.want == nil {
				if err != nil {
					t.Fatalf("Authenticate: %v, want success", err)
				}
			} else if !errors.Is(err, row.want) {
				t.Fatalf("Authenticate: %v, want %v", err, row.want)
			}
			if got := f.keys.lookups.Load() > 0; got != row.lookup {
				t.Errorf("key looked up = %v, want %v (no lookup, hence no signature check, for inputs rejected before step 4)", got, row.lookup)
			}
			if got := f.metrics.verified[token.Reason(row.want)]; got != 1 {
				t.Errorf("Metrics.Verified(%q) = %d calls, want 1 (%v)", token.Reason(row.want), got, f.metrics.verified)
			}
			if row.want != nil && !cmp.Equal(c, token.Claims{}) {
				t.Errorf("rejected token returned claims %+v", c)
			}
			if row.check != nil {
				row.check(t, f, c)
			}
		})
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Issuer: testIssuer, Audiences: []string{testAud}}, true},
		{"no issuer", Config{Audiences: []string{testAud}}, false},
		{"no audience", Config{Issuer: testIssuer}, false},
		{"empty audience only", Config{Issuer: testIssuer, Audiences: []string{""}}, false},
		{"leeway over 120s", Config{Issuer: testIssuer, Audiences: []string{testAud}, Leeway: 121 * time.Second}, false},
		{"token limit over 8192", Config{Issuer: testIssuer, Audiences: []string{testAud}, MaxTokenBytes: 8193}, false},
		{"negative fail-closed", Config{Issuer: testIssuer, Audiences: []string{testAud}, FailClosedAfter: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			_, err := New(&mapKeys{}, NewFeed(newStore(c), newBus(), nil, c, newMetrics(), FeedConfig{}), c, newMetrics(), tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("New: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestAuthenticateLargerTokenLimit(t *testing.T) {
	f := newFixture(t, Config{MaxTokenBytes: MaxTokenBytes})
	tok := f.s.sign(f.s.header(), with(f.clock.Now(), map[string]any{"pad": strings.Repeat("x", 5000)}))
	if _, err := f.g.Authenticate(t.Context(), tok); err != nil {
		t.Errorf("a %d-byte token under an 8192-byte limit: %v", len(tok), err)
	}
}

// TestRejectedTokenIsNotRevealed checks that errors carry no token bytes (logs see only the
// reason).
func TestRejectedTokenIsNotRevealed(t *testing.T) {
	f := newFixture(t, Config{})
	tok := f.good()
	_, err := f.g.Authenticate(t.Context(), tok[:len(tok)-1]+"!")
	if err == nil || strings.Contains(err.Error(), tok[:20]) {
		t.Errorf("error %v reveals the token", err)
	}
}

// refuseAll is a SignatureVerifier that refuses every signature.
type refuseAll struct{ calls atomic.Int32 }

func (r *refuseAll) Verify(ed25519.PublicKey, []byte, []byte) bool { r.calls.Add(1); return false }

func TestAuthenticateUsesConfiguredVerifier(t *testing.T) {
	v := &refuseAll{}
	f := newFixture(t, Config{Verifier: v, CacheEntries: -1})
	if _, err := f.g.Authenticate(t.Context(), f.good()); !errors.Is(err, token.ErrBadSignature) {
		t.Fatalf("Authenticate with a verifier refusing everything: %v, want %v", err, token.ErrBadSignature)
	}
	if v.calls.Load() == 0 {
		t.Fatal("Config.Verifier was never called")
	}
}

// A correctly signed token without sid is refused by default (claims_missing, naming sid):
// its session's revocation could never reach it. Config.SessionOptional, for a foreign issuer
// that has no sessions, accepts it; a sid present is still checked against revocations.
func TestSessionRequired(t *testing.T) {
	noSid := claimsEdit(func(time.Time) map[string]any { return map[string]any{"sid": nil} })
	f := newFixture(t, Config{})
	_, err := f.g.Authenticate(t.Context(), noSid(f))
	if !errors.Is(err, token.ErrClaimsMissing) || !strings.Contains(err.Error(), "sid") {
		t.Errorf("token without sid, default = %v; want ErrClaimsMissing naming sid", err)
	}

	f = newFixture(t, Config{SessionOptional: true})
	c, err := f.g.Authenticate(t.Context(), noSid(f))
	if err != nil || c.SessionID != "" || c.ID != "t1" {
		t.Errorf("token without sid, SessionOptional = %+v, %v; want accepted", c, err)
	}
	f.feed.set.Apply(revocation.Entry{Kind: revocation.KindSession, Key: "s1", ExpiresAt: f.clock.Now().Add(time.Hour)})
	if _, err := f.g.Authenticate(t.Context(), f.good()); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("token of a revoked session, SessionOptional = %v; want ErrRevoked", err)
	}
}

package redis

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/core/revocation"
)

// TestKeyChangeEventWire: a key-change event carries its JWKS ETag and withdrawn kid in the
// v1 wire form, in the key's place, so a reader from before reads it (eight fields, version 1,
// no entry) and this reader reads a key-change event from before (empty key) as a change
// that says nothing more.
func TestKeyChangeEventWire(t *testing.T) {
	at := time.Unix(0, 1764800000123456789)
	full := revocation.Event{Kind: revocation.EventKeysChanged, PublishedAt: at,
		Keys: revocation.KeyChange{JWKSETag: `"5c0f00112233445566778899aabbccdd"`, Withdrawn: "kid with &=% \x00 bytes"}}

	w := encodeEvent(full)
	t.Logf("wire: %q", w)
	got, err := decodeEvent(w)
	if err != nil {
		t.Fatalf("decode %q: %v", w, err)
	}
	if d := cmp.Diff(full, got, cmp.Comparer(time.Time.Equal)); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}

	tests := []struct {
		name string
		wire string
		want revocation.KeyChange
	}{
		{"from an older publisher", "1 keys_changed 0 1764800000123456789 - 0 0 ", revocation.KeyChange{}},
		{"etag only", `1 keys_changed 0 1764800000123456789 - 0 0 jwks_etag=%22ab%22`, revocation.KeyChange{JWKSETag: `"ab"`}},
		{"a field this version does not know", `1 keys_changed 0 1764800000123456789 - 0 0 withdrawn=k1&later=x`, revocation.KeyChange{Withdrawn: "k1"}},
		{"an unreadable form", "1 keys_changed 0 1764800000123456789 - 0 0 %zz", revocation.KeyChange{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := decodeEvent(tt.wire)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if e.Kind != revocation.EventKeysChanged || !e.PublishedAt.Equal(at) {
				t.Errorf("decoded %+v, want a key change published at %v", e, at)
			}
			if e.Keys != tt.want {
				t.Errorf("Keys = %+v, want %+v", e.Keys, tt.want)
			}
		})
	}

	// What a reader from before checks: eight space-separated fields, version 1, a kind, no
	// entry kind. The form holds no space, so the key field is the whole of it.
	f := strings.SplitN(w, " ", 8)
	if len(f) != 8 || f[0] != "1" || f[1] != "keys_changed" || f[4] != "-" || strings.Contains(f[7], " ") {
		t.Errorf("wire fields %q: not what a v1 reader accepts", f)
	}
}

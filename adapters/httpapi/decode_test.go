package httpapi

import (
	"strings"
	"testing"
)

// plainBodies are request bodies with whether plainFlatObject recognises them.
var plainBodies = []struct {
	body  string
	plain bool
}{
	{`{"refresh_token":"rt1.abc.def"}`, true},
	{` { "email" : "a@example.com" , "password" : "p w" } ` + "\n", true},
	{`{}`, true},
	{"{\t}\r\n", true},
	{`{"email":"a","Email":"b"}`, false}, // duplicate without regard to case: checkObject refuses
	{`{"email":"a","email":"b"}`, false}, // duplicate
	{`{"email":"a\"b"}`, false},          // an escape
	{`{"email":"\u0041"}`, false},        // an escape
	{`{"email":"é"}`, false},             // not ASCII
	{"{\"email\":\"a\tb\"}", false},      // a raw control character: the decoder refuses it
	{`{"email":1}`, false},               // not a string
	{`{"email":null}`, false},            // not a string
	{`{"email":{"a":"b"}}`, false},       // nested
	{`{"email":"a"} {}`, false},          // data after the object
	{`{"email":"a"}}`, false},            // data after the object
	{`{"email":"a",}`, false},            // trailing comma
	{`{"email":"a"`, false},              // unterminated
	{`{"email" "a"}`, false},             // no colon
	{`{"email":"a" "b":"c"}`, false},     // no comma
	{`["a"]`, false},                     // not an object
	{``, false},                          // empty
	{`{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"9","j":"10","k":"11","l":"12","m":"13","n":"14","o":"15","p":"16","q":"17"}`, false}, // more than 16 members
}

func TestPlainFlatObject(t *testing.T) {
	for _, tt := range plainBodies {
		if got := plainFlatObject([]byte(tt.body)); got != tt.plain {
			t.Errorf("plainFlatObject(%q) = %v, want %v", tt.body, got, tt.plain)
		}
	}
}

// FuzzPlainFlatObject holds the fast path to the rule that makes it safe: a body it recognises
// is one checkObject accepts, so skipping checkObject for it changes no answer.
func FuzzPlainFlatObject(f *testing.F) {
	for _, tt := range plainBodies {
		f.Add(tt.body)
	}
	f.Add(`{"a":"` + strings.Repeat("x", 100) + `"}`)
	f.Fuzz(func(t *testing.T, body string) {
		if plainFlatObject([]byte(body)) {
			if err := checkObject([]byte(body)); err != nil {
				t.Fatalf("plainFlatObject(%q) = true, but checkObject refuses it: %v", body, err)
			}
		}
	})
}

package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxBodyBytes is the largest request body the API reads; a larger one is refused with 413
// before any of it is decoded.
const MaxBodyBytes = 8 << 10

// maxJSONDepth bounds the nesting of a request body; keygate's bodies are flat objects.
const maxJSONDepth = 8

// decodeJSON reads r's body into v strictly: the Content-Type must be application/json (415),
// the body at most MaxBodyBytes (413), valid UTF-8 without lone surrogate escapes, one JSON
// object with no duplicate member names (ignoring case), no member v does not know, no nesting
// deeper than maxJSONDepth and nothing after it (400).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errUnsupportedMedia
	}
	if cs, ok := params["charset"]; ok && !equalFoldASCII(cs, "utf-8") {
		return errUnsupportedMedia
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}

// readBody reads at most MaxBodyBytes of r's body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, errBodyTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errBodyTooLarge
		}
		return nil, fmt.Errorf("%w: read body", errBadRequest)
	}
	return body, nil
}

// decodeStrict decodes body, one JSON object, into v; see decodeJSON.
func decodeStrict(body []byte, v any) error {
	if !utf8.Valid(body) || loneSurrogate(body) {
		// The decoder would replace each with U+FFFD, so different byte strings (two
		// passwords, say) would decode to the same value (RFC 8259 section 8.1, RFC 7493).
		return fmt.Errorf("%w: invalid UTF-8 or a lone surrogate escape", errBadRequest)
	}
	// The request bodies keygate expects are flat objects of plain strings; such a body
	// passes checkObject by construction, so only other bodies take its token walk (most of
	// the cost of a strict decode).
	if !plainFlatObject(body) {
		if err := checkObject(body); err != nil {
			return err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the object", errBadRequest)
	}
	return nil
}

// loneSurrogate reports whether body holds a \u escape of a UTF-16 surrogate that is not
// part of a high-low pair. Backslashes occur only inside strings in valid JSON; on invalid
// JSON the answer does not matter, the decoder refuses it.
func loneSurrogate(body []byte) bool {
	esc := func(i int) (rune, bool) { // the \uXXXX escape at body[i:], if any
		if i+6 > len(body) || body[i] != '\\' || body[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		r, ok := esc(i)
		if !ok {
			i++ // a two-byte escape such as \\ or \"
			continue
		}
		switch {
		case 0xDC00 <= r && r <= 0xDFFF:
			return true
		case 0xD800 <= r && r <= 0xDBFF:
			lo, ok := esc(i + 6)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

// plainFlatObject reports whether body is one JSON object, alone but for white space, of at
// most 16 members whose names and values are strings of printable ASCII without escapes, and
// no two names equal without regard to case: a body checkObject accepts, recognised in one
// pass without allocating. False says nothing: checkObject decides.
func plainFlatObject(body []byte) bool {
	const maxMembers = 16
	var names [maxMembers][]byte
	n := 0
	i := 0
	ws := func() {
		for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
			i++
		}
	}
	str := func() ([]byte, bool) { // a plain string at body[i]
		if i >= len(body) || body[i] != '"' {
			return nil, false
		}
		start := i + 1
		for i = start; i < len(body); i++ {
			switch c := body[i]; {
			case c == '"':
				i++
				return body[start : i-1], true
			case c < 0x20 || c > 0x7e || c == '\\':
				return nil, false
			}
		}
		return nil, false
	}
	ws()
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i++
	ws()
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			name, ok := str()
			if !ok || n == maxMembers {
				return false
			}
			for _, other := range names[:n] {
				if bytes.EqualFold(other, name) {
					return false
				}
			}
			names[n] = name
			n++
			ws()
			if i >= len(body) || body[i] != ':' {
				return false
			}
			i++
			ws()
			if _, ok := str(); !ok {
				return false
			}
			ws()
			if i >= len(body) {
				return false
			}
			if body[i] == ',' {
				i++
				ws()
				continue
			}
			if body[i] != '}' {
				return false
			}
			i++
			break
		}
	}
	ws()
	return i == len(body)
}

// checkObject walks body's tokens and rejects anything but one object, duplicate member
// names in any object (the standard decoder would silently keep the last; names are compared
// as it matches them, without regard to case), and nesting deeper than maxJSONDepth.
func checkObject(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]struct{}
		key    bool // in an object, the next string token is a member name
	}
	var stack []*frame
	first := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if first {
				return fmt.Errorf("%w: empty body", errBadRequest)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", errBadRequest, err)
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return fmt.Errorf("%w: body is not a JSON object", errBadRequest)
			}
		}
		first = false
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return nil // trailing data is the decoder's to reject
				}
				continue
			}
			name, ok := tok.(string)
			if !ok {
				return fmt.Errorf("%w: member name", errBadRequest)
			}
			folded := foldName(name)
			if _, dup := top.keys[folded]; dup {
				return fmt.Errorf("%w: duplicate member %q", errBadRequest, name)
			}
			top.keys[folded] = struct{}{}
			top.key = false
			continue
		}
		if top != nil && top.object {
			top.key = true // a value follows a name; the next token is a name again
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]struct{}{}, key: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return nil
			}
			continue
		}
		if len(stack) > maxJSONDepth {
			return fmt.Errorf("%w: nested too deeply", errBadRequest)
		}
	}
}

// parseForm reads an application/x-www-form-urlencoded body of at most MaxBodyBytes, refusing
// other media types (415) and any parameter sent more than once (400, RFC 6749 section 3.2).
// The query string is never read.
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errUnsupportedMedia
	}
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: form", errBadRequest)
	}
	for k, v := range vals {
		if len(v) > 1 {
			return nil, fmt.Errorf("%w: parameter %q repeated", errBadRequest, k)
		}
	}
	return vals, nil
}

// parseTokenForm is parseForm for the token endpoints (RFC 7009 revoke, RFC 7662
// introspection): the form and its required token parameter.
func parseTokenForm(w http.ResponseWriter, r *http.Request) (url.Values, string, error) {
	form, err := parseForm(w, r)
	if err != nil {
		return nil, "", err
	}
	raw := form.Get("token")
	if raw == "" {
		return nil, "", fmt.Errorf("%w: token missing", errBadRequest)
	}
	return form, raw, nil
}

// foldName folds a member name the way encoding/json matches names to fields (upper case of
// the lower case, rune by rune), so names the decoder would treat as one compare equal.
func foldName(name string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, name)
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

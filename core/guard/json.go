package guard

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A small, strict JSON reader for the two objects of a token. encoding/json cannot be used:
// it keeps the last of two members with one name and matches names case-insensitively, so
// {"sub":"u1","Sub":"admin"} would become "admin". This reader rejects duplicate member names
// at every level, matches names exactly, rejects invalid UTF-8, lone surrogates and raw control
// characters, limits nesting, and returns strings as substrings of its input where no escape
// forces a copy.

const maxDepth = 16

// errJSON is the internal "not strict JSON" marker; callers turn it into token.ErrMalformed.
type jsonError struct{ what string }

func (e *jsonError) Error() string { return "guard: json: " + e.what }

var (
	errSyntax    = &jsonError{"syntax"}
	errDuplicate = &jsonError{"duplicate member name"}
	errDepth     = &jsonError{"nesting too deep"}
	errString    = &jsonError{"invalid string"}
	errUTF8      = &jsonError{"invalid utf-8"}
)

type scanner struct {
	s string
	i int
}

func (sc *scanner) ws() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (sc *scanner) peek() byte {
	sc.ws()
	if sc.i < len(sc.s) {
		return sc.s[sc.i]
	}
	return 0
}

func (sc *scanner) expect(c byte) bool {
	if sc.peek() != c {
		return false
	}
	sc.i++
	return true
}

// str reads a string at the cursor and returns its value.
func (sc *scanner) str() (string, error) {
	if sc.peek() != '"' {
		return "", errSyntax
	}
	sc.i++
	start := sc.i
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case c == '"':
			v := sc.s[start:sc.i]
			sc.i++
			return v, nil
		case c == '\\':
			return sc.strSlow(start)
		case c < 0x20:
			return "", errString
		case c < utf8.RuneSelf:
			sc.i++
		default:
			r, n := utf8.DecodeRuneInString(sc.s[sc.i:])
			if r == utf8.RuneError && n <= 1 {
				return "", errUTF8
			}
			sc.i += n
		}
	}
	return "", errSyntax
}

// strSlow decodes a string with escapes; sc.i is at the first backslash.
func (sc *scanner) strSlow(start int) (string, error) {
	var b strings.Builder
	b.WriteString(sc.s[start:sc.i])
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case c == '"':
			sc.i++
			return b.String(), nil
		case c < 0x20:
			return "", errString
		case c == '\\':
			if sc.i+1 >= len(sc.s) {
				return "", errSyntax
			}
			e := sc.s[sc.i+1]
			sc.i += 2
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, ok := sc.hex4()
				if !ok {
					return "", errString
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xdc00 || sc.i+1 >= len(sc.s) || sc.s[sc.i] != '\\' || sc.s[sc.i+1] != 'u' {
						return "", errString // lone or reversed surrogate
					}
					sc.i += 2
					r2, ok := sc.hex4()
					if !ok {
						return "", errString
					}
					r = utf16.DecodeRune(r, r2)
					if r == utf8.RuneError {
						return "", errString
					}
				}
				b.WriteRune(r)
			default:
				return "", errString
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			sc.i++
		default:
			r, n := utf8.DecodeRuneInString(sc.s[sc.i:])
			if r == utf8.RuneError && n <= 1 {
				return "", errUTF8
			}
			b.WriteString(sc.s[sc.i : sc.i+n])
			sc.i += n
		}
	}
	return "", errSyntax
}

func (sc *scanner) hex4() (rune, bool) {
	if sc.i+4 > len(sc.s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(sc.s[sc.i : sc.i+4]) {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	sc.i += 4
	return r, true
}

// num reads a number at the cursor (RFC 8259 grammar) and returns its text.
func (sc *scanner) num() (string, error) {
	sc.ws()
	start := sc.i
	s := sc.s
	i := sc.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return "", errSyntax
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			return "", errSyntax
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			return "", errSyntax
		}
	}
	sc.i = i
	return s[start:i], nil
}

// names tracks the member names of one object to reject duplicates: a linear scan while
// small, a map beyond that so a hostile object with many members stays linear.
type names struct {
	small [16]string
	n     int
	big   map[string]struct{}
}

func (m *names) add(name string) bool {
	if m.big != nil {
		if _, ok := m.big[name]; ok {
			return false
		}
		m.big[name] = struct{}{}
		return true
	}
	for _, s := range m.small[:m.n] {
		if s == name {
			return false
		}
	}
	if m.n < len(m.small) {
		m.small[m.n] = name
		m.n++
		return true
	}
	m.big = make(map[string]struct{}, 2*len(m.small))
	for _, s := range m.small {
		m.big[s] = struct{}{}
	}
	m.big[name] = struct{}{}
	return true
}

// skip reads and discards any value at the cursor, checking it strictly.
func (sc *scanner) skip(depth int) error {
	if depth > maxDepth {
		return errDepth
	}
	switch c := sc.peek(); {
	case c == '"':
		_, err := sc.str()
		return err
	case c == '{':
		sc.i++
		var seen names
		return sc.members(&seen, func(string) error { return sc.skip(depth + 1) })
	case c == '[':
		sc.i++
		return sc.elements(func() error { return sc.skip(depth + 1) })
	case c == 't':
		return sc.lit("true")
	case c == 'f':
		return sc.lit("false")
	case c == 'n':
		return sc.lit("null")
	default:
		_, err := sc.num()
		return err
	}
}

func (sc *scanner) lit(w string) error {
	if !strings.HasPrefix(sc.s[sc.i:], w) {
		return errSyntax
	}
	sc.i += len(w)
	return nil
}

// members reads the members of an object whose '{' was consumed, calling fn with each name
// with the cursor at its value; fn must consume the value.
func (sc *scanner) members(seen *names, fn func(name string) error) error {
	if sc.expect('}') {
		return nil
	}
	for {
		name, err := sc.str()
		if err != nil {
			return err
		}
		if !seen.add(name) {
			return errDuplicate
		}
		if !sc.expect(':') {
			return errSyntax
		}
		if err := fn(name); err != nil {
			return err
		}
		if sc.expect(',') {
			continue
		}
		if sc.expect('}') {
			return nil
		}
		return errSyntax
	}
}

// elements reads the elements of an array whose '[' was consumed.
func (sc *scanner) elements(fn func() error) error {
	if sc.expect(']') {
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		if sc.expect(',') {
			continue
		}
		if sc.expect(']') {
			return nil
		}
		return errSyntax
	}
}

// end reports whether only white space is left.
func (sc *scanner) end() bool {
	sc.ws()
	return sc.i == len(sc.s)
}

// numericDate parses a NumericDate (RFC 7519): a JSON number of seconds, integral or not,
// within [0, maxDate].
func numericDate(text string) (sec, nsec int64, ok bool) {
	const maxDate = 253402300799 // 9999-12-31T23:59:59Z
	if !strings.ContainsAny(text, ".eE") {
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil || v < 0 || v > maxDate {
			return 0, 0, false
		}
		return v, 0, true
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f < 0 || f > maxDate || f != f {
		return 0, 0, false
	}
	sec = int64(f)
	return sec, int64((f - float64(sec)) * 1e9), true
}

// Package openapitest checks a service's OpenAPI 3.1 document against the service itself:
// the document is valid, documents every route its chi router registers and no other, and
// every response a test provokes has a documented status, media type, headers and a body that
// validates against the documented schema (JSON Schema 2020-12); at the end, every documented
// (operation, status) pair was provoked or is listed with the reason it cannot be.
package openapitest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"
)

// Load parses raw as an OpenAPI document and fails t unless it is a valid OpenAPI 3.1
// document with a title, a version and at least one path. file names the document in
// messages.
func Load(t *testing.T, raw []byte, file string) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("%s does not parse as OpenAPI: %v", file, err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("%s: openapi = %q, want 3.1.x", file, doc.OpenAPI)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI 3.1 document: %v", file, err)
	}
	if doc.Info == nil || doc.Info.Title == "" || doc.Info.Version == "" || doc.Paths.Len() == 0 {
		t.Fatalf("%s: info.title, info.version and paths are required", file)
	}
	return doc
}

// Operation names one operation: "POST /login", with the document's path template.
type Operation string

// Pair is an operation and a status it answers.
type Pair struct {
	Op     Operation
	Status int
}

func (p Pair) String() string { return fmt.Sprintf("%s -> %d", p.Op, p.Status) }

var chiParam = regexp.MustCompile(`\{([^}:]+)(:[^}]*)?\}`)

// Template turns a chi route pattern into the document's path template: {id:[0-9]+} becomes
// {id}, a trailing /* becomes /{path}.
func Template(route string) string {
	route = chiParam.ReplaceAllString(route, "{$1}")
	if s, ok := strings.CutSuffix(route, "/*"); ok {
		route = s + "/{path}"
	}
	return route
}

// Operations returns the operations doc documents, sorted.
func Operations(doc *openapi3.T) []Operation {
	var ops []Operation
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, Operation(strings.ToUpper(method)+" "+path))
		}
	}
	slices.Sort(ops)
	return ops
}

// CheckRoutes fails t for every route routes registers that doc does not document, and every
// operation doc documents that routes does not register. skip lists methods the document
// cannot hold (OpenAPI has no CONNECT). howTo says, in the failure message, where to add what.
func CheckRoutes(t *testing.T, doc *openapi3.T, routes chi.Routes, skip []string, file, howTo string) {
	t.Helper()
	registered := map[Operation]bool{}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !slices.Contains(skip, method) {
			registered[Operation(method+" "+Template(route))] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the router: %v", err)
	}
	documented := map[Operation]bool{}
	for _, op := range Operations(doc) {
		documented[op] = true
		if !registered[op] {
			t.Errorf("%s documents %s, which the router does not register: remove it from paths in %s, or register the route", file, op, file)
		}
	}
	var missing []string
	for op := range registered {
		if !documented[op] {
			missing = append(missing, string(op))
		}
	}
	slices.Sort(missing)
	for _, op := range missing {
		t.Errorf("the router registers %s, which %s does not document. %s", op, file, howTo)
	}
}

// Checker validates responses against a document and records the pairs it saw.
type Checker struct {
	doc  *openapi3.T
	file string

	mu   sync.Mutex
	seen map[Pair]bool
}

// NewChecker returns a Checker of doc (file names it in messages).
func NewChecker(doc *openapi3.T, file string) *Checker {
	return &Checker{doc: doc, file: file, seen: map[Pair]bool{}}
}

// Check validates resp, the answer to op, and records (op, status): the status must be
// documented for op; the documented headers marked required must be present; a documented
// response without content must have an empty body, one with content a Content-Type it
// lists and, for JSON media types (HEAD aside), a body that validates against its schema. It reads and
// closes resp.Body and returns the body.
func (c *Checker) Check(t *testing.T, op Operation, resp *http.Response) []byte {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: read body: %v", op, err)
	}
	method, path, _ := strings.Cut(string(op), " ")
	item := c.doc.Paths.Value(path)
	if item == nil {
		t.Fatalf("%s: path %s is not in %s", op, path, c.file)
	}
	o := item.GetOperation(method)
	if o == nil {
		t.Fatalf("%s: method %s of %s is not in %s", op, method, path, c.file)
	}
	c.mu.Lock()
	c.seen[Pair{op, resp.StatusCode}] = true
	c.mu.Unlock()
	ref := o.Responses.Value(strconv.Itoa(resp.StatusCode))
	if ref == nil || ref.Value == nil {
		t.Errorf("%s answered %d, a status %s does not document for it (body %.300s): add the response to the operation in %s",
			op, resp.StatusCode, c.file, body, c.file)
		return body
	}
	r := ref.Value
	for name, h := range r.Headers {
		if h.Value != nil && h.Value.Required && resp.Header.Get(name) == "" {
			t.Errorf("%s -> %d: header %s is documented as required but missing", op, resp.StatusCode, name)
		}
	}
	if len(r.Content) == 0 {
		if len(body) != 0 && method != http.MethodHead {
			t.Errorf("%s -> %d: documented without content, but the body is %.300q", op, resp.StatusCode, body)
		}
		return body
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Errorf("%s -> %d: Content-Type %q: %v", op, resp.StatusCode, resp.Header.Get("Content-Type"), err)
		return body
	}
	media := r.Content.Get(mt)
	if media == nil {
		t.Errorf("%s -> %d: Content-Type %s is not documented (documented: %v)", op, resp.StatusCode, mt, slices.Sorted(maps.Keys(r.Content)))
		return body
	}
	if media.Schema == nil || media.Schema.Value == nil || !isJSON(mt) || method == http.MethodHead {
		return body
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("%s -> %d: body is not JSON: %v (%.300s)", op, resp.StatusCode, err, body)
		return body
	}
	if err := media.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("%s -> %d: body does not match the documented schema: %v\nbody: %.500s", op, resp.StatusCode, err, body)
	}
	return body
}

// CheckProvoked fails t for every documented (operation, status) pair that no Check saw and
// that unprovokable does not list (with the reason it cannot be provoked in-process), and for
// every pair unprovokable lists that was provoked after all or is not documented.
func (c *Checker) CheckProvoked(t *testing.T, unprovokable map[Pair]string, howTo string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	documented := map[Pair]bool{}
	for _, op := range Operations(c.doc) {
		method, path, _ := strings.Cut(string(op), " ")
		for code := range c.doc.Paths.Value(path).GetOperation(method).Responses.Map() {
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Errorf("%s: response %q: only explicit status codes are documented", op, code)
				continue
			}
			p := Pair{op, n}
			documented[p] = true
			if !c.seen[p] && unprovokable[p] == "" {
				t.Errorf("%s documents %v, which no test provoked. %s", c.file, p, howTo)
			}
		}
	}
	for p := range unprovokable {
		switch {
		case !documented[p]:
			t.Errorf("unprovokable lists %v, which %s does not document", p, c.file)
		case c.seen[p]:
			t.Errorf("unprovokable lists %v, which a test provoked: remove it from the list", p)
		}
	}
}

func isJSON(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

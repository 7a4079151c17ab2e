package demo

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/core/token"
)

// subjects is a verifier that accepts a token naming its subject: "token-alice" is alice.
type subjects struct{}

func (subjects) Authenticate(_ context.Context, raw string) (token.Claims, error) {
	sub, ok := strings.CutPrefix(raw, "token-")
	if !ok {
		return token.Claims{}, token.ErrBadSignature
	}
	return token.Claims{Subject: sub}, nil
}

func newAPI(t *testing.T, kind string) *httptest.Server {
	t.Helper()
	r := chi.NewRouter()
	r.Use(httpapi.RequireToken(subjects{}))
	Routes(r, kind, NewLedger[Order](), NewLedger[Payment]())
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func send(t *testing.T, srv *httptest.Server, method, path, tok, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestOrdersBelongToTheVerifiedCaller(t *testing.T) {
	srv := newAPI(t, Orders)
	if st, _ := send(t, srv, "POST", "/api/orders", "token-alice", `{"item":"book","quantity":2}`); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st, _ := send(t, srv, "POST", "/api/orders", "token-bob", `{"item":"lamp","quantity":1}`); st != 201 {
		t.Fatalf("create: %d", st)
	}
	_, m := send(t, srv, "GET", "/api/orders", "token-alice", "")
	orders, _ := m["orders"].([]any)
	if len(orders) != 1 || orders[0].(map[string]any)["owner"] != "alice" || orders[0].(map[string]any)["item"] != "book" {
		t.Errorf("alice sees %v, want only her book", m)
	}
	if st, _ := send(t, srv, "GET", "/api/payments", "token-alice", ""); st != 404 {
		t.Errorf("orders service serves payments: %d", st)
	}
}

func TestRequestValidation(t *testing.T) {
	tests := []struct {
		name, kind, path, body string
		status                 int
	}{
		{"order ok", Orders, "/api/orders", `{"item":"book","quantity":1}`, 201},
		{"order zero quantity", Orders, "/api/orders", `{"item":"book","quantity":0}`, 400},
		{"order huge quantity", Orders, "/api/orders", `{"item":"book","quantity":1001}`, 400},
		{"order empty item", Orders, "/api/orders", `{"item":"","quantity":1}`, 400},
		{"order control character", Orders, "/api/orders", `{"item":"a\u0007b","quantity":1}`, 400},
		{"order owner is not settable", Orders, "/api/orders", `{"item":"book","quantity":1,"owner":"bob"}`, 400},
		{"payment ok", Payments, "/api/payments", `{"amount":1999,"currency":"EUR"}`, 201},
		{"payment negative", Payments, "/api/payments", `{"amount":-5,"currency":"EUR"}`, 400},
		{"payment bad currency", Payments, "/api/payments", `{"amount":5,"currency":"euro"}`, 400},
		{"payment amount as string", Payments, "/api/payments", `{"amount":"5","currency":"EUR"}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAPI(t, tt.kind)
			st, m := send(t, srv, "POST", tt.path, "token-alice", tt.body)
			if st != tt.status {
				t.Errorf("status = %d, want %d (%v)", st, tt.status, m)
			}
			if st == 400 && m["detail"] == "" {
				t.Errorf("400 without a detail: %v", m)
			}
		})
	}
}

func TestLedgerBoundsEachOwner(t *testing.T) {
	l := NewLedger[int]()
	for i := range maxPerOwner {
		if err := l.Add("alice", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Add("alice", -1); err == nil {
		t.Error("ledger took more than maxPerOwner records of one owner")
	}
	if err := l.Add("bob", 1); err != nil {
		t.Errorf("bob is limited by alice's records: %v", err)
	}
}

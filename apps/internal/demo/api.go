package demo

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/ports"
)

// maxPerOwner bounds what one caller may store in the demo's memory.
const maxPerOwner = 1000

// Ledger keeps each caller's records in memory. Safe for concurrent use.
type Ledger[T any] struct {
	mu      sync.Mutex
	byOwner map[string][]T
}

// NewLedger returns an empty ledger.
func NewLedger[T any]() *Ledger[T] { return &Ledger[T]{byOwner: map[string][]T{}} }

// Add appends v to owner's records; ErrConflict once owner has maxPerOwner of them.
func (l *Ledger[T]) Add(owner string, v T) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.byOwner[owner]) >= maxPerOwner {
		return ports.ErrConflict
	}
	l.byOwner[owner] = append(l.byOwner[owner], v)
	return nil
}

// List returns a copy of owner's records, oldest first.
func (l *Ledger[T]) List(owner string) []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append(make([]T, 0, len(l.byOwner[owner])), l.byOwner[owner]...)
}

// Order is one order of the orders service.
type Order struct {
	ID        string    `json:"id"`
	Owner     string    `json:"owner"` // the verified sub of the caller who placed it
	Item      string    `json:"item"`
	Quantity  int       `json:"quantity"`
	CreatedAt time.Time `json:"created_at"`
}

// Payment is one payment of the payments service.
type Payment struct {
	ID        string    `json:"id"`
	Owner     string    `json:"owner"`
	Amount    int64     `json:"amount"`   // in minor units (cents)
	Currency  string    `json:"currency"` // ISO 4217 code
	CreatedAt time.Time `json:"created_at"`
}

// Routes adds the kind's API under /api/ to r; the caller is always the verified subject,
// never anything in the request.
func Routes(r chi.Router, kind string, orders *Ledger[Order], payments *Ledger[Payment]) {
	switch kind {
	case Orders:
		r.Post("/api/orders", func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				Item     string `json:"item"`
				Quantity int    `json:"quantity"`
			}
			if err := httpapi.DecodeJSON(w, r, &req); err != nil {
				httpapi.WriteError(w, r, nil, err)
				return
			}
			if !plainText(req.Item, 100) || req.Quantity < 1 || req.Quantity > 1000 {
				httpapi.WriteError(w, r, nil, httpapi.Invalid("item must be 1 to 100 characters and quantity 1 to 1000"))
				return
			}
			o := Order{ID: newID(), Owner: caller(r), Item: req.Item, Quantity: req.Quantity, CreatedAt: time.Now().UTC()}
			if err := orders.Add(o.Owner, o); err != nil {
				httpapi.WriteError(w, r, nil, err)
				return
			}
			httpapi.WriteJSON(w, http.StatusCreated, o)
		})
		r.Get("/api/orders", func(w http.ResponseWriter, r *http.Request) {
			httpapi.WriteJSON(w, http.StatusOK, map[string]any{"orders": orders.List(caller(r))})
		})
	case Payments:
		r.Post("/api/payments", func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				Amount   int64  `json:"amount"`
				Currency string `json:"currency"`
			}
			if err := httpapi.DecodeJSON(w, r, &req); err != nil {
				httpapi.WriteError(w, r, nil, err)
				return
			}
			if req.Amount < 1 || req.Amount > 1_000_000_00 || !currency.MatchString(req.Currency) {
				httpapi.WriteError(w, r, nil, httpapi.Invalid("amount must be 1 to 100000000 minor units and currency a code such as EUR"))
				return
			}
			p := Payment{ID: newID(), Owner: caller(r), Amount: req.Amount, Currency: req.Currency, CreatedAt: time.Now().UTC()}
			if err := payments.Add(p.Owner, p); err != nil {
				httpapi.WriteError(w, r, nil, err)
				return
			}
			httpapi.WriteJSON(w, http.StatusCreated, p)
		})
		r.Get("/api/payments", func(w http.ResponseWriter, r *http.Request) {
			httpapi.WriteJSON(w, http.StatusOK, map[string]any{"payments": payments.List(caller(r))})
		})
	}
}

var currency = regexp.MustCompile(`^[A-Z]{3}$`)

func caller(r *http.Request) string {
	c, _ := httpapi.Claims(r.Context())
	return c.Subject
}

func plainText(s string, max int) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

package migration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

var (
	errTooNew = errors.New("test: too new")
	errBehind = errors.New("test: behind")
)

func TestLoad(t *testing.T) {
	ms, err := Load(fstest.MapFS{
		"migrations/0002_b.up.sql": {Data: []byte("B")},
		"migrations/0001_a.up.sql": {Data: []byte("A")},
		"migrations/README":        {},
	}, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	want := []Migration{{1, "0001_a", "A"}, {2, "0002_b", "B"}}
	if d := cmp.Diff(want, ms); d != "" {
		t.Errorf("Load (-want +got):\n%s", d)
	}
	bad := []struct {
		name  string
		files fstest.MapFS
	}{
		{"gap", fstest.MapFS{"migrations/0001_a.up.sql": {}, "migrations/0003_c.up.sql": {}}},
		{"no number", fstest.MapFS{"migrations/init.up.sql": {}}},
		{"zero", fstest.MapFS{"migrations/0000_a.up.sql": {}}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(tt.files, "migrations"); err == nil {
				t.Errorf("Load accepted %v", tt.files)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	if err := Check(3, 3, errTooNew, errBehind); err != nil {
		t.Errorf("Check(3, 3) = %v, want nil", err)
	}
	if err := Check(2, 3, errTooNew, errBehind); !errors.Is(err, errBehind) || !strings.Contains(err.Error(), "keygatectl migrate") {
		t.Errorf("Check(2, 3) = %v, want errBehind naming keygatectl migrate", err)
	}
	if err := Check(4, 3, errTooNew, errBehind); !errors.Is(err, errTooNew) || !strings.Contains(err.Error(), "version 4") ||
		!strings.Contains(err.Error(), "upgrade") {
		t.Errorf("Check(4, 3) = %v, want errTooNew naming version 4 and the remedy", err)
	}
}

// fakeDB is a Target in memory.
type fakeDB struct {
	created bool
	applied []string
	version int64
}

func (f *fakeDB) CreateTable(context.Context) error { f.created = true; return nil }

func (f *fakeDB) Version(context.Context) (int64, error) { return f.version, nil }

func (f *fakeDB) Apply(_ context.Context, m Migration) error {
	if m.SQL == "fail" {
		return errors.New("test: syntax error")
	}
	f.applied, f.version = append(f.applied, m.Name), m.Version
	return nil
}

func TestRun(t *testing.T) {
	ms := []Migration{{1, "0001_a", ""}, {2, "0002_b", ""}, {3, "0003_c", ""}}
	tests := []struct {
		name    string
		from    int64
		ms      []Migration
		applied []string
		err     error
	}{
		{"from empty", 0, ms, []string{"0001_a", "0002_b", "0003_c"}, nil},
		{"pending only", 2, ms, []string{"0003_c"}, nil},
		{"up to date", 3, ms, nil, nil},
		{"newer database untouched", 4, ms, nil, errTooNew},
		{"stops at a failure", 0, []Migration{{1, "0001_a", ""}, {2, "0002_b", "fail"}, {3, "0003_c", ""}}, []string{"0001_a"}, errors.New("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := &fakeDB{version: tt.from}
			err := Run(t.Context(), db, tt.ms, errTooNew, errBehind)
			if (err != nil) != (tt.err != nil) || tt.err == errTooNew && !errors.Is(err, errTooNew) {
				t.Errorf("Run = %v, want %v", err, tt.err)
			}
			if !db.created {
				t.Error("schema_migrations not created")
			}
			if d := cmp.Diff(tt.applied, db.applied); d != "" {
				t.Errorf("applied (-want +got):\n%s", d)
			}
		})
	}
}

func TestSet(t *testing.T) {
	good := NewSet(fstest.MapFS{"m/0001_a.up.sql": {Data: []byte("A")}, "m/0002_b.up.sql": {Data: []byte("B")}},
		"m", "test", errTooNew, errBehind)
	if got := good.Latest(); got != 2 {
		t.Errorf("Latest = %d, want 2", got)
	}
	if err := good.Check(1); !errors.Is(err, errBehind) {
		t.Errorf("Check(1) = %v, want errBehind", err)
	}
	db := &fakeDB{}
	if err := good.Run(t.Context(), db); err != nil || db.version != 2 {
		t.Errorf("Run = %v at version %d, want nil at 2", err, db.version)
	}

	bad := NewSet(fstest.MapFS{"m/init.up.sql": {}}, "m", "test", errTooNew, errBehind)
	if got := bad.Latest(); got != 0 {
		t.Errorf("Latest of an unreadable set = %d, want 0", got)
	}
	for name, err := range map[string]error{"Check": bad.Check(0), "Run": bad.Run(t.Context(), &fakeDB{})} {
		if err == nil || !strings.HasPrefix(err.Error(), "test: migration: bad file name") {
			t.Errorf("%s of an unreadable set = %v, want the adapter-prefixed load error", name, err)
		}
	}
}

package apptest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// Binaries are keygate's commands (apps/<name>) built once per test process into a temporary
// directory, for suites that run real processes (test/topology, test/region).
type Binaries struct {
	names []string
	once  sync.Once
	dir   string
	err   error
}

// NewBinaries returns the binaries of the named apps, built on the first Path.
func NewBinaries(names ...string) *Binaries { return &Binaries{names: names} }

// Path returns the path of the named binary, building all of them on first use; a failed
// build fails t with the compiler's output.
func (b *Binaries) Path(t testing.TB, name string) string {
	t.Helper()
	b.once.Do(func() { b.dir, b.err = build(b.names) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	if !slices.Contains(b.names, name) {
		t.Fatalf("apptest: %s is not among the built binaries %v", name, b.names)
	}
	return filepath.Join(b.dir, name)
}

// Remove deletes the built binaries (from TestMain, after m.Run).
func (b *Binaries) Remove() {
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

func build(names []string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "keygate-bin-")
	if err != nil {
		return "", err
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./apps/"+n)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("apptest: go build: %v\n%s", err, out)
	}
	return dir, nil
}

// moduleRoot is the nearest directory at or above the working directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("apptest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Eventually polls cond every 10 ms until it holds, and returns how long that took; past
// within it fails t naming what was awaited.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// Percentile returns the p-th percentile (0 < p <= 1) of ds by nearest rank; ds is not
// changed.
func Percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Merge returns one map of all of ms; a later map's value wins.
func Merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

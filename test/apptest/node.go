package apptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// EnvRequire names the variable that, set to 1 (as in CI), makes a missing runtime (Docker,
// node, npm, python3 with PyJWT) a failure instead of a skip.
const EnvRequire = "KEYGATE_REQUIRE_DOCKER"

// SkipOrFail skips t because of reason, or fails it under KEYGATE_REQUIRE_DOCKER=1.
func SkipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%s and %s=1", reason, EnvRequire)
	}
	t.Skipf("%s (set %s=1 to make this a failure)", reason, EnvRequire)
}

var (
	npmOnce sync.Once
	npmErr  error
)

// NodeClients returns test/node with its pinned jose installed (npm ci, unless the installed
// jose is already the pinned one), or skips t without node and npm.
func NodeClients(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "node")
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			SkipOrFail(t, tool+" is not installed (Node 20 and npm run the jose clients in test/node)")
		}
	}
	npmOnce.Do(func() {
		if pinned(dir) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "npm", "ci", "--prefix", dir, "--no-audit", "--no-fund").CombinedOutput()
		if err != nil {
			npmErr = fmt.Errorf("npm ci --prefix %s: %w\n%s", dir, err, out)
		}
	})
	if npmErr != nil {
		t.Fatal(npmErr)
	}
	return dir
}

// pinned reports whether dir's node_modules holds the jose version its package.json pins.
func pinned(dir string) bool {
	var pkg struct{ Dependencies map[string]string }
	var installed struct{ Version string }
	b, err1 := os.ReadFile(filepath.Join(dir, "package.json"))
	c, err2 := os.ReadFile(filepath.Join(dir, "node_modules", "jose", "package.json"))
	if err := errors.Join(err1, err2); err != nil {
		return false
	}
	if json.Unmarshal(b, &pkg) != nil || json.Unmarshal(c, &installed) != nil {
		return false
	}
	return installed.Version != "" && installed.Version == pkg.Dependencies["jose"]
}

package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const versionPkg = "github.com/keygate/keygate/internal/version"

// releaseFlags are the go build flags deploy/Dockerfile and `make release` use; the test below
// checks both files carry them.
var releaseFlags = []string{"-trimpath", "-buildvcs=false", "-s -w -buildid=", "-X " + versionPkg + ".version=", "-X " + versionPkg + ".revision="}

func TestReleaseRecipesStampTheVersionReproducibly(t *testing.T) {
	for _, file := range []string{"deploy/Dockerfile", "Makefile"} {
		text := string(readFile(t, file))
		for _, f := range releaseFlags {
			if !strings.Contains(text, f) {
				t.Errorf("%s lacks the release build flag %q", file, f)
			}
		}
	}
	df := string(readFile(t, "deploy/Dockerfile"))
	for _, want := range []string{"ARG VERSION", "ARG REVISION", "ARG SOURCE_DATE_EPOCH", `org.opencontainers.image.version="${VERSION}"`} {
		if !strings.Contains(df, want) {
			t.Errorf("deploy/Dockerfile lacks %q", want)
		}
	}
}

// copySources copies the tracked files of the repository to dst (a different path, as a
// second build machine would have).
func copySources(t *testing.T, root, dst string) {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("git ls-files: %v (the copy needs the repository's file list)", err)
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the working tree
			}
			t.Fatal(err)
		}
		p := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReleaseBuildIsReproducible builds a program of the module that prints the version (as
// every binary's --version does; testdata/stamp, a small stand-in for the apps, whose
// dependency graph would take minutes to compile three times on a loaded CI machine) with the
// Dockerfile's flags from the repository and from a copy of it at another path, and compares
// the bytes: a release can be rebuilt and checked by anyone with the same Go. It also builds
// without -trimpath to show the comparison can fail (the source path leaks into the binary),
// and runs the stamped binary.
func TestReleaseBuildIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program three times; skipped with -short")
	}
	root := repoRoot(t)
	other := filepath.Join(t.TempDir(), "elsewhere", "keygate")
	copySources(t, root, other)
	out := t.TempDir()
	ldflags := "-s -w -buildid= -X " + versionPkg + ".version=v9.8.7 -X " + versionPkg + ".revision=0123abc"
	build := func(dir, name string, trim bool) []byte {
		t.Helper()
		args := []string{"build", "-buildvcs=false", "-ldflags=" + ldflags, "-o", filepath.Join(out, name), "./test/deploy/testdata/stamp"}
		if trim {
			args = append([]string{"build", "-trimpath"}, args[1:]...)
		}
		cmd := exec.CommandContext(t.Context(), "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-mod=mod", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v in %s: %v\n%s", args, dir, err, b)
		}
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := build(root, "a", true)
	b := build(other, "b", true)
	if !bytes.Equal(a, b) {
		t.Errorf("a program built with the release flags from %s and from %s differs (%d vs %d bytes): the build is not reproducible", root, other, len(a), len(b))
	}
	if untrimmed := build(other, "c", false); bytes.Equal(a, untrimmed) {
		t.Errorf("a build without -trimpath from another path gave the same bytes: this comparison could not catch a leaked path")
	}
	got, err := exec.CommandContext(t.Context(), filepath.Join(out, "a")).Output()
	if err != nil {
		t.Fatalf("run the stamped program: %v", err)
	}
	if want := "a: keygate v9.8.7 (revision 0123abc, go"; !strings.HasPrefix(string(got), want) {
		t.Errorf("the stamped program prints %q, want the prefix %q", got, want)
	}
}

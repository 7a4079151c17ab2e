// Package version says which build of keygate is running: the release version and source
// revision stamped at link time (-ldflags -X, as deploy/Dockerfile and `make release` do),
// or else what the Go toolchain recorded from the module and VCS (runtime/debug.ReadBuildInfo).
// Every binary prints it for --version and authd exports it as keygate_build_info.
//
// It imports only the standard library, so adapters may use it (test/arch keeps it so).
package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// Stamped at link time, for builds without VCS information (a Docker build context holds no
// .git):
//
//	go build -ldflags "-X github.com/keygate/keygate/internal/version.version=v1.2.0 \
//	  -X github.com/keygate/keygate/internal/version.revision=$(git rev-parse HEAD)"
var (
	version  string
	revision string
)

// Unknown is the value of a field nothing recorded.
const Unknown = "unknown"

// Info describes one build.
type Info struct {
	// Version is the release ("v1.2.0"), the module's pseudo-version, or "devel".
	Version string
	// Revision is the VCS commit, with "-dirty" when the tree had local changes, or Unknown.
	Revision string
	// GoVersion is the toolchain that built the binary ("go1.26.8").
	GoVersion string
}

// Get returns the build of the running binary.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, revision, bi)
}

// resolve prefers the link-time stamps, then the build info, field by field.
func resolve(stampVersion, stampRevision string, bi *debug.BuildInfo) Info {
	info := Info{Version: stampVersion, Revision: stampRevision, GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if info.Revision == "" {
			var rev string
			var modified bool
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value == "true"
				}
			}
			if rev != "" && modified {
				rev += "-dirty"
			}
			info.Revision = rev
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Revision == "" {
		info.Revision = Unknown
	}
	return info
}

// String is the one line --version prints: "keygate v1.2.0 (revision 0123abc, go1.26.8)".
func (i Info) String() string {
	return fmt.Sprintf("keygate %s (revision %s, %s)", i.Version, i.Revision, i.GoVersion)
}

// Requested reports whether a binary's arguments (os.Args) ask only for its version:
// "--version" or "-version" as the sole argument.
func Requested(args []string) bool {
	return len(args) == 2 && (args[1] == "--version" || args[1] == "-version")
}

// Print writes the version line of the binary named by args[0] ("authd: keygate v1.2.0 (revision ..., go1.26.8)").
func Print(w io.Writer, args []string) {
	name := "keygate"
	if len(args) > 0 {
		name = args[0][strings.LastIndexAny(args[0], `/\`)+1:]
	}
	fmt.Fprintf(w, "%s: %s\n", name, Get())
}

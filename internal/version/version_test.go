package version

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolvePrefersStampsThenBuildInfo(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/keygate/keygate", Version: "v0.3.1-0.20261204101500-0123456789ab+dirty"},
		Settings:  []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}},
	}
	tests := []struct {
		name               string
		stampVer, stampRev string
		bi                 *debug.BuildInfo
		want               Info
	}{
		{"stamped", "v1.2.0", "feedface", vcs, Info{"v1.2.0", "feedface", "go1.26.8"}},
		{"from build info", "", "", vcs, Info{"v0.3.1-0.20261204101500-0123456789ab+dirty", "0123456789abcdef-dirty", "go1.26.8"}},
		{"version stamped, revision from vcs", "v1.2.0", "", vcs, Info{"v1.2.0", "0123456789abcdef-dirty", "go1.26.8"}},
		{"devel without vcs", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, Info{"devel", Unknown, "go1.26.8"}},
		{"no build info", "", "", nil, Info{"devel", Unknown, runtime.Version()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolve(tt.stampVer, tt.stampRev, tt.bi); got != tt.want {
				t.Errorf("resolve = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRequestedOnlyForTheSoleVersionFlag(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"authd", "--version"}, true},
		{[]string{"authd", "-version"}, true},
		{[]string{"authd"}, false},
		{[]string{"keygatectl", "migrate", "--version"}, false},
		{[]string{"authd", "--versions"}, false},
	}
	for _, tt := range tests {
		if got := Requested(tt.args); got != tt.want {
			t.Errorf("Requested(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func TestPrintNamesTheBinary(t *testing.T) {
	var b bytes.Buffer
	Print(&b, []string{"/usr/local/bin/authd", "--version"})
	if got := b.String(); !strings.HasPrefix(got, "authd: keygate ") || !strings.Contains(got, runtime.Version()) || !strings.HasSuffix(got, ")\n") {
		t.Errorf("Print = %q, want \"authd: keygate <version> (revision <rev>, %s)\\n\"", got, runtime.Version())
	}
}

package build

import (
	"runtime/debug"
	"testing"
)

// TestDescribeBuild: --version says the module version, the commit and
// whether the tree had changes, and the Go that built it.
func TestDescribeBuild(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "45630aa1b2c3d4e5f60718293a4b5c6d7e8f9012"},
		{Key: "vcs.time", Value: "2026-12-07T04:13:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tt := range []struct {
		name    string
		version string
		info    *debug.BuildInfo
		want    string
	}{
		{"no build info", "", nil, "(devel)"},
		{"ldflags, no build info", "v1.2.3", nil, "v1.2.3"},
		{"go build in a checkout", "", &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v0.0.0-20261207041300-45630aa1b2c3+dirty"}, Settings: vcs},
			"v0.0.0-20261207041300-45630aa1b2c3+dirty (commit 45630aa1b2c3 of 2026-12-07T04:13:00Z, with changes; built with go1.27.3)"},
		{"go run", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"(devel) (built with go1.26.8)"},
		{"go install module@version", "", &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v1.4.0"}},
			"v1.4.0 (built with go1.27.3)"},
		{"ldflags win", "v1.2.3", &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"}, Settings: vcs[:3]},
			"v1.2.3 (commit 45630aa1b2c3 of 2026-12-07T04:13:00Z; built with go1.27.3)"},
	} {
		if got := Describe(tt.version, tt.info); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

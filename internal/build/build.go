// Package build says which build of mailmerge is running, for
// --version and for bug reports: the version, the commit it was built
// from and whether the tree had changes, and the Go that built it.
package build

import (
	"runtime/debug"
	"strings"
)

// Describe says which build info is: version (the one given with
// -ldflags, else the module's), the commit and its time, whether the tree
// had changes, and the Go that built it.
func Describe(version string, info *debug.BuildInfo) string {
	if info == nil {
		if version == "" {
			return "(devel)"
		}
		return version
	}
	if version == "" {
		version = info.Main.Version
	}
	if version == "" {
		version = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var parts []string
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		c := "commit " + rev
		if at != "" {
			c += " of " + at
		}
		if modified {
			c += ", with changes"
		}
		parts = append(parts, c)
	}
	if info.GoVersion != "" {
		parts = append(parts, "built with "+info.GoVersion)
	}
	if len(parts) == 0 {
		return version
	}
	return version + " (" + strings.Join(parts, "; ") + ")"
}

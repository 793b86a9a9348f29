// Package testenv decides whether a test that needs a real server program
// (Postfix, Dovecot, Mailpit) runs. It runs wherever the programs are
// installed and the test runs as root (the servers are started as root
// and drop to their own users); elsewhere it is skipped, saying what to
// install, unless MAILMERGE_TEST_POSTFIX=1 demands the real servers, as
// .ci/run does: then a missing program fails the test.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Need runs t only where every program is found (a name on PATH or an
// absolute path) and the test runs as root; install says how to get the
// programs.
func Need(t testing.TB, install string, programs ...string) {
	t.Helper()
	var missing []string
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		Missing(t, strings.Join(missing, ", "), install)
	}
	if os.Geteuid() != 0 {
		if demanded() {
			t.Fatal("MAILMERGE_TEST_POSTFIX is set but the tests do not run as root, which the real servers need")
		}
		t.Skip("the real servers are started as root; run the tests as root (as .ci/run does)")
	}
}

// Missing skips t, or fails it where the real servers are demanded,
// because what is not installed; install says how to get it.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if demanded() {
		t.Fatalf("MAILMERGE_TEST_POSTFIX is set but %s is not installed: %s", what, install)
	}
	t.Skipf("%s not installed (%s; .ci/run installs it)", what, install)
}

func demanded() bool { return os.Getenv("MAILMERGE_TEST_POSTFIX") != "" }

// Tool returns the path of a program a test needs that is no server
// (chromium, pdftotext), found on PATH. Where it is missing the test is
// skipped, saying what to install, or fails under CI=true or
// MAILMERGE_TEST_CHROMIUM=1, as .ci/run runs the tests.
func Tool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" || os.Getenv("MAILMERGE_TEST_CHROMIUM") != "" {
		t.Fatalf("%s is not installed, and CI or MAILMERGE_TEST_CHROMIUM demands it: %s", name, install)
	}
	t.Skipf("%s not installed (%s; .ci/run installs it)", name, install)
	return ""
}

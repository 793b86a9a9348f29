package sender

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/mailmerge/mailmerge/internal/journal"
)

func TestMaildir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	ls := letters(20)
	st, last, err := runPool(t, &Maildir{Path: dir}, ls, nil)
	if err != nil || st.Delivered != 20 || countStates(last)[journal.Delivered] != 20 {
		t.Fatalf("%v %s", err, summary(st))
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "new"))
	if len(entries) != 20 {
		t.Fatalf("%d files in new/", len(entries))
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("%d files left in tmp/", len(tmp))
	}
	found := 0
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, "new", e.Name()))
		for _, l := range ls {
			if bytes.Equal(data, bytes.ReplaceAll(l.Data, []byte("\r\n"), []byte("\n"))) {
				found++
			}
		}
		if bytes.Contains(data, []byte("\r")) {
			t.Errorf("%s has CR line ends; a Maildir file ends its lines with LF", e.Name())
		}
		if fi, _ := e.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", e.Name(), fi.Mode().Perm())
		}
	}
	if found != 20 {
		t.Errorf("%d of 20 letters found byte for byte", found)
	}
	// A re-run delivers nothing again.
	path := filepath.Join(t.TempDir(), "j")
	runPoolJournal(t, path, &Maildir{Path: dir + "2"}, ls, nil)
	st, _, _ = runPoolJournal(t, path, &Maildir{Path: dir + "2"}, ls, nil)
	if st.Delivered != 0 || st.Skipped[journal.Delivered] != 20 {
		t.Errorf("re-run: %s %v", summary(st), st.Skipped)
	}
}

func TestMaildirHost(t *testing.T) {
	tests := []struct{ host, goos, want string }{
		{"mail.example.org", "linux", "mail.example.org"},
		{"odd/host:1", "linux", `odd\057host\0721`},
		{"odd/host:1", "darwin", `odd\057host\0721`},
		{`odd/host:1\x*`, "windows", "odd_host_1_x_"},
		{"DESKTOP-7Q2", "windows", "DESKTOP-7Q2"},
	}
	for _, tt := range tests {
		if got := maildirHost(tt.host, tt.goos); got != tt.want {
			t.Errorf("maildirHost(%q, %s) = %q, want %q", tt.host, tt.goos, got, tt.want)
		}
	}
}

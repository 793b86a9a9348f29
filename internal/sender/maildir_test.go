package sender

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// TestBudget: a run never sends to more recipients than its Budget: it
// stops before the first letter that would go past it, which stays
// untouched (no record) with every letter after it.
func TestBudget(t *testing.T) {
	rcpts := []int{1, 1, 3, 1} // recipients of each letter, in order
	tests := []struct {
		budget, max int
		delivered   []string
	}{
		{0, 0, []string{"key0", "key1", "key2", "key3"}},
		{2, 0, []string{"key0", "key1"}},
		{4, 0, []string{"key0", "key1"}}, // 3 recipients when 2 are left: not sent
		{5, 0, []string{"key0", "key1", "key2"}},
		{6, 0, []string{"key0", "key1", "key2", "key3"}},
		{6, 2, []string{"key0", "key1"}}, // MaxLetters still holds
		{1, 0, []string{"key0"}},
	}
	for _, tt := range tests {
		ls := letters(len(rcpts))
		for i, n := range rcpts {
			for j := 1; j < n; j++ {
				ls[i].Recipients = append(ls[i].Recipients, fmt.Sprintf("cc%d@example.com", j))
				ls[i].Sources = append(ls[i].Sources, "cc")
			}
		}
		st, last, err := runPool(t, &Maildir{Path: filepath.Join(t.TempDir(), "out")}, ls, func(p *Pool) {
			p.Budget, p.MaxLetters, p.Concurrency = tt.budget, tt.max, 2
		})
		var got []string
		spent := 0
		for i := range ls {
			k := fmt.Sprintf("key%d", i)
			if r, ok := last[k]; ok && r.State == journal.Delivered {
				got = append(got, k)
				spent += len(r.Rcpt)
			} else if ok {
				t.Errorf("budget %d: %s recorded %s, want delivered or nothing", tt.budget, k, r.State)
			}
		}
		if err != nil || !slices.Equal(got, tt.delivered) || st.Untouched != len(rcpts)-len(tt.delivered) || tt.budget > 0 && spent > tt.budget {
			t.Errorf("budget %d, max %d: delivered %v (%d recipients), %v %s; want %v", tt.budget, tt.max, got, spent, err, summary(st), tt.delivered)
		}
	}
}

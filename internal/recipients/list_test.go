package recipients

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadList(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, data string
		want       map[string]int
		err        string
	}{
		{"lines.txt", "# unsubscribed\nAnn@Example.com\n\n  bob@example.com  # asked on 2 May\nИван <ivan@example.com>\n\u00a0cid@example.com\n",
			map[string]int{"ann@example.com": 2, "bob@example.com": 4, "ivan@example.com": 5, "cid@example.com": 6}, ""},
		{"export.csv", "\ufeffname;Email;date\nAnn;ann@example.com;2026-05-02\nBob;;\nCid; CID@example.com ;x\n",
			map[string]int{"ann@example.com": 2, "cid@example.com": 4}, ""},
		{"empty.csv", "email\n", map[string]int{}, ""},
		{"empty.txt", "", map[string]int{}, ""},
		{"bad.txt", "ann@example.com\nnot an address\n", nil, "bad.txt:2: "},
		{"two.txt", "a@example.com, b@example.com\n", nil, "two.txt:1: 2 addresses on one line"},
		{"bad.csv", "email,name\nann@example.com,Ann\nbroken,Bob\n", nil, "bad.csv:3:1: "},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		os.WriteFile(path, []byte(tt.data), 0o644)
		got, err := ReadList(path, Options{})
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("%s: %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

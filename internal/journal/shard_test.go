package journal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestSecretAtOnce: the shards of a split share their mailing's secret;
// when they all start at once, they all get the one that was made.
func TestSecretAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "course.journal")
	const n = 16
	secrets := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := Secret(path, true)
			if err != nil {
				t.Error(err)
			}
			secrets[i] = s
		})
	}
	wg.Wait()
	for i, s := range secrets[1:] {
		if len(s) != 32 || !bytes.Equal(s, secrets[0]) {
			t.Errorf("send %d got the secret %x, send 0 %x", i+1, s, secrets[0])
		}
	}
}

// TestCreateSecret: where a secret is made in place (no hard links), it
// is made only when missing; a reader waits for a secret's line to end,
// and takes a whole one without its end (written by hand) at once.
func TestCreateSecret(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "course.journal.secret")
	text := strings.Repeat("ab", 32)
	if err := createSecret(name, text+"\n"); err != nil {
		t.Fatal(err)
	}
	if err := createSecret(name, strings.Repeat("cd", 32)+"\n"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("made over the first: %v", err)
	}
	if s, err := Secret(filepath.Join(dir, "course.journal"), true); err != nil || hex.EncodeToString(s) != text {
		t.Errorf("read %x, %v; want the first", s, err)
	}

	os.WriteFile(name, []byte(text), 0o600) // whole, no line end
	if s, err := Secret(filepath.Join(dir, "course.journal"), false); err != nil || hex.EncodeToString(s) != text {
		t.Errorf("without its line end: %x, %v", s, err)
	}
	os.WriteFile(name, []byte(text[:20]), 0o600) // half written, and never more
	if _, err := Secret(filepath.Join(dir, "course.journal"), false); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Errorf("half a secret: %v", err)
	}
}

package journal

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRegister: one send of a campaign's name at a time, whichever
// journal; each registration names the other journals of the name that
// are still there; other names are not concerned.
func TestRegister(t *testing.T) {
	dir, work := t.TempDir(), t.TempDir()
	a, b := filepath.Join(work, "a", "course.journal"), filepath.Join(work, "b", "course.journal")
	for _, p := range []string{a, b} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o600)
	}
	ra, err := Register(dir, "course", a)
	if err != nil || len(ra.Others) != 0 {
		t.Fatalf("first: %+v, %v", ra, err)
	}
	if _, err := Register(dir, "course", b); !errors.Is(err, ErrCampaignBusy) || !strings.Contains(err.Error(), a) {
		t.Errorf("while a sends: %v, want ErrCampaignBusy naming %s", err, a)
	}
	other, err := Register(dir, "another course", b)
	if err != nil {
		t.Fatalf("another name: %v", err)
	}
	other.Release()
	ra.Release()
	rb, err := Register(dir, "course", b)
	if err != nil || !slices.Equal(rb.Others, []string{a}) {
		t.Fatalf("b after a: %+v, %v", rb, err)
	}
	rb.Release()
	os.Remove(a) // moved away: no longer a copy
	ra, err = Register(dir, "course", b)
	if err != nil || len(ra.Others) != 0 {
		t.Errorf("after a's journal went: %+v, %v", ra, err)
	}
	ra.Release()
}

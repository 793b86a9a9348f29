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

// TestRegisterShard: the shards of one folder's split run together, each
// once; a send without shards, a shard of a copy in another folder, a
// shard of another split wait for them, and they for it.
func TestRegisterShard(t *testing.T) {
	dir, work := t.TempDir(), t.TempDir()
	at := func(folder, name string) string {
		p := filepath.Join(work, folder, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o600)
		return p
	}
	a1, a2, a := at("a", "course.shard-1-of-2.journal"), at("a", "course.shard-2-of-2.journal"), at("a", "course.journal")
	b1, b2 := at("b", "course.shard-1-of-2.journal"), at("b", "course.shard-2-of-2.journal")
	a13 := at("a", "course.shard-1-of-3.journal")

	r1, err := RegisterShard(dir, "course", a1, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := RegisterShard(dir, "course", a2, 2, 2)
	if err != nil {
		t.Fatalf("shard 2/2 beside 1/2: %v", err)
	}
	refused := []struct {
		what string
		try  func() (*Registration, error)
		says string
	}{
		{"the same shard again", func() (*Registration, error) { return RegisterShard(dir, "course", a1, 1, 2) }, a1},
		{"a send without shards", func() (*Registration, error) { return Register(dir, "course", a) }, "course.shard-"},
		{"a copy's other shard", func() (*Registration, error) { return RegisterShard(dir, "course", b2, 2, 2) }, "from another folder"},
		{"a copy's same shard", func() (*Registration, error) { return RegisterShard(dir, "course", b1, 1, 2) }, "from another folder"},
		{"another split", func() (*Registration, error) { return RegisterShard(dir, "course", a13, 1, 3) }, "split into 2 shards (not 3)"},
	}
	for _, tt := range refused {
		r, err := tt.try()
		if !errors.Is(err, ErrCampaignBusy) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s while shards 1/2 and 2/2 run: %v, want ErrCampaignBusy saying %q", tt.what, err, tt.says)
			r.Release()
		}
	}
	other, err := RegisterShard(dir, "another course", b1, 1, 2)
	if err != nil {
		t.Errorf("another name: %v", err)
	}
	other.Release()
	r1.Release()
	r2.Release()

	// Without shards: shards wait for it.
	ra, err := Register(dir, "course", a)
	if err != nil {
		t.Fatalf("after the shards: %v", err)
	}
	if r, err := RegisterShard(dir, "course", a1, 1, 2); !errors.Is(err, ErrCampaignBusy) || !strings.Contains(err.Error(), a) {
		t.Errorf("a shard while a send without shards runs: %v, want ErrCampaignBusy naming %s", err, a)
		r.Release()
	}
	ra.Release()

	// The copy's shards, once the others are done: they know the others.
	rb, err := RegisterShard(dir, "course", b1, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Release()
	if !slices.Contains(rb.Others, a1) || !slices.Contains(rb.Others, a2) || !slices.Contains(rb.Others, a) {
		t.Errorf("others %v, want %s, %s, %s among them", rb.Others, a1, a2, a)
	}
}

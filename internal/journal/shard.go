package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// RegisterShard is Register for shard k of n of a mailing split across
// sends that run at once (send --shard), whose journal is at path: the
// shards of one folder's split may run together, each once. It takes the
// campaign's lock shared, so that no send of its name without shards
// runs meanwhile, and a lock of the shard's own. When a send of the name
// without shards runs, or the same shard, or a shard from another
// folder (a copy of the mailing) or of a split into another number of
// shards, the error wraps ErrCampaignBusy and names its journal.
func RegisterShard(dir, campaign, path string, k, n int) (*Registration, error) {
	path, base, f, err := lockName(dir, campaign, path, lockShared)
	if err != nil {
		return nil, err
	}
	r := &Registration{lock: f}
	// One shard at a time looks at the others and takes its own lock:
	// two starting at once see each other. Nobody holds this lock for
	// longer than that.
	m, err := os.OpenFile(base+".shards.lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		defer m.Close()
		err = lockWait(m)
	}
	if err != nil {
		r.Release()
		return nil, fmt.Errorf("the registry of mailings: %w", err)
	}
	if err := r.takeShard(base, path, k, n); err != nil {
		r.Release()
		return nil, err
	}
	holds(f, path) // for the message of a send without shards
	if err := r.note(base, path); err != nil {
		r.Release()
		return nil, err
	}
	return r, nil
}

// takeShard takes the lock of shard k of n (base is registryBase's), once
// no shard of another folder or another split runs.
func (r *Registration) takeShard(base, path string, k, n int) error {
	own := fmt.Sprintf("%s.shard-%d-of-%d.lock", base, k, n)
	entries, err := os.ReadDir(filepath.Dir(base))
	if err != nil {
		return fmt.Errorf("the registry of mailings: %w", err)
	}
	prefix := filepath.Base(base) + ".shard-"
	for _, e := range entries {
		name := filepath.Join(filepath.Dir(base), e.Name())
		var ok, on int
		if !strings.HasPrefix(e.Name(), prefix) || name == own {
			continue
		}
		if _, err := fmt.Sscanf(strings.TrimPrefix(e.Name(), prefix), "%d-of-%d.lock", &ok, &on); err != nil {
			continue
		}
		holder, running, err := heldBy(name)
		switch {
		case err != nil:
			return fmt.Errorf("the registry of mailings: %w", err)
		case !running:
		case filepath.Dir(holder) != filepath.Dir(path):
			return fmt.Errorf("%w from another folder, with the journal %s", ErrCampaignBusy, holder)
		case on != n:
			return fmt.Errorf("%w, split into %d shards (not %d), with the journal %s", ErrCampaignBusy, on, n, holder)
		}
	}
	g, err := os.OpenFile(own, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("the registry of mailings: %w", err)
	}
	if err := lock(g); err != nil {
		return busy(g, err)
	}
	holds(g, path)
	r.shard = g
	return nil
}

// heldBy says whether a shard holds the lock file at name, and the
// journal it wrote there.
func heldBy(name string) (holder string, held bool, err error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	err = lock(f)
	if err == nil {
		return "", false, nil // nobody's: closing f gives it back
	}
	if !errors.Is(err, ErrLocked) {
		return "", false, err
	}
	b, _ := io.ReadAll(io.LimitReader(f, 4096))
	return strings.TrimSpace(string(b)), true, nil
}

package journal

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// A mailing's journal lives beside its config, so a copy of the folder
// (to another place, a USB stick and back) is a second journal that knows
// nothing of the first: every letter would go out twice. The registry, in
// the user's state folder, names every journal a mailing of each campaign
// name was sent with on this machine, and a lock per campaign name keeps
// two of its sends from running at once, from whichever folder.

// ErrCampaignBusy is wrapped when a send of a mailing of the same name
// runs from another journal.
var ErrCampaignBusy = errors.New("another mailmerge send of this campaign is running")

// StateDir is where the registry lives: $XDG_STATE_HOME/mailmerge, else
// ~/.local/state/mailmerge on Linux and the BSDs, else the user's config
// folder (AppData on Windows, Library/Application Support on macOS).
func StateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "mailmerge"), nil
	}
	if runtime.GOOS != "windows" && runtime.GOOS != "darwin" {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, ".local", "state", "mailmerge"), nil
		}
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "mailmerge"), nil
}

// Registration holds a campaign's lock for one send.
type Registration struct {
	lock  *os.File
	shard *os.File // a shard's own lock (RegisterShard); nil for none
	// Others are the other journals of mailings of the campaign's name
	// that this machine sent with and that are still there.
	Others []string
}

// Register takes the lock of the campaign's name in the registry at dir,
// records the journal at path as one of its journals, and returns the
// others. When a send of the same name runs from another journal, the
// error wraps ErrCampaignBusy and names that journal.
func Register(dir, campaign, path string) (*Registration, error) {
	path, base, f, err := lockName(dir, campaign, path, lock)
	if err != nil {
		return nil, err
	}
	// Who holds the lock, for the message of the send that finds it held.
	holds(f, path)
	r := &Registration{lock: f}
	if err := r.note(base, path); err != nil {
		r.Release()
		return nil, err
	}
	return r, nil
}

// registryBase makes the registry at dir and returns the start of the
// names of its files of the campaign's name.
func registryBase(dir, campaign string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("the registry of mailings: %w", err)
	}
	sum := sha256.Sum256([]byte(campaign))
	return filepath.Join(dir, "campaign-"+hex.EncodeToString(sum[:12])), nil
}

// busy closes f, whose lock could not be taken (err), and says why: the
// lock is held (ErrCampaignBusy, naming the journal f says holds it), or
// the registry fails.
func busy(f *os.File, err error) error {
	holder, _ := io.ReadAll(io.LimitReader(f, 4096))
	f.Close()
	if errors.Is(err, ErrLocked) {
		return fmt.Errorf("%w, with the journal %s", ErrCampaignBusy, strings.TrimSpace(string(holder)))
	}
	return fmt.Errorf("the registry of mailings: %w", err)
}

// holds writes into f, a lock file held, the journal that holds it.
func holds(f *os.File, path string) {
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(path+"\n"), 0)
	}
}

// note records the journal at path as one of the campaign's in the
// registry's list of them (base is registryBase's), and finds the others
// still there.
func (r *Registration) note(base, path string) error {
	list := base + ".journals"
	known, err := readLines(list)
	if err != nil {
		return fmt.Errorf("the registry of mailings: %w", err)
	}
	for _, p := range known {
		if p == path {
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			r.Others = append(r.Others, p)
		}
	}
	if !slices.Contains(known, path) {
		lf, err := os.OpenFile(list, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err == nil {
			_, err = lf.WriteString(path + "\n")
			if cerr := lf.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("the registry of mailings: %w", err)
		}
	}
	return nil
}

// Release gives the campaign's lock back.
func (r *Registration) Release() {
	if r == nil {
		return
	}
	if r.shard != nil {
		r.shard.Close()
		r.shard = nil
	}
	if r.lock != nil {
		r.lock.Close()
		r.lock = nil
	}
}

func readLines(name string) ([]string, error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); line != "" && !slices.Contains(out, line) {
			out = append(out, line)
		}
	}
	return out, s.Err()
}

// lockName opens the lock file of the campaign's name in the registry at
// dir and takes it with take (lock, or lockShared for a shard). It
// returns path made absolute and the registry's base name for the
// campaign.
func lockName(dir, campaign, path string, take func(*os.File) error) (abs, base string, f *os.File, err error) {
	if abs, err = filepath.Abs(path); err != nil {
		return "", "", nil, err
	}
	if base, err = registryBase(dir, campaign); err != nil {
		return "", "", nil, err
	}
	if f, err = os.OpenFile(base+".lock", os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return "", "", nil, fmt.Errorf("the registry of mailings: %w", err)
	}
	if err := take(f); err != nil {
		return "", "", nil, busy(f, err)
	}
	return abs, base, f, nil
}

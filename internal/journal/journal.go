// Package journal is the crash-safe record of a mailing: one JSON line per
// change of a letter's state, appended, fsynced before the point of no
// return and after every reply, so that a re-run sends exactly the letters
// that were not delivered.
//
// A letter's states in one attempt are attempt, then eod (written and
// synced just before the final dot, when the server cannot yet have
// accepted it), then delivered, failed or deferred (synced as soon as the
// reply is read). On replay, delivered and failed are final; an attempt
// without eod is safe to send again (the server never saw the end of the
// data); eod without an outcome is unknown: the letter may have been
// delivered, and is not resent unless the user asks.
//
// The journal's words, as its code uses them:
//
//   - record (Record): one line of the journal, one change of a letter's
//     state at one destination (of some of its recipients' when Part).
//   - letter: one message of the mailing, named by its key (letter.Key);
//     row: the list's row it was made from, known by its fingerprint
//     (letter.Fingerprint), which finds its letters without their keys
//     (HasRow, Settled).
//   - state (State): what a record says of its letter, or of one of its
//     recipients; a letter's final state is its last record's
//     (Record.Final), and Fold makes one state of its recipients'.
//   - attempt: one try at sending a letter; Record.Attempt counts them.
//   - destination: where a letter went, a record's Dest; Destination
//     makes every SMTP server one destination, SMTP. A record without one
//     (an older journal) counts for every destination.
//   - entry (Entry): what the journal knows of one letter at one
//     destination, as Lookup returns it.
//   - due, settled: a letter or recipient is due while a send must still
//     send it (Due), settled once not: delivered, failed, bounced or
//     delayed, and unknown unless the user asks to resend it.
//   - test send: a record with Test (send --redirect-to); it settles
//     nothing. Copy records (Copying, Copied) say nothing of delivery.
//   - index: the state of every letter at every destination, kept in
//     memory. Open rebuilds it from the snapshot Close saved, when it
//     matches, and by replay of the records after it (a torn last line
//     aside).
//   - commit: Commit returns once a record is durable; records queued
//     meanwhile share its fsync (group commit, write.go).
//   - secret: the campaign's key beside the journal (Secret).
package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mailmerge/mailmerge/internal/flatmap"
)

// ErrLocked is returned by Open when another process has the journal.
var ErrLocked = errors.New("the journal is in use by another mailmerge send of this campaign")

// Journal is an open journal, locked for this process.
type Journal struct {
	// Now dates the records that have no time of their own; nil for
	// time.Now. Set it before the first record: a send dates them by its
	// clock, which its limits are counted by.
	Now func() time.Time

	path string
	f    *os.File
	// Index is the state of every letter, as the records say: Lookup,
	// Due, Known and the rest are its.
	*Index
	// snapshot is the offset the snapshot read at Open covers (0: none);
	// lines the records in the file at Open.
	snapshot int64
	lines    int

	mu      sync.Mutex
	cond    *sync.Cond
	pending []byte // encoded records not yet written
	spare   []byte
	seq     uint64 // records queued so far
	synced  uint64 // records durable so far
	written uint64 // records in the file so far, durable or not
	writing bool   // a goroutine is writing records to the file
	syncing bool   // a goroutine is syncing the file
	err     error  // sticky: once writing failed, nothing more is recorded
	syncs   int
}

// Open opens (or creates, mode 0600) the journal at path, takes an
// exclusive lock on it, and replays it.
func Open(path string) (*Journal, error) {
	if err := regular(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if err := lock(f); err != nil {
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, fmt.Errorf("lock journal %s: %w", path, err)
	}
	j, good, err := load(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	// Cut a torn last line so that new records start on a line of their own.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	if good == 0 {
		syncDir(filepath.Dir(path))
	}
	return j, nil
}

// load builds the index of the journal open as f, from its snapshot when
// it has one that matches and from the records after it, and returns it
// with the length of the records it read (a torn last line aside).
func load(path string, f *os.File) (j *Journal, good int64, err error) {
	j = &Journal{path: path, f: f, Index: &Index{more: map[destKey]status{}, rcpts: map[keyHash]map[string]State{}}}
	j.cond = sync.NewCond(&j.mu)
	base, lines := j.readSnapshot()
	if base == 0 {
		// Sized from the start, the index is not grown as it is read. A
		// letter takes some 900 bytes of records (attempt, eod, outcome),
		// so this guesses low, never high.
		var letters int64
		if fi, err := f.Stat(); err == nil {
			letters = fi.Size() / 1024
		}
		j.letters = flatmap.New[keyHash, slot](int(letters), hash64)
	} else if _, err := f.Seek(base, io.SeekStart); err != nil {
		return nil, 0, err
	}
	j.snapshot = base
	good, n, err := replay(f, filepath.Base(path), lines, func(r Record) error {
		j.Add(r)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	j.lines = n
	return j, base + good, nil
}

// ErrNotAFile is wrapped when a journal path names a folder, a named pipe
// or a device: the config's fault, not the journal's.
var ErrNotAFile = errors.New("not a file")

// regular refuses a journal path that names anything but a regular file
// (or nothing yet): reading a FIFO waits for a writer for ever, a device
// is no record.
func regular(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().IsRegular() {
		return nil // a missing file is made; other errors come with the open
	}
	return fmt.Errorf("journal %s is %s, %w: send.journal must name a file", path, kindOf(fi.Mode()), ErrNotAFile)
}

func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// Close writes what is queued, syncs, writes the index's snapshot for the
// next Open (of a journal large enough to gain by it), and releases the
// lock.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.err == nil {
		j.flushLocked()
	}
	err := j.err
	if err == nil {
		if size, serr := j.f.Seek(0, io.SeekCurrent); serr == nil && size >= snapshotMin && size != j.snapshot {
			// Only a cache: the next Open replays the journal without it.
			j.writeSnapshot(size, j.lines+int(j.seq))
		}
	}
	j.mu.Unlock()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ErrTaken is returned by a journal shared by several processes for a
// record of a letter another process took over: its lease had run out.
// The letter is not to be sent from here.
var ErrTaken = errors.New("another mailmerge process took the letter over")

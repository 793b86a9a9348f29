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
package journal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mailmerge/mailmerge/internal/letter"
)

// State is a letter's state in a record.
type State string

// The states, in the order one attempt goes through them.
const (
	Attempt   State = "attempt"
	EOD       State = "eod"
	Delivered State = "delivered"
	Failed    State = "failed"
	Deferred  State = "deferred"
	Unknown   State = "unknown"
)

// Record is one line of the journal.
type Record struct {
	Time      time.Time   `json:"time"`
	Key       letter.Key  `json:"key"`
	Line      int         `json:"line"`
	Rcpt      []string    `json:"rcpt"`
	MessageID string      `json:"msgid"`
	Attempt   int         `json:"attempt"`
	State     State       `json:"state"`
	Phase     string      `json:"phase,omitempty"`
	Code      int         `json:"code,omitempty"`
	Enhanced  string      `json:"enhanced,omitempty"`
	Text      string      `json:"text,omitempty"`
	Millis    int64       `json:"ms,omitempty"`
	Rejected  []Rejection `json:"rejected,omitempty"`
}

// Rejection is a recipient the server refused while it accepted others of
// the same letter.
type Rejection struct {
	Rcpt     string `json:"rcpt"`
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced,omitempty"`
	Text     string `json:"text"`
}

// Final returns the state a letter is in when r is its last record: eod
// without an outcome is Unknown.
func (r Record) Final() State {
	if r.State == EOD {
		return Unknown
	}
	return r.State
}

// keyHash is a letter key shortened to 128 bits: the key is a hash
// already, collisions stay out of reach, and the map stays small.
type keyHash [16]byte

func hashKey(key letter.Key) keyHash {
	return keyHash(key[:16])
}

// status is a letter's state and attempts as of its last record.
type status struct {
	state   State
	attempt int32
}

// Entry is what the journal knows of one letter: the state its last
// record leaves it in (see Record.Final) and the attempts made so far.
type Entry struct {
	Known    bool // the journal has a record of the letter
	State    State
	Attempts int
}

// Due reports whether a send must send the letter: delivered and failed
// letters are settled, and an unknown one is resent only on request. A
// send and the check before it both go by this rule.
func (e Entry) Due(resendUnknown bool) bool {
	switch e.State {
	case Delivered, Failed:
		return false
	case Unknown:
		return resendUnknown
	}
	return true
}

// ErrLocked is returned by Open when another process has the journal.
var ErrLocked = errors.New("the journal is in use by another mailmerge send of this campaign")

// Journal is an open journal, locked for this process.
type Journal struct {
	path string
	f    *os.File
	// last holds, per letter, what a send needs of its last record. A
	// million letters take some 40 MB this way, not the records' size.
	last map[keyHash]status

	mu      sync.Mutex
	cond    *sync.Cond
	pending []byte // encoded records not yet written
	spare   []byte
	seq     uint64 // records queued so far
	synced  uint64 // records durable so far
	syncing bool
	err     error // sticky: once writing failed, nothing more is recorded
	syncs   int
}

// Open opens (or creates, mode 0600) the journal at path, takes an
// exclusive lock on it, and replays it.
func Open(path string) (*Journal, error) {
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
	j := &Journal{path: path, f: f, last: map[keyHash]status{}}
	j.cond = sync.NewCond(&j.mu)
	good, err := replay(f, filepath.Base(path), func(r Record) error {
		j.last[hashKey(r.Key)] = status{r.Final(), int32(r.Attempt)}
		return nil
	})
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

// Read calls fn for every record of the journal at path, without locking
// it (a send may be running). A torn last line is skipped.
func Read(path string, fn func(Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = replay(f, filepath.Base(path), fn)
	return err
}

// Last returns the last record of every letter in the journal at path,
// read as Read does.
func Last(path string) (map[letter.Key]Record, error) {
	last := map[letter.Key]Record{}
	err := Read(path, func(r Record) error {
		last[r.Key] = r
		return nil
	})
	return last, err
}

// DeliveredSince counts the letters the journal at path says were
// delivered at or after t.
func DeliveredSince(path string, t time.Time) (int, error) {
	n := 0
	err := Read(path, func(r Record) error {
		if r.State == Delivered && !r.Time.Before(t) {
			n++
		}
		return nil
	})
	return n, err
}

// replay reads records from r and returns the offset after the last whole
// line.
func replay(r io.Reader, name string, fn func(Record) error) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return off, nil // a line without its newline is torn: ignore it
		}
		if err != nil {
			return off, fmt.Errorf("read journal %s: %w", name, err)
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil || rec.Key == (letter.Key{}) || rec.State == "" {
			return off, fmt.Errorf("journal %s: line %d is not a valid record: the file is damaged; move it aside to start the mailing afresh (which may send letters twice)", name, n)
		}
		if err := fn(rec); err != nil {
			return off, err
		}
		off += int64(len(line))
	}
}

// Lookup returns what the journal knows of the letter with key.
func (j *Journal) Lookup(key letter.Key) Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	s, ok := j.last[hashKey(key)]
	return Entry{Known: ok, State: s.state, Attempts: int(s.attempt)}
}

// Letters returns how many letters the journal has records of.
func (j *Journal) Letters() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.last)
}

// Append queues r. It is written with the next Commit (of any letter) or
// on Close; use it for records a crash may lose.
func (j *Journal) Append(r Record) error {
	_, err := j.queue(r)
	return err
}

// Commit queues r and returns once it is durable. Records queued by other
// goroutines meanwhile share the same fsync (group commit).
func (j *Journal) Commit(r Record) error {
	seq, err := j.queue(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.synced < seq {
		if j.err != nil {
			return j.err
		}
		if j.syncing {
			j.cond.Wait()
			continue
		}
		j.flushLocked()
	}
	return j.err
}

func (j *Journal) queue(r Record) (uint64, error) {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	j.pending = append(append(j.pending, b...), '\n')
	j.seq++
	j.last[hashKey(r.Key)] = status{r.Final(), int32(r.Attempt)}
	return j.seq, nil
}

// flushLocked writes and syncs everything queued. It is called with mu
// held and releases it during I/O, so others can queue meanwhile.
func (j *Journal) flushLocked() {
	j.syncing = true
	buf, upto := j.pending, j.seq
	j.pending = j.spare[:0]
	j.mu.Unlock()
	_, err := j.f.Write(buf)
	if err == nil {
		err = j.f.Sync()
	}
	j.mu.Lock()
	j.spare = buf[:0]
	j.syncing = false
	j.syncs++
	if err != nil {
		j.err = fmt.Errorf("write journal %s: %w", j.path, err)
	} else {
		j.synced = upto
	}
	j.cond.Broadcast()
}

// Syncs reports how many fsyncs the journal did, for measurements.
func (j *Journal) Syncs() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.syncs
}

// Close writes what is queued, syncs, and releases the lock.
func (j *Journal) Close() error {
	j.mu.Lock()
	for j.syncing {
		j.cond.Wait()
	}
	if j.err == nil && len(j.pending) > 0 {
		j.flushLocked()
	}
	err := j.err
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

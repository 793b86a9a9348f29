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
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailmerge/mailmerge/internal/flatmap"
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
	// Invalid records a row that made no letter, skipped on request
	// (send --skip-invalid), under letter.InvalidKey; Text says why.
	Invalid State = "invalid"
	// Bounced and Delayed are what a delivery report (a bounce) said of
	// a recipient after the server took the letter (mailmerge bounces):
	// its mailbox refused the letter, for good, like Failed; or delivery
	// is late and still tried, which settles the letter as Delivered
	// does. Their records name the report (Record.Report).
	Bounced State = "bounced"
	Delayed State = "delayed"
	// Copying and Copied record a copy of a delivered letter saved in
	// the sender's Sent folder (Record.Copy): about to be saved, and
	// saved. They say nothing of the letter's delivery.
	Copying State = "copying"
	Copied  State = "copied"
)

// Record is one line of the journal.
type Record struct {
	Time time.Time  `json:"time"`
	Key  letter.Key `json:"key"`
	// Dest is where the letter was sent ("smtp:host:port",
	// "maildir:/path"); empty in records older than destinations, which
	// count for every destination.
	Dest string `json:"dest,omitempty"`
	// Test is the address a test send went to instead of the letter's
	// recipients (send --redirect-to). Test sends settle nothing.
	Test string `json:"test,omitempty"`
	Line int    `json:"line"`
	// Rcpt are the envelope recipients of the attempt. Part says they are
	// some of the letter's, the ones still due: the others' states stand.
	Rcpt []string `json:"rcpt"`
	Part bool     `json:"part,omitempty"`
	// FP is the fingerprint of the letter's row (letter.Fingerprint);
	// records older than fingerprints have none.
	FP uint64 `json:"fp,omitempty"`
	// Made is the letter's letter.Made; records older than it have none.
	Made      uint64 `json:"made,omitempty"`
	MessageID string `json:"msgid"`
	Attempt   int    `json:"attempt"`
	State     State  `json:"state"`
	Phase     string `json:"phase,omitempty"`
	Code      int    `json:"code,omitempty"`
	Enhanced  string `json:"enhanced,omitempty"`
	Text      string `json:"text,omitempty"`
	Millis    int64  `json:"ms,omitempty"`
	// Rejected are the recipients the server refused at RCPT, each with
	// its own state; State is then that of the others (or, when all were
	// refused, the mildest of theirs).
	Rejected []Rejection `json:"rejected,omitempty"`
	// Report is the Message-ID of the delivery report a Bounced or
	// Delayed record comes from, so that reading the mailbox again adds
	// nothing.
	Report string `json:"report,omitempty"`
	// Copy is the folder a Copying or Copied record saves the letter in.
	Copy string `json:"copy,omitempty"`
}

// Rejection is a recipient the server refused at RCPT.
type Rejection struct {
	Rcpt     string `json:"rcpt"`
	State    State  `json:"state,omitempty"` // failed or deferred
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced,omitempty"`
	Text     string `json:"text"`
}

// Final is the recipient's state: records older than per-recipient
// states name only refusals for good.
func (r Rejection) Final() State {
	if r.State == "" {
		return Failed
	}
	return r.State
}

// Final returns the state a letter is in when r is its last record: eod
// without an outcome is Unknown.
func (r Record) Final() State {
	if r.State == EOD {
		return Unknown
	}
	return r.State
}

// keyHash is a letter's key cut to 96 bits (it is a hash already):
// collisions stay out of reach, and the index stays small.
type keyHash [12]byte

func hashKey(key letter.Key) keyHash { return keyHash(key[:12]) }

// hash64 is where the index looks a key up: its first 64 bits.
func hash64(k keyHash) uint64 { return binary.LittleEndian.Uint64(k[:8]) }

// status is a letter's state and attempts as of its last record.
type status struct {
	state   State
	attempt int32
	// rcpts holds the state of each recipient, by lower-case address,
	// once they differ (some refused, some not); state is then that of
	// any recipient not in it.
	rcpts map[string]State
	// rset is recipientSet of the last full attempt's recipients: a
	// letter known by a name (recipients.key) may have others now.
	rset uint32
}

// slot is what the journal keeps of a letter: the fingerprint of its
// row, and its state at the first destination it has records for.
type slot struct {
	fp        [2]uint32 // the row's fingerprint, high and low half: a key and a slot take 32 bytes
	made      uint32    // letter.Made of its last record, cut short
	rset      uint32    // see status
	state     uint8     // a code from states; 0: no record at dests[dest] yet
	attempt   uint8     // attempts at dests[dest], counted up to 255 (send.max_attempts is less)
	dest      uint8     // index in dests; spill for one past the 255th
	delivered uint8     // 1 + index in dests of a destination it was delivered to
}

const spill = 255

func (sl slot) rowFP() uint64 { return uint64(sl.fp[0])<<32 | uint64(sl.fp[1]) }

func (sl *slot) setRowFP(fp uint64) { sl.fp = [2]uint32{uint32(fp >> 32), uint32(fp)} }

// states are the codes slots keep states by, from 1: 0 is no status. A
// letter tried only to some of its recipients has the state "" besides
// theirs.
var states = []State{"", "", Attempt, EOD, Delivered, Failed, Deferred, Unknown, Invalid, Bounced, Delayed} // new ones last: snapshots hold the codes

// known reports a state this version writes: those of the index, and the
// copy records' states, which it leaves out.
func known(s State) bool {
	return s != "" && (slices.Contains(states, s) || s == Copying || s == Copied)
}

func stateCode(s State) uint8 {
	if i := slices.Index(states[1:], s); i >= 0 {
		return uint8(i + 1)
	}
	panic("journal: unknown state " + string(s))
}

func recipientSet(rcpts []string) uint32 {
	lower := make([]string, len(rcpts))
	for i, r := range rcpts {
		lower[i] = strings.ToLower(r)
	}
	slices.Sort(lower)
	h := sha256.New()
	for _, r := range lower {
		io.WriteString(h, r)
		h.Write([]byte{0})
	}
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// Entry is what the journal knows of one letter at one destination: the
// state its last record leaves it in (see Record.Final) and the attempts
// made so far.
type Entry struct {
	Known    bool // the journal has a record of the letter for this destination
	State    State
	Attempts int
	// Seen says the journal knows the letter: a record for this
	// destination, or a delivery to any. Elsewhere names a destination it
	// was delivered to when it was not delivered to this one.
	Seen      bool
	Elsewhere string
	// Rcpts holds the states of recipients whose states differ from
	// State, by lower-case address; see StateOf.
	Rcpts map[string]State
	rset  uint32
}

// others is the key of Entry.Rcpts that holds the state of the letter's
// recipients not named there; no address is empty.
const others = ""

// StateOf returns the state of one recipient of the letter, and whether
// the journal knows it.
func (e Entry) StateOf(rcpt string) (State, bool) {
	if s, ok := e.Rcpts[strings.ToLower(rcpt)]; ok {
		return s, true
	}
	if s, ok := e.Rcpts[others]; ok {
		return s, true
	}
	if e.Rcpts != nil {
		return "", false // not a recipient of the letter's attempts
	}
	return e.State, e.Known
}

// Changed reports that a letter's recipients are not those of its last
// attempt to all of them: a letter known by a name (recipients.key) whose
// addresses were edited since. The journal then cannot tell which kept
// their states, unless their states differ (Rcpts).
func (e Entry) Changed(rcpts []string) bool {
	return e.Known && e.Rcpts == nil && e.rset != 0 && e.rset != recipientSet(rcpts)
}

// For is e as it applies to the letter sent now to rcpts: the state the
// recipients not named in Rcpts share (after a bounce of one of them)
// holds only for the recipients of the letter's last attempt to all. A
// letter known by a name (recipients.key) whose addresses were edited
// since has its new addresses due.
func (e Entry) For(rcpts []string) Entry {
	if _, ok := e.Rcpts[others]; ok && e.rset != 0 && e.rset != recipientSet(rcpts) {
		e.Rcpts = maps.Clone(e.Rcpts)
		delete(e.Rcpts, others)
	}
	return e
}

// Due reports whether a send must send to the recipients of the letter
// it finds in state: delivered and failed ones are settled, and an
// unknown one is sent again only on request. A send and the check before
// it both go by this rule.
func Due(state State, resendUnknown bool) bool {
	switch state {
	case Delivered, Failed, Bounced, Delayed:
		return false
	case Unknown:
		return resendUnknown
	}
	return true
}

// Fold is what a letter comes to from the states of its recipients, for
// counts, exit codes and reports: the least settled of them, in the order
// deferred, not sent (Attempt; "" for a recipient without a record),
// failed or bounced, unknown, delayed, delivered. Only the recipients the row gave decide
// (own[i]); a letter has the template's own (an instructor's copy) decide
// only when it has no others.
func Fold(states []State, own []bool) State {
	anyOwn := slices.Contains(own, true)
	rank := map[State]int{Deferred: 6, Attempt: 5, "": 5, Failed: 4, Bounced: 4, Unknown: 3, Delayed: 2, Delivered: 1}
	folded, best := Delivered, 0
	for i, s := range states {
		if anyOwn && !own[i] {
			continue
		}
		if s == EOD {
			s = Unknown
		}
		if r := rank[s]; r > best {
			folded, best = s, r
		}
	}
	if folded == "" {
		return Attempt
	}
	return folded
}

// ErrLocked is returned by Open when another process has the journal.
var ErrLocked = errors.New("the journal is in use by another mailmerge send of this campaign")

// Journal is an open journal, locked for this process.
type Journal struct {
	path string
	f    *os.File
	// letters holds, per letter, what a send needs of its records: 24
	// bytes and its key, so that a million letters take some 53 MB, not
	// the records' size. The rare rest is in more and rcpts.
	letters *flatmap.Map[keyHash, slot]
	// more holds, per letter and destination, the state of letters sent
	// to more than one destination, at the others than the slot's.
	more map[destKey]status
	// rcpts holds, per letter and destination, the recipients' states of
	// letters whose recipients' states differ (some refused, some not).
	rcpts map[keyHash]map[string]State
	dests []string // destinations, by the index slots hold
	pairs int      // letters and destinations with records
	// fps is the fingerprints of the letters' rows, sorted, made on
	// demand (HasRow): 8 bytes a letter.
	fps []uint64
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
	j = &Journal{path: path, f: f, more: map[destKey]status{}, rcpts: map[keyHash]map[string]State{}}
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
		j.index(r)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	j.lines = n
	return j, base + good, nil
}

// Secret returns the campaign's secret kept beside the journal at path
// (path + ".secret", readable by its owner alone): the key of the tags
// that make its letters' Message-IDs and ENVIDs impossible to forge
// (letter.Tag). With create, a missing secret is made (32 random bytes);
// without, a missing one is nil, nil (a mailing not sent yet, or sent
// before secrets: its letters keep untagged identities).
func Secret(path string, create bool) ([]byte, error) {
	name := path + ".secret"
	if err := regular(name); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(name)
	switch {
	case err == nil:
		secret, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(secret) < 16 {
			return nil, fmt.Errorf("the mailing's secret %s is damaged (want 64 hexadecimal digits): restore it from a backup, or remove it and send again (reports of the letters sent so far are then no longer matched)", name)
		}
		return secret, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read the mailing's secret: %w", err)
	case !create:
		return nil, nil
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	// Written whole under another name, then linked into place: a reader
	// never sees half a secret, and of two sends at once one secret wins.
	f, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".*")
	if err != nil {
		return nil, fmt.Errorf("make the mailing's secret: %w", err)
	}
	defer os.Remove(f.Name())
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(hex.EncodeToString(secret) + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(f.Name(), name)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// No hard links here (FAT, exFAT, some shares): a rename, safe
			// since only a send makes the secret, under the journal's lock.
			err = os.Rename(f.Name(), name)
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return Secret(path, false)
	}
	if err != nil {
		return nil, fmt.Errorf("make the mailing's secret: %w", err)
	}
	return secret, nil
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

// Read calls fn for every record of the journal at path, without locking
// it (a send may be running). A torn last line is skipped.
func Read(path string, fn func(Record) error) error {
	if err := regular(path); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, _, err = replay(f, filepath.Base(path), 0, fn)
	return err
}

// Rows is a set of rows, by their fingerprints (letter.Fingerprint).
type Rows struct{ fps []uint64 } // sorted

// Has reports whether the row with fingerprint fp is in the set.
func (r Rows) Has(fp uint64) bool {
	_, ok := slices.BinarySearch(r.fps, fp)
	return ok
}

// Len is the number of rows in the set.
func (r Rows) Len() int { return len(r.fps) }

// SentRows reads the journal at path, without locking it (a send may be
// running), and returns the rows it records letters of at the
// destination dest (test sends and invalid rows aside; records older than
// destinations count for every destination). ok is false when it records
// letters without fingerprints (a journal older than them), which cannot
// tell. It reads the journal's snapshot where it has one, so that a
// folder of finished mailings of a million letters each is read in
// seconds, not minutes.
func SentRows(path, dest string) (rows Rows, ok bool, err error) {
	if err := regular(path); err != nil {
		return Rows{}, false, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Rows{}, false, err
	}
	defer f.Close()
	j, _, err := load(path, f)
	if err != nil {
		return Rows{}, false, err
	}
	ok = true
	d, old := slices.Index(j.dests, Destination(dest)), slices.Index(j.dests, "")
	j.letters.All(func(k keyHash, sl slot) {
		st, at := status{}, false
		if d >= 0 {
			st, at = j.statusAt(k, sl, d)
		}
		if !at && old >= 0 {
			st, at = j.statusAt(k, sl, old)
		}
		switch {
		case !at || st.state == Invalid:
		case sl.rowFP() == 0:
			ok = false
		default:
			rows.fps = append(rows.fps, sl.rowFP())
		}
	})
	slices.Sort(rows.fps)
	return rows, ok, nil
}

// Outcome is what became of one letter at one destination.
type Outcome struct {
	Last  Record                 // its last record
	Rcpts map[string]RcptOutcome // each recipient's, by lower-case address
}

// RcptOutcome is what became of one recipient of a letter: its state, and
// the reply that decided it.
type RcptOutcome struct {
	Rcpt     string
	State    State
	Phase    string
	Code     int
	Enhanced string
	Text     string
}

// History is what a journal says of a mailing.
type History struct {
	// Outcomes says what became of each letter at one destination.
	Outcomes map[letter.Key]*Outcome
	// Letters holds every letter recorded, at any destination, with the
	// fingerprint of its row (0 in records older than fingerprints).
	Letters map[letter.Key]uint64
	// Tests counts the test letters delivered (send --redirect-to), by
	// the address they went to, at any destination.
	Tests map[string]int
}

// ReadHistory reads the journal at path as Read does and returns what
// became of every letter at the destination dest, recipient by
// recipient. Test sends are left out; records older than destinations
// count for every destination.
func ReadHistory(path, dest string) (*History, error) {
	h := &History{Outcomes: map[letter.Key]*Outcome{}, Letters: map[letter.Key]uint64{}, Tests: map[string]int{}}
	err := Read(path, func(r Record) error {
		if r.Copy != "" {
			return nil
		}
		if r.Test != "" {
			if r.State == Delivered {
				h.Tests[r.Test]++
			}
			return nil
		}
		h.Letters[r.Key] = r.FP
		if r.Dest != "" && Destination(r.Dest) != Destination(dest) {
			return nil
		}
		o := h.Outcomes[r.Key]
		if o == nil || !r.Part {
			o = &Outcome{Rcpts: map[string]RcptOutcome{}}
			h.Outcomes[r.Key] = o
		}
		o.Last = r
		for _, rcpt := range r.Rcpt {
			o.Rcpts[strings.ToLower(rcpt)] = RcptOutcome{rcpt, r.Final(), r.Phase, r.Code, r.Enhanced, r.Text}
		}
		for _, rej := range r.Rejected {
			o.Rcpts[strings.ToLower(rej.Rcpt)] = RcptOutcome{rej.Rcpt, rej.Final(), "RCPT", rej.Code, rej.Enhanced, rej.Text}
		}
		return nil
	})
	return h, err
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
func replay(r io.Reader, name string, before int, fn func(Record) error) (off int64, lines int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := before + 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return off, n - 1, nil // a line without its newline is torn: ignore it
		}
		if err != nil {
			return off, n - 1, fmt.Errorf("read journal %s: %w", name, err)
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil || rec.Key == (letter.Key{}) || rec.State == "" {
			return off, n - 1, fmt.Errorf("journal %s: line %d is not a valid record: the file is damaged; move it aside to start the mailing afresh (which may send letters twice)", name, n)
		}
		if !known(rec.State) {
			return off, n - 1, fmt.Errorf("journal %s: line %d has the state %q, which this mailmerge does not know: a newer version wrote it; use that version", name, n, rec.State)
		}
		if err := fn(rec); err != nil {
			return off, n - 1, err
		}
		off += int64(len(line))
	}
}

// index notes what r says of its letter. Test sends settle nothing, and
// copies say nothing of delivery: neither is indexed.
func (j *Journal) index(r Record) {
	if r.Test != "" || r.Copy != "" {
		return
	}
	k := hashKey(r.Key)
	sl, known := j.letters.Get(k)
	if !known || r.FP != 0 && r.FP != sl.rowFP() {
		sl.setRowFP(r.FP)
		j.fps = nil
	}
	sl.made = uint32(r.Made)
	d := j.dest(r.Dest)
	st, ok := j.statusAt(k, sl, d)
	if !ok {
		j.pairs++
	}
	st.attempt = int32(r.Attempt)
	if !r.Part {
		st.state, st.rcpts, st.rset = r.Final(), nil, recipientSet(r.Rcpt)
		if len(r.Rejected) > 0 {
			st.rcpts = make(map[string]State, len(r.Rcpt))
		}
	}
	if st.rcpts == nil && r.Part {
		// Some recipients get a state of their own (a bounce, a resend to
		// some): the others keep the letter's.
		st.rcpts = make(map[string]State, len(r.Rcpt)+1)
		if st.state != "" {
			st.rcpts[others] = st.state
		}
	}
	if st.rcpts != nil {
		for _, rcpt := range r.Rcpt {
			st.rcpts[strings.ToLower(rcpt)] = r.Final()
		}
		for _, rej := range r.Rejected {
			st.rcpts[strings.ToLower(rej.Rcpt)] = rej.Final()
		}
	}
	if r.State == Delivered && d < spill {
		sl.delivered = uint8(d) + 1
	}
	j.letters.Put(k, j.setStatus(k, sl, d, st))
}

// dest returns the index of a destination in dests, adding it.
// SMTP is the destination of every letter sent to an SMTP server.
const SMTP = "smtp"

// Destination is the logical destination a record's dest names: SMTP for
// any server (journals before this recorded "smtp:host:port"), else the
// dest as it is (a Maildir folder, "maildir:PATH").
func Destination(dest string) string {
	if strings.HasPrefix(dest, SMTP+":") {
		return SMTP
	}
	return dest
}

func (j *Journal) dest(name string) int {
	name = Destination(name)
	i := slices.Index(j.dests, name)
	if i < 0 {
		i = len(j.dests)
		j.dests = append(j.dests, name)
	}
	return i
}

// destKey is a letter and the index of a destination in dests.
type destKey struct {
	k keyHash
	d int
}

// statusAt returns a letter's status at the destination with index d.
func (j *Journal) statusAt(k keyHash, sl slot, d int) (status, bool) {
	if sl.state != 0 && int(sl.dest) == d && d < spill {
		return status{state: states[sl.state], attempt: int32(sl.attempt), rset: sl.rset, rcpts: j.rcpts[k]}, true
	}
	st, ok := j.more[destKey{k, d}]
	return st, ok
}

// setStatus stores a letter's status at the destination with index d:
// in its slot when it has no other, else in more.
func (j *Journal) setStatus(k keyHash, sl slot, d int, st status) slot {
	if d >= spill || sl.state != 0 && int(sl.dest) != d {
		j.more[destKey{k, d}] = st
		return sl
	}
	sl.state, sl.dest, sl.rset = stateCode(st.state), uint8(d), st.rset
	sl.attempt = uint8(min(st.attempt, 255))
	if st.rcpts != nil {
		j.rcpts[k] = st.rcpts
	} else {
		delete(j.rcpts, k)
	}
	return sl
}

// Grow makes room in the index for n more letters, so that a send of a
// million letters does not grow it as it goes (each growth holds the old
// array and the new one for a moment).
func (j *Journal) Grow(n int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.letters.Grow(j.letters.Len() + n)
}

// Known reports whether the journal has records of the letter with key,
// at any destination, and the fingerprint of its row (0 in records older
// than fingerprints).
func (j *Journal) Known(key letter.Key) (fp uint64, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	sl, ok := j.letters.Get(hashKey(key))
	return sl.rowFP(), ok
}

// HasRow reports whether a letter was recorded for a row with the
// fingerprint fp, under any identity. Rows the journal knows under other
// identities than this mailing gives them are the mark of a renamed
// campaign. ok is false for a journal older than fingerprints, which
// cannot tell.
func (j *Journal) HasRow(fp uint64) (has, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fps == nil {
		j.fps = make([]uint64, 0, j.letters.Len())
		j.letters.All(func(_ keyHash, sl slot) {
			if fp := sl.rowFP(); fp != 0 {
				j.fps = append(j.fps, fp)
			}
		})
		slices.Sort(j.fps)
	}
	_, has = slices.BinarySearch(j.fps, fp)
	return has, len(j.fps) > 0
}

// Lookup returns what the journal knows of the letter with key at the
// destination dest. Records older than destinations count for every
// destination.
func (j *Journal) Lookup(key letter.Key, dest string) Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	k := hashKey(key)
	sl, seen := j.letters.Get(k)
	var s status
	ok := false
	if seen {
		if d := slices.Index(j.dests, Destination(dest)); d >= 0 {
			s, ok = j.statusAt(k, sl, d)
		}
		if d := slices.Index(j.dests, ""); !ok && d >= 0 {
			s, ok = j.statusAt(k, sl, d)
		}
	}
	e := Entry{Known: ok, State: s.state, Attempts: int(s.attempt), Seen: ok, Rcpts: maps.Clone(s.rcpts), rset: s.rset}
	if sl.delivered > 0 {
		e.Seen = true
		if e.State != Delivered {
			e.Elsewhere = j.dests[sl.delivered-1]
		}
	}
	return e
}

// Letters returns how many letters and destinations the journal has
// records of, test sends aside.
func (j *Journal) Letters() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.pairs
}

// Append queues r. It is written with the next Commit (of any letter) or
// on Close; use it for records a crash may lose.
func (j *Journal) Append(r Record) error {
	_, err := j.queue(r)
	return err
}

// Write queues r and writes it to the file without waiting for the
// disk: a crash of the process keeps it, a power cut may not until the
// next Commit (of any letter) or Close makes it durable. It is for the
// outcome of a letter: losing it leaves the letter's eod, which replays
// as unknown, never as due. It waits for another goroutine's write, never
// for an fsync.
func (j *Journal) Write(r Record) error {
	seq, err := j.queue(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.written < seq && j.err == nil {
		if j.writing {
			j.cond.Wait()
			continue
		}
		j.writeLocked()
	}
	return j.err
}

// Commit queues r and returns once it is durable. Records queued by other
// goroutines meanwhile share the same fsync (group commit): while one
// goroutine syncs, the others write their records, and the next sync
// makes them all durable.
func (j *Journal) Commit(r Record) error {
	seq, err := j.queue(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.synced < seq && j.err == nil {
		switch {
		case j.written < seq && j.writing, j.written >= seq && j.syncing:
			j.cond.Wait()
		case j.written < seq:
			j.writeLocked()
		default:
			j.syncLocked()
		}
	}
	return j.err
}

func (j *Journal) queue(r Record) (uint64, error) {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	j.pending = append(appendRecord(j.pending, &r), '\n')
	j.seq++
	j.index(r)
	return j.seq, nil
}

// flushLocked writes and syncs everything queued, once no other I/O runs.
func (j *Journal) flushLocked() {
	for j.writing || j.syncing {
		j.cond.Wait()
	}
	if j.written < j.seq {
		j.writeLocked()
	}
	if j.err == nil && j.synced < j.written {
		j.syncLocked()
	}
}

// writeLocked writes everything queued. It is called with mu held and no
// other write running; it releases mu while it writes, so that others
// can queue meanwhile, and a sync may run beside it.
func (j *Journal) writeLocked() {
	j.writing = true
	buf, upto := j.pending, j.seq
	j.pending = j.spare[:0]
	j.mu.Unlock()
	var err error
	if len(buf) > 0 {
		_, err = j.f.Write(buf)
	}
	j.mu.Lock()
	j.spare = buf[:0]
	j.writing = false
	if err != nil {
		j.err = fmt.Errorf("write journal %s: %w", j.path, err)
	} else {
		j.written = upto
	}
	j.cond.Broadcast()
}

// syncLocked makes everything written so far durable. It is called with
// mu held and no other sync running, and releases mu while it syncs:
// records written meanwhile wait for the next sync.
func (j *Journal) syncLocked() {
	j.syncing = true
	upto := j.written
	j.mu.Unlock()
	err := syncFile(j.f)
	j.mu.Lock()
	j.syncing = false
	if err != nil {
		j.err = fmt.Errorf("write journal %s: %w", j.path, err)
	} else {
		j.syncs++
		j.synced = max(j.synced, upto)
	}
	j.cond.Broadcast()
}

// RecordInvalid records a row that made no letter, left out of a send on
// request (send --skip-invalid), under key (letter.InvalidKey), with the
// problem.
func (j *Journal) RecordInvalid(key letter.Key, dest string, line int, fp uint64, problem string) error {
	return j.Commit(Record{Key: key, Dest: dest, Line: line, FP: fp, State: Invalid, Text: problem})
}

// Syncs reports how many fsyncs the journal did, for measurements.
func (j *Journal) Syncs() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.syncs
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

// syncFile is os.File.Sync; tests hold it to see what waits for the disk.
var syncFile = (*os.File).Sync

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Others lists the other journals in the folder of the journal at path,
// by file name: other campaigns', or this one's under an earlier name.
func Others(path string) []string {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.journal"))
	var out []string
	for _, m := range matches {
		if filepath.Base(m) != filepath.Base(path) {
			out = append(out, filepath.Base(m))
		}
	}
	return out
}

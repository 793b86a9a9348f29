package journal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/letter"
)

// Records reads a journal's records in order, calling fn for each; an
// error of fn ends the reading and is returned. File reads a journal
// file; a journal in PostgreSQL has its own.
type Records func(fn func(Record) error) error

// File is the records of the journal at path, as Read reads them.
func File(path string) Records {
	return func(fn func(Record) error) error { return Read(path, fn) }
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

// Fingerprints is a set of rows, known by their fingerprints
// (letter.Fingerprint).
type Fingerprints struct{ fps []uint64 } // sorted

// Has reports whether the row with fingerprint fp is in the set.
func (r Fingerprints) Has(fp uint64) bool {
	_, ok := slices.BinarySearch(r.fps, fp)
	return ok
}

// Len is the number of rows in the set.
func (r Fingerprints) Len() int { return len(r.fps) }

// SentRows reads the journal at path, without locking it (a send may be
// running), and returns the rows it records letters of at the
// destination dest (test sends and invalid rows aside; records older than
// destinations count for every destination). ok is false when it records
// letters without fingerprints (a journal older than them), which cannot
// tell. It reads the journal's snapshot where it has one, so that a
// folder of finished mailings of a million letters each is read in
// seconds, not minutes.
func SentRows(path, dest string) (rows Fingerprints, ok bool, err error) {
	if err := regular(path); err != nil {
		return Fingerprints{}, false, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Fingerprints{}, false, err
	}
	defer f.Close()
	j, _, err := load(path, f)
	if err != nil {
		return Fingerprints{}, false, err
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
	Last Record // its last record
	// Sent is its last record of a send, not of a delivery report (a
	// bounce): when it was last tried, and what the server said then.
	Sent  Record
	Rcpts map[string]RcptOutcome // each recipient's, by lower-case address
	// Account is the account of several that made its last attempt
	// (Record.Account); "" for the one account.
	Account string
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
	return HistoryOf(File(path), dest)
}

// HistoryOf is ReadHistory of the records recs reads.
func HistoryOf(recs Records, dest string) (*History, error) {
	h := &History{Outcomes: map[letter.Key]*Outcome{}, Letters: map[letter.Key]uint64{}, Tests: map[string]int{}}
	err := recs(func(r Record) error {
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
		account := r.Account
		if o != nil && account == "" && r.State != Attempt {
			account = o.Account // a bounce, a delay: of the attempt before
		}
		if o == nil || !r.Part {
			o = &Outcome{Rcpts: map[string]RcptOutcome{}}
			h.Outcomes[r.Key] = o
		}
		o.Last, o.Account = r, account
		if r.Report == "" {
			o.Sent = r
		}
		for _, rcpt := range r.Rcpt {
			o.Rcpts[strings.ToLower(rcpt)] = RcptOutcome{rcpt, r.Final(), r.Phase, r.Code, r.Enhanced, r.Text}
		}
		for _, rej := range r.Rejected {
			o.Rcpts[strings.ToLower(rej.Rcpt)] = rej.Outcome()
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

// Delivery is one delivered attempt, as a provider counts it against an
// account's limit: when it went, and to how many envelope recipients.
type Delivery struct {
	Time    time.Time
	Rcpts   int
	Account string // the account of several that carried it (Record.Account)
}

// DeliveriesSince lists the deliveries the journal at path records at
// or after t to dest (records without a destination count too, and test
// sends, which went through the same account), oldest first.
func DeliveriesSince(path, dest string, t time.Time) ([]Delivery, error) {
	return DeliveriesIn(File(path), dest, t)
}

// DeliveriesIn is DeliveriesSince of the records recs reads.
func DeliveriesIn(recs Records, dest string, t time.Time) ([]Delivery, error) {
	var out []Delivery
	err := recs(func(r Record) error {
		if r.State != Delivered || r.Copy != "" || r.Time.Before(t) {
			return nil
		}
		if r.Dest != "" && Destination(r.Dest) != Destination(dest) {
			return nil
		}
		out = append(out, Delivery{Time: r.Time, Rcpts: max(len(r.Rcpt), 1), Account: r.Account})
		return nil
	})
	slices.SortStableFunc(out, func(a, b Delivery) int { return a.Time.Compare(b.Time) })
	return out, err
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
		rec, err := Decode(line)
		if errors.Is(err, ErrNotARecord) {
			return off, n - 1, fmt.Errorf("journal %s: line %d is not a valid record: the file is damaged; move it aside to start the mailing afresh (which may send letters twice)", name, n)
		}
		if err != nil {
			return off, n - 1, fmt.Errorf("journal %s: line %d %w", name, n, err)
		}
		if err := fn(rec); err != nil {
			return off, n - 1, err
		}
		off += int64(len(line))
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

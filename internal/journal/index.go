package journal

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/mailmerge/mailmerge/internal/flatmap"
	"github.com/mailmerge/mailmerge/internal/letter"
)

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

// Index is what a journal knows of every letter, as its records say:
// the state of each at each destination, kept in memory. Both journals,
// a file and PostgreSQL, keep one, filled by Add from their records in
// order, so that they answer alike. It is safe for concurrent use.
type Index struct {
	mu sync.Mutex
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
}

// NewIndex returns an empty index with room for n letters.
func NewIndex(n int) *Index {
	return &Index{letters: flatmap.New[keyHash, slot](n, hash64), more: map[destKey]status{}, rcpts: map[keyHash]map[string]State{}}
}

// Add notes what r, the next record of the journal, says of its letter.
// Test sends settle nothing, and copies say nothing of delivery: neither
// is indexed.
func (x *Index) Add(r Record) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.index(r)
}

func (x *Index) index(r Record) {
	if r.Test != "" || r.Copy != "" {
		return
	}
	k := hashKey(r.Key)
	sl, known := x.letters.Get(k)
	if !known || r.FP != 0 && r.FP != sl.rowFP() {
		sl.setRowFP(r.FP)
		x.fps = nil
	}
	sl.made = uint32(r.Made)
	d := x.dest(r.Dest)
	st, ok := x.statusAt(k, sl, d)
	if !ok {
		x.pairs++
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
	x.letters.Put(k, x.setStatus(k, sl, d, st))
}

// dest returns the index of a destination in dests, adding it.
func (x *Index) dest(name string) int {
	name = Destination(name)
	i := slices.Index(x.dests, name)
	if i < 0 {
		i = len(x.dests)
		x.dests = append(x.dests, name)
	}
	return i
}

// destKey is a letter and the index of a destination in dests.
type destKey struct {
	k keyHash
	d int
}

// statusAt returns a letter's status at the destination with index d.
func (x *Index) statusAt(k keyHash, sl slot, d int) (status, bool) {
	if sl.state != 0 && int(sl.dest) == d && d < spill {
		return status{state: states[sl.state], attempt: int32(sl.attempt), rset: sl.rset, rcpts: x.rcpts[k]}, true
	}
	st, ok := x.more[destKey{k, d}]
	return st, ok
}

// setStatus stores a letter's status at the destination with index d:
// in its slot when it has no other, else in more.
func (x *Index) setStatus(k keyHash, sl slot, d int, st status) slot {
	if d >= spill || sl.state != 0 && int(sl.dest) != d {
		x.more[destKey{k, d}] = st
		return sl
	}
	sl.state, sl.dest, sl.rset = stateCode(st.state), uint8(d), st.rset
	sl.attempt = uint8(min(st.attempt, 255))
	if st.rcpts != nil {
		x.rcpts[k] = st.rcpts
	} else {
		delete(x.rcpts, k)
	}
	return sl
}

// Grow makes room in the index for n more letters, so that a send of a
// million letters does not grow it as it goes (each growth holds the old
// array and the new one for a moment).
func (x *Index) Grow(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.letters.Grow(x.letters.Len() + n)
}

// Known reports whether the journal has records of the letter with key,
// at any destination, and the fingerprint of its row (0 in records older
// than fingerprints).
func (x *Index) Known(key letter.Key) (fp uint64, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	sl, ok := x.letters.Get(hashKey(key))
	return sl.rowFP(), ok
}

// HasRow reports whether a letter was recorded for a row with the
// fingerprint fp, under any identity. Rows the journal knows under other
// identities than this mailing gives them are the mark of a renamed
// campaign. ok is false for a journal older than fingerprints, which
// cannot tell.
func (x *Index) HasRow(fp uint64) (has, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.fps == nil {
		x.fps = make([]uint64, 0, x.letters.Len())
		x.letters.All(func(_ keyHash, sl slot) {
			if fp := sl.rowFP(); fp != 0 {
				x.fps = append(x.fps, fp)
			}
		})
		slices.Sort(x.fps)
	}
	_, has = slices.BinarySearch(x.fps, fp)
	return has, len(x.fps) > 0
}

// Lookup returns what the journal knows of the letter with key at the
// destination dest. Records older than destinations count for every
// destination.
func (x *Index) Lookup(key letter.Key, dest string) Entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := hashKey(key)
	sl, seen := x.letters.Get(k)
	var s status
	ok := false
	if seen {
		if d := slices.Index(x.dests, Destination(dest)); d >= 0 {
			s, ok = x.statusAt(k, sl, d)
		}
		if d := slices.Index(x.dests, ""); !ok && d >= 0 {
			s, ok = x.statusAt(k, sl, d)
		}
	}
	e := Entry{Known: ok, State: s.state, Attempts: int(s.attempt), Seen: ok, Rcpts: maps.Clone(s.rcpts), rset: s.rset}
	if sl.delivered > 0 {
		e.Seen = true
		if e.State != Delivered {
			e.Elsewhere = x.dests[sl.delivered-1]
		}
	}
	return e
}

// Letters returns how many letters and destinations the journal has
// records of, test sends aside.
func (x *Index) Letters() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.pairs
}

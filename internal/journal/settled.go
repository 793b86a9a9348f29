package journal

import (
	"cmp"
	"slices"
)

// Settled is the letters settled at one destination (delivered, failed,
// or of unknown fate), by the fingerprint of their rows, for a send that
// has nothing left to do to find it out without making its letters again.
type Settled struct {
	letters []settledLetter // by fingerprint
	taken   int
}

type settledLetter struct {
	fp    uint64
	state uint8
	taken bool
}

// Settled returns the letters at dest, all settled there (delivered,
// failed, or of unknown fate) and made with made (letter.Made), or none
// when any letter at dest is not: still due, made with another template,
// with recipients in different states, or recorded before destinations
// or fingerprints were. A send that finds every row's letter in it, and
// every letter of it for a row, has nothing to do. resendUnknown counts
// letters of unknown fate as due, as a send with --resend-unknown does.
func (x *Index) Settled(dest string, made uint64, resendUnknown bool) *Settled {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := &Settled{}
	d := slices.Index(x.dests, Destination(dest))
	if d < 0 || uint32(made) == 0 || slices.Contains(x.dests, "") {
		return s
	}
	s.letters = make([]settledLetter, 0, x.letters.Len())
	all := true
	x.letters.All(func(k keyHash, sl slot) {
		st, ok := x.statusAt(k, sl, d)
		switch {
		case !ok || !all:
		case st.rcpts != nil || Due(st.state, resendUnknown) || sl.made != uint32(made) || sl.rowFP() == 0:
			all = false
		default:
			s.letters = append(s.letters, settledLetter{fp: sl.rowFP(), state: stateCode(st.state)})
		}
	})
	if !all {
		return &Settled{}
	}
	slices.SortFunc(s.letters, func(a, b settledLetter) int { return cmp.Compare(a.fp, b.fp) })
	return s
}

// Take finds a settled letter of a row with the fingerprint fp not taken
// yet, takes it, and returns its state: each row takes one, so that a
// row repeated more often than it was sent is not taken for sent.
func (s *Settled) Take(fp uint64) (State, bool) {
	i, _ := slices.BinarySearchFunc(s.letters, fp, func(l settledLetter, fp uint64) int { return cmp.Compare(l.fp, fp) })
	for ; i < len(s.letters) && s.letters[i].fp == fp; i++ {
		if !s.letters[i].taken {
			s.letters[i].taken = true
			s.taken++
			return states[s.letters[i].state], true
		}
	}
	return "", false
}

// Len is how many letters s has.
func (s *Settled) Len() int { return len(s.letters) }

// Taken is how many of them rows took.
func (s *Settled) Taken() int { return s.taken }

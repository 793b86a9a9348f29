package journal

import (
	"cmp"
	"slices"
	"sync"
)

// Settled is the letters settled at one destination (delivered, failed,
// or of unknown fate), by the fingerprint of their rows, for a send that
// has nothing left to do to find it out without making its letters again.
type Settled struct {
	mu      sync.Mutex
	letters []settledLetter // by fingerprint
}

type settledLetter struct {
	fp    uint64
	state uint8
	taken bool
}

// Settled returns the letters settled at dest that were made with made
// (letter.Made) and whose recipients are all in one state. resendUnknown
// leaves out those of unknown fate, as a send with --resend-unknown sends
// them.
func (j *Journal) Settled(dest string, made uint64, resendUnknown bool) *Settled {
	j.mu.Lock()
	defer j.mu.Unlock()
	d := slices.Index(j.dests, dest)
	s := &Settled{}
	if d < 0 || made == 0 {
		return s
	}
	s.letters = make([]settledLetter, 0, j.letters.len())
	j.letters.each(func(k keyHash, sl slot) {
		if sl.state == 0 || int(sl.dest) != d || sl.made != uint32(made) || sl.fp == 0 || Due(states[sl.state], resendUnknown) {
			return
		}
		if _, ok := j.rcpts[k]; ok {
			return
		}
		s.letters = append(s.letters, settledLetter{fp: sl.fp, state: sl.state})
	})
	slices.SortFunc(s.letters, func(a, b settledLetter) int { return cmp.Compare(a.fp, b.fp) })
	return s
}

// Take finds a settled letter of a row with the fingerprint fp not taken
// yet, takes it, and returns its state: each row takes one, so that a
// row repeated more often than it was sent is not taken for sent.
func (s *Settled) Take(fp uint64) (State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, _ := slices.BinarySearchFunc(s.letters, fp, func(l settledLetter, fp uint64) int { return cmp.Compare(l.fp, fp) })
	for ; i < len(s.letters) && s.letters[i].fp == fp; i++ {
		if !s.letters[i].taken {
			s.letters[i].taken = true
			return states[s.letters[i].state], true
		}
	}
	return "", false
}

// Len is how many letters s has.
func (s *Settled) Len() int { return len(s.letters) }

package journal

import (
	"encoding/binary"
	"math/bits"
)

// table is the letters' slots by key: an open-addressing hash table in
// one array, three quarters full at most. A Go map of a million 40-byte
// entries takes 60 to 100 MB (its tables are 1,024 slots each, and as
// many as a power of two of them when sized in advance); this takes 53 MB
// and grows only when a send adds more letters than Grow made room for.
// Keys are hashes already; a zero key marks an empty entry (no letter has
// one: replay refuses it).
type table struct {
	entries []entry
	n       int
}

type entry struct {
	k  keyHash
	sl slot
}

func newTable(n int) *table {
	t := &table{}
	t.grow(n)
	return t
}

func (t *table) len() int { return t.n }

// home is where k's search starts: the key's first 64 bits, mixed and
// scaled to the table's size.
func (t *table) home(k keyHash) int {
	h := binary.LittleEndian.Uint64(k[:8]) * 0x9E3779B97F4A7C15
	hi, _ := bits.Mul64(h, uint64(len(t.entries)))
	return int(hi)
}

func (t *table) find(k keyHash) int {
	for i := t.home(k); ; i++ {
		if i == len(t.entries) {
			i = 0
		}
		if e := &t.entries[i]; e.k == k || e.k == (keyHash{}) {
			return i
		}
	}
}

func (t *table) get(k keyHash) (slot, bool) {
	if len(t.entries) == 0 {
		return slot{}, false
	}
	e := &t.entries[t.find(k)]
	return e.sl, e.k == k
}

func (t *table) put(k keyHash, sl slot) {
	if (t.n+1)*4 > len(t.entries)*3 {
		t.grow(max(t.n+1, t.n+t.n/2))
	}
	i := t.find(k)
	if t.entries[i].k != k {
		t.entries[i].k = k
		t.n++
	}
	t.entries[i].sl = sl
}

// grow makes room for n letters in all.
func (t *table) grow(n int) {
	size := max(n*4/3+1, 8)
	if size <= len(t.entries) {
		return
	}
	old := t.entries
	t.entries = make([]entry, size)
	for _, e := range old {
		if e.k != (keyHash{}) {
			t.entries[t.find(e.k)] = e
		}
	}
}

// each calls fn for every letter, in no order.
func (t *table) each(fn func(keyHash, slot)) {
	for _, e := range t.entries {
		if e.k != (keyHash{}) {
			fn(e.k, e.sl)
		}
	}
}

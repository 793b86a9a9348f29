// Package flatmap is a hash map in one array, for keys that are hashes
// already (a letter's key, an address's hash), kept three quarters full
// at most. A million entries of a Go map take 36 bytes each for 16 of
// key and value, and a map sized in advance can take twice that (its
// tables come in powers of two); here they take 16 / 0.75 on average.
// A zero key marks an empty entry: callers never put one.
package flatmap

import "math/bits"

// Map maps keys to values; New makes one.
type Map[K comparable, V any] struct {
	entries []entry[K, V]
	n       int
	hash    func(K) uint64
}

type entry[K comparable, V any] struct {
	k K
	v V
}

// New returns a map with room for n entries, whose keys hash is the first
// 64 bits of.
func New[K comparable, V any](n int, hash func(K) uint64) *Map[K, V] {
	m := &Map[K, V]{hash: hash}
	m.Grow(n)
	return m
}

// Len is the number of entries.
func (m *Map[K, V]) Len() int { return m.n }

// home is where k's search starts: its hash, mixed and scaled to the
// array's length (which need not be a power of two).
func (m *Map[K, V]) home(k K) int {
	hi, _ := bits.Mul64(m.hash(k)*0x9E3779B97F4A7C15, uint64(len(m.entries)))
	return int(hi)
}

func (m *Map[K, V]) find(k K) int {
	var zero K
	for i := m.home(k); ; i++ {
		if i == len(m.entries) {
			i = 0
		}
		if e := &m.entries[i]; e.k == k || e.k == zero {
			return i
		}
	}
}

// Get returns the value of k, and whether k has one.
func (m *Map[K, V]) Get(k K) (V, bool) {
	if len(m.entries) == 0 {
		var v V
		return v, false
	}
	e := &m.entries[m.find(k)]
	return e.v, e.k == k
}

// Put sets the value of k, which must not be the zero key.
func (m *Map[K, V]) Put(k K, v V) {
	if len(m.entries) == 0 {
		m.Grow(1)
	}
	i := m.find(k)
	if m.entries[i].k != k {
		// A new key: it may need room (a key already in never does).
		if (m.n+1)*4 > len(m.entries)*3 {
			m.Grow(max(m.n+1, m.n+m.n/2))
			i = m.find(k)
		}
		m.entries[i].k = k
		m.n++
	}
	m.entries[i].v = v
}

// Grow makes room for n entries in all.
func (m *Map[K, V]) Grow(n int) {
	size := max(n*4/3+1, 8)
	if size <= len(m.entries) {
		return
	}
	old := m.entries
	m.entries = make([]entry[K, V], size)
	var zero K
	for _, e := range old {
		if e.k != zero {
			m.entries[m.find(e.k)] = e
		}
	}
}

// All calls fn for every entry, in no order.
func (m *Map[K, V]) All(fn func(K, V)) {
	var zero K
	for _, e := range m.entries {
		if e.k != zero {
			fn(e.k, e.v)
		}
	}
}

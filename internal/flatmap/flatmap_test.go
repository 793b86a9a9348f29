package flatmap

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

type key [12]byte

func hash(k key) uint64 { return binary.LittleEndian.Uint64(k[:8]) }

// TestMap: every key put is found with its last value, keys never put
// are not, through growth and through keys whose searches start at the
// same place (the same first 8 bytes).
func TestMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	m := New[key, uint64](10, hash)
	want := map[key]uint64{}
	var keys []key
	for i := 0; i < 20000; i++ {
		var k key
		switch {
		case i%7 == 0 && len(keys) > 0:
			k = keys[rng.IntN(len(keys))] // put again
		case i%5 == 0 && len(keys) > 0:
			k = keys[rng.IntN(len(keys))]
			k[11] ^= byte(1 + rng.IntN(255)) // same home, another key
		default:
			for j := range k {
				k[j] = byte(rng.IntN(256))
			}
		}
		v := rng.Uint64()
		m.Put(k, v)
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
		want[k] = v
	}
	if m.Len() != len(want) {
		t.Errorf("Len() = %d, want %d", m.Len(), len(want))
	}
	for k, v := range want {
		if got, ok := m.Get(k); !ok || got != v {
			t.Fatalf("Get(%x) = %d, %v; want %d", k, got, ok, v)
		}
	}
	n := 0
	m.All(func(k key, v uint64) {
		n++
		if want[k] != v {
			t.Errorf("All gave %x %d, want %d", k, v, want[k])
		}
	})
	if n != len(want) {
		t.Errorf("All gave %d, want %d", n, len(want))
	}
	for i := 0; i < 1000; i++ {
		var k key
		for j := range k {
			k[j] = byte(rng.IntN(256))
		}
		if _, ok := want[k]; !ok {
			if _, found := m.Get(k); found {
				t.Fatalf("found %x, never put", k)
			}
		}
	}
	if len(m.entries)*3 < m.Len()*4 {
		t.Errorf("%d entries for %d keys: over three quarters full", len(m.entries), m.Len())
	}
	if _, ok := New[key, uint64](0, hash).Get(key{1}); ok {
		t.Error("an empty map has a key")
	}
}

// TestGrowHolds: a map grown for n keys holds them, and updates of them,
// without growing again.
func TestGrowHolds(t *testing.T) {
	m := New[uint64, uint64](0, func(k uint64) uint64 { return k })
	m.Grow(100000)
	n := len(m.entries)
	for round := range 3 {
		for i := range 100000 {
			m.Put(uint64(i+1)*0x9E3779B97F4A7C15, uint64(round))
		}
	}
	if len(m.entries) != n {
		t.Errorf("grown from %d to %d entries for the keys it was grown for", n, len(m.entries))
	}
}

// BenchmarkMemory reports the bytes a million entries take, beside a Go
// map's.
func BenchmarkMemory(b *testing.B) {
	m := New[uint64, uint64](1_000_000, func(k uint64) uint64 { return k })
	for i := range 1_000_000 {
		m.Put(uint64(i+1)*0x9E3779B97F4A7C15, 0)
	}
	b.ReportMetric(float64(len(m.entries)*16)/1e6, "MB/1M-entries")
}

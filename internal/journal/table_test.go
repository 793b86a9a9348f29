package journal

import (
	"math/rand/v2"
	"testing"
)

// TestTable: every key put is found with its last slot, keys never put
// are not, through growth and through keys whose searches start at the
// same place (the same first 8 bytes).
func TestTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	tab := newTable(10)
	want := map[keyHash]slot{}
	var keys []keyHash
	for i := 0; i < 20000; i++ {
		var k keyHash
		if i%5 == 0 && len(keys) > 0 {
			k = keys[rng.IntN(len(keys))]
			k[15] ^= byte(1 + rng.IntN(255)) // same home, another key
		} else {
			for j := range k {
				k[j] = byte(rng.IntN(256))
			}
		}
		if i%7 == 0 && len(keys) > 0 {
			k = keys[rng.IntN(len(keys))] // put again
		}
		sl := slot{fp: rng.Uint64(), state: uint8(1 + rng.IntN(8))}
		tab.put(k, sl)
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
		want[k] = sl
	}
	if tab.len() != len(want) {
		t.Errorf("len %d, want %d", tab.len(), len(want))
	}
	for k, sl := range want {
		if got, ok := tab.get(k); !ok || got != sl {
			t.Fatalf("get(%x) = %+v, %v; want %+v", k, got, ok, sl)
		}
	}
	n := 0
	tab.each(func(k keyHash, sl slot) {
		n++
		if want[k] != sl {
			t.Errorf("each gave %x %+v, want %+v", k, sl, want[k])
		}
	})
	if n != len(want) {
		t.Errorf("each gave %d, want %d", n, len(want))
	}
	for i := 0; i < 1000; i++ {
		var k keyHash
		for j := range k {
			k[j] = byte(rng.IntN(256))
		}
		if _, ok := want[k]; !ok {
			if _, found := tab.get(k); found {
				t.Fatalf("found %x, never put", k)
			}
		}
	}
	if len(tab.entries)*3 < tab.len()*4 {
		t.Errorf("%d entries for %d keys: over three quarters full", len(tab.entries), tab.len())
	}
}

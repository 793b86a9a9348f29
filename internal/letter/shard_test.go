package letter

import (
	"encoding/binary"
	"testing"
)

// TestShardGolden: the shards of a few keys, as the first version of
// send --shard gave them. A split mailing's journals depend on them: a
// change here would send letters of a split begun before a second time.
func TestShardGolden(t *testing.T) {
	tests := []struct {
		key  string // as the journal writes it
		what string
		want [4]int // shards of 2, 3, 7 and 1000
	}{
		{"ro35fahoznusxz6mwrful3kfh5foksqi", `NewKey("course-2026", ivan@example.com)`, [4]int{1, 0, 1, 81}},
		{"e6s24mllyadf6ndovjkzj6rd7uw7yzxw", `NewKey("course-2026", maria@example.com)`, [4]int{0, 1, 2, 972}},
		{"3vbrxwes7j2krzulvhb4jtqyxpl3qvyn", `NewKey("курс", пётр@пример.рф)`, [4]int{1, 2, 3, 689}},
		{"e5agovhkwyueadjfwphzsbbfg2qb3rgq", `NamedKey("course-2026", "S-1024")`, [4]int{0, 0, 2, 156}},
		{"dlbawehl5ujwvfqpeih2u2ynwzdvsbfd", `InvalidKey("course-2026", 0x1234)`, [4]int{0, 2, 1, 10}},
	}
	for _, tt := range tests {
		var k Key
		if err := k.UnmarshalText([]byte(tt.key)); err != nil {
			t.Fatal(err)
		}
		for i, n := range []int{2, 3, 7, 1000} {
			if got := k.Shard(n); got != tt.want[i] {
				t.Errorf("%s (%s): shard %d of %d, want %d", tt.key, tt.what, got, n, tt.want[i])
			}
			if got := k.Shard(n); got != int(fnv1a(k[:])%uint64(n)) {
				t.Errorf("%s: shard %d of %d is not FNV-1a of the key's bytes modulo %d", tt.key, got, n, n)
			}
		}
	}
	// The keys the golden values are of are still made as they were.
	if k := NewKey("course-2026", []string{"ivan@example.com"}, 0); k.String() != tests[0].key {
		t.Errorf("key %s, want %s", k, tests[0].key)
	}
	if k := NamedKey("course-2026", "S-1024"); k.String() != tests[3].key {
		t.Errorf("named key %s, want %s", k, tests[3].key)
	}
	var k Key
	for _, n := range []int{-1, 0, 1} {
		if got := k.Shard(n); got != 0 {
			t.Errorf("shard of %d: %d, want 0", n, got)
		}
	}
}

// TestShardSpread: a thousand letters fall into three shards about
// evenly; none is left empty or takes most.
func TestShardSpread(t *testing.T) {
	counts := make([]int, 3)
	for i := range 1000 {
		var k Key
		binary.BigEndian.PutUint32(k[:], uint32(i))
		k = NewKey("course", []string{k.String() + "@example.com"}, 0)
		counts[k.Shard(3)]++
	}
	for i, c := range counts {
		if c < 280 || c > 390 {
			t.Errorf("shard %d of 3 has %d of 1000 letters: %v", i, c, counts)
		}
	}
}

// fnv1a is FNV-1a, 64 bits, written out from its definition.
func fnv1a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

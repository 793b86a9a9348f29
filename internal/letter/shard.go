package letter

import "hash/fnv"

// Shard returns which of n shards, numbered from 0, the letter with key k
// belongs to when a mailing is split across sends (send --shard): the
// 64-bit FNV-1a hash of the key's 20 bytes, modulo n. The journals of a
// split depend on it, so it never changes: a split begun by one version
// of mailmerge and finished by another must give every letter the same
// shard (TestShardGolden holds it). n below 2 is one shard, 0.
func (k Key) Shard(n int) int {
	if n < 2 {
		return 0
	}
	h := fnv.New64a()
	h.Write(k[:])
	return int(h.Sum64() % uint64(n))
}

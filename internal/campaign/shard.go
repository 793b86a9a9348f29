package campaign

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/letter"
)

// MaxShards is the most shards a mailing is split into.
const MaxShards = 1000

// Shard is one part of a mailing split across sends that run at once,
// on several machines or in several processes (send --shard K/N): shard
// K of N, each letter in one of them. The zero Shard is the whole
// mailing.
//
// A letter's shard is its identity's (letter.Key.Shard), but for the
// letters not named by recipients.key it is the identity a letter to its
// recipients alone has (letter.NewKey(campaign, recipients, 0)): the
// same, unless several rows write to the same people. Then all their
// letters are in one shard, whose journal alone decides their identities
// (which depend on what was recorded before, when rows change between
// sends): a shard never makes one of them under another identity than
// the shard that sent it.
type Shard struct{ K, N int }

// ParseShard reads a shard as send --shard takes it: "K/N", 1 ≤ K ≤ N ≤
// MaxShards.
func ParseShard(s string) (Shard, error) {
	ks, ns, ok := strings.Cut(strings.TrimSpace(s), "/")
	k, kerr := strconv.Atoi(strings.TrimSpace(ks))
	n, nerr := strconv.Atoi(strings.TrimSpace(ns))
	switch {
	case !ok || kerr != nil || nerr != nil:
		return Shard{}, fmt.Errorf("%q is not a shard: want K/N, shard K of N, such as 1/2", s)
	case n < 1 || n > MaxShards:
		return Shard{}, fmt.Errorf("%q: a mailing is split into 1 to %d shards, not %d", s, MaxShards, n)
	case k < 1 || k > n:
		return Shard{}, fmt.Errorf("%q: the shards of a split into %d are 1/%d to %d/%d", s, n, n, n, n)
	}
	return Shard{K: k, N: n}, nil
}

// Split says whether s is a shard, not the whole mailing.
func (s Shard) Split() bool { return s.N > 0 }

// String writes the shard as send --shard takes it: "2/3".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// HasKey reports whether the letter (or the invalid row, by
// letter.InvalidKey) whose shard is decided by k is in s.
func (s Shard) HasKey(k letter.Key) bool { return !s.Split() || k.Shard(s.N) == s.K-1 }

// otherShard reports whether l, identified, is in another shard than the
// walk's campaign's (Options.Shard).
func (w *walker) otherShard(l *letter.Letter) bool {
	s := w.c.opts.Shard
	if !s.Split() {
		return false
	}
	k := l.Key
	if w.keyColumn < 0 {
		k = letter.NewKey(w.c.cfg.Campaign, l.Recipients, 0)
	}
	return !s.HasKey(k)
}

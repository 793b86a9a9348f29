package campaign

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

func TestParseShard(t *testing.T) {
	tests := []struct {
		in   string
		want Shard
		err  string // in the error; "" for none
	}{
		{"1/2", Shard{1, 2}, ""},
		{" 3/3 ", Shard{3, 3}, ""},
		{"1/1", Shard{1, 1}, ""},
		{"1000/1000", Shard{1000, 1000}, ""},
		{"0/2", Shard{}, "1/2 to 2/2"},
		{"3/2", Shard{}, "1/2 to 2/2"},
		{"1/0", Shard{}, "1 to 1000 shards, not 0"},
		{"1/1001", Shard{}, "not 1001"},
		{"2", Shard{}, "want K/N"},
		{"a/b", Shard{}, "want K/N"},
		{"", Shard{}, "want K/N"},
	}
	for _, tt := range tests {
		got, err := ParseShard(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseShard(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseShard(%q): error %v, want one saying %q", tt.in, err, tt.err)
		}
	}
	if s := (Shard{2, 3}); s.String() != "2/3" || !s.Split() || (Shard{}).Split() {
		t.Errorf("String %q, Split %v", s, s.Split())
	}
}

// TestShards: the shards of a split hold every letter once; each letter
// is where its identity (or, for rows writing to the same people, their
// envelope's) says; rows that share recipients share a shard; every
// shard checks every row.
func TestShards(t *testing.T) {
	var csv strings.Builder
	csv.WriteString("name,email,file\n")
	for i := range 40 {
		fmt.Fprintf(&csv, "P%d,p%d@example.com,a.txt\n", i, i)
	}
	// Three rows to one person: told apart by their values.
	for i := range 3 {
		fmt.Fprintf(&csv, "Again %d,same@example.com,a.txt\n", i)
	}
	cfg := setup(t, letterText, csv.String())
	cfg.Campaign = "course"
	const n = 3
	shardOf := map[letter.Key]int{}
	sizes := make([]int, n)
	for k := 1; k <= n; k++ {
		c := New(cfg, Options{Shard: Shard{k, n}})
		sum, err := c.Letters(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
			if prev, ok := shardOf[l.Key]; ok {
				t.Errorf("line %d in shards %d and %d", l.Line, prev, k)
			}
			shardOf[l.Key] = k
			decides := l.Key
			if strings.EqualFold(l.Recipients[0], "same@example.com") {
				decides = letter.NewKey("course", l.Recipients, 0)
			}
			if got := decides.Shard(n) + 1; got != k {
				t.Errorf("line %d in shard %d, its key says %d", l.Line, k, got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Letters+sum.OtherShards != 43 || sum.Rows != 43 {
			t.Errorf("shard %d: %d letters, %d of other shards, %d rows; want 43 in all", k, sum.Letters, sum.OtherShards, sum.Rows)
		}
		sizes[k-1] = sum.Letters
	}
	if len(shardOf) != 43 {
		t.Errorf("%d letters in the shards, want 43", len(shardOf))
	}
	for k, size := range sizes {
		if size == 0 {
			t.Errorf("shard %d/%d is empty: %v", k+1, n, sizes)
		}
	}
	// The three rows to one person are in one shard, under their own
	// identities (not the envelope's).
	whole := New(cfg, Options{})
	in := map[int]bool{}
	whole.Letters(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
		if l.Recipients[0] == "same@example.com" {
			in[shardOf[l.Key]] = true
			if l.Key == letter.NewKey("course", l.Recipients, 0) {
				t.Errorf("line %d has the envelope's identity", l.Line)
			}
		}
		return nil
	})
	if len(in) != 1 {
		t.Errorf("the rows to one person are in shards %v", in)
	}

	// A wrong row is reported by every shard, whichever it is in.
	bad := setup(t, letterText, csv.String()+"Broken,not-an-address,a.txt\n")
	for k := 1; k <= n; k++ {
		var errs []string
		_, err := New(bad, Options{Shard: Shard{k, n}, OnError: func(err error) { errs = append(errs, err.Error()) }}).
			Letters(context.Background(), func(*letter.Letter, *recipients.Record) error { return nil })
		if err == nil || len(errs) != 1 {
			t.Errorf("shard %d/%d: %v, %q; want the wrong row reported", k, n, err, errs)
		}
	}
}

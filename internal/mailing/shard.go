package mailing

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
)

// A mailing split into shards (send --shard K/N) keeps a journal per
// shard, beside the journal the mailing has unsplit (send.journal, or
// the campaign's default): course.shard-1-of-2.journal and
// course.shard-2-of-2.journal beside course.journal. The shards share
// the mailing's secret, course.journal.secret, so a letter has the same
// Message-ID whichever shard sends it. A mailing is sent either whole or
// in one split: once one of them has records, the others are refused.

// ShardJournal is the journal of shard s of the mailing whose journal
// (unsplit) is at path: beside it, named as it is with .journal replaced
// by .shard-K-of-N.journal (added to a name without .journal).
func ShardJournal(path string, s campaign.Shard) string {
	return fmt.Sprintf("%s.shard-%d-of-%d.journal", strings.TrimSuffix(path, ".journal"), s.K, s.N)
}

// shardJournal is the journal of a shard, found beside a mailing's.
type shardJournal struct {
	path string
	k, n int
}

// shardJournals lists the journals of shards, of any split, beside the
// mailing's journal at path (ShardJournal), by split and shard.
func shardJournals(path string) []shardJournal {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil
	}
	prefix := filepath.Base(strings.TrimSuffix(path, ".journal")) + ".shard-"
	var out []shardJournal
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		var k, n int
		if _, err := fmt.Sscanf(rest, "%d-of-%d.journal", &k, &n); err != nil || fmt.Sprintf("%d-of-%d.journal", k, n) != rest {
			continue
		}
		out = append(out, shardJournal{filepath.Join(filepath.Dir(path), e.Name()), k, n})
	}
	slices.SortFunc(out, func(a, b shardJournal) int { return cmp.Or(cmp.Compare(a.n, b.n), cmp.Compare(a.k, b.k)) })
	return out
}

// errFound stops a reading of a journal at the record it looks for.
var errFound = errors.New("found")

// hasRecords says whether the journal at path records letters sent (or
// rows left out as invalid), not only test sends: whether a send of the
// mailing split otherwise would send them again. A journal that cannot
// be read is taken to have some.
func hasRecords(path string) bool {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return false
	}
	err := journal.Read(path, func(r journal.Record) error {
		if r.Test == "" {
			return errFound
		}
		return nil
	})
	return err != nil
}

// checkSplit refuses a send of shard s (the zero Shard: of the whole
// mailing) whose journal is not the one that has the mailing's records:
// the mailing was begun whole, or split into another number of shards.
// base is the mailing's journal unsplit.
func checkSplit(base string, s campaign.Shard) error {
	if s.Split() && hasRecords(base) {
		return &Error{Kind: Locked,
			Err:  fmt.Errorf("this mailing was begun without shards: %s has its records, and shard %s would send their letters again", filepath.Base(base), s),
			Hint: "go on without --shard; a mailing cannot be split once it has begun"}
	}
	var names []string
	n := 0
	for _, sj := range shardJournals(base) {
		if sj.n != s.N && hasRecords(sj.path) {
			names = append(names, filepath.Base(sj.path))
			n = cmp.Or(n, sj.n)
		}
	}
	switch {
	case len(names) == 0:
		return nil
	case !s.Split():
		return &Error{Kind: Locked,
			Err: fmt.Errorf("this mailing is split into %d shards: %s %s its records, and a send without --shard would send their letters again",
				n, strings.Join(names, ", "), map[bool]string{true: "has", false: "have"}[len(names) == 1]),
			Hint: fmt.Sprintf("send its shards as before, with --shard 1/%d to --shard %d/%d; mailmerge report reads all their journals", n, n, n)}
	}
	return &Error{Kind: Locked,
		Err: fmt.Errorf("this mailing is split into %d shards, not %d: %s %s its records, and a split into %d would send their letters again",
			n, s.N, strings.Join(names, ", "), map[bool]string{true: "has", false: "have"}[len(names) == 1], s.N),
		Hint: fmt.Sprintf("send its shards as before, with --shard K/%d; a mailing cannot be split anew once it has begun", n)}
}

// noteShard says, before the first round of a shard's send, how many of
// the mailing's letters are its, and that send.daily_limit counts them
// alone.
func (s *send) noteShard(plan campaign.Plan) {
	sh := s.opts.Shard
	if !sh.Split() || s.later {
		return
	}
	fmt.Fprintf(s.notes, "shard %s: %s of the mailing's %d; %d %s to other shards, which send them (journal %s)\n",
		sh, Plural(plan.Letters, "letter"), plan.Letters+plan.OtherShards, plan.OtherShards,
		map[bool]string{true: "belongs", false: "belong"}[plan.OtherShards == 1], filepath.Base(s.cfg.Send.Journal))
	limited := s.cfg.Send.DailyLimit.N > 0
	for _, ob := range s.accounts {
		limited = limited || ob.cfg.Send.DailyLimit.N > 0
	}
	if limited && sh.N > 1 {
		fmt.Fprintf(s.notes, "note: send.daily_limit counts the letters of this shard alone: shards sending through one account together send up to %d times it; give each its part of the account's limit\n", sh.N)
	}
}

// reportJournals finds the journals a report reads: those named (report
// --journal: files, or patterns such as 'course.shard-*.journal'); else
// the mailing's journal, or, when it has no records and journals of
// shards are beside it, theirs, which it says.
func reportJournals(cfg *config.Config, named []string, notes io.Writer) ([]string, error) {
	if len(named) > 0 {
		return namedJournals(named)
	}
	base := cfg.Send.Journal
	shards := shardJournals(base)
	if len(shards) == 0 {
		return []string{base}, nil
	}
	var paths, names []string
	for _, sj := range shards {
		paths, names = append(paths, sj.path), append(names, filepath.Base(sj.path))
	}
	if hasRecords(base) {
		fmt.Fprintf(notes, "note: beside %s are journals of shards of this mailing too (%s); report --journal reads them\n", filepath.Base(base), strings.Join(names, ", "))
		return []string{base}, nil
	}
	fmt.Fprintf(notes, "this mailing is split into shards: reading the journals %s\n", strings.Join(names, ", "))
	return paths, nil
}

// namedJournals finds the journals report --journal names: each a file,
// or a pattern (filepath.Match) of files, in the order named, each once.
func namedJournals(named []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = p
		}
		if !seen[abs] {
			seen[abs] = true
			out = append(out, p)
		}
	}
	for _, p := range named {
		if !strings.ContainsAny(p, "*?[") {
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
				return nil, &Error{Kind: Usage, Err: fmt.Errorf("report --journal %s: no such file", p)}
			}
			add(p)
			continue
		}
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, &Error{Kind: Usage, Err: fmt.Errorf("report --journal %s: %w", p, err)}
		}
		if len(matches) == 0 {
			return nil, &Error{Kind: Usage, Err: fmt.Errorf("report --journal %s: no file matches", p), Hint: "quote the pattern so that the shell leaves it alone, and run report in the folder of the journals, or give their folder"}
		}
		for _, m := range matches {
			add(m)
		}
	}
	return out, nil
}

// readHistories reads what the journals at paths say of the mailing at
// dest (journal.ReadHistory), merged: each letter's outcome from the
// journal that has it. A letter no split sends from two shards; one that
// two journals have anyway is taken from the later record, with a
// warning.
func readHistories(paths []string, dest string, notes io.Writer) (*journal.History, error) {
	if len(paths) == 1 {
		return journal.ReadHistory(paths[0], dest)
	}
	merged := &journal.History{Outcomes: map[letter.Key]*journal.Outcome{}, Letters: map[letter.Key]uint64{}, Tests: map[string]int{}}
	from := map[letter.Key]string{}
	twice, first := 0, [2]string{}
	for _, p := range paths {
		h, err := journal.ReadHistory(p, dest)
		if err != nil {
			return nil, err
		}
		for k, fp := range h.Letters {
			if _, ok := merged.Letters[k]; !ok || fp != 0 {
				merged.Letters[k] = fp
			}
		}
		for addr, n := range h.Tests {
			merged.Tests[addr] += n
		}
		for k, o := range h.Outcomes {
			prev, ok := merged.Outcomes[k]
			if ok {
				if twice++; twice == 1 {
					first = [2]string{from[k], p}
				}
				if !o.Last.Time.After(prev.Last.Time) {
					continue
				}
			}
			merged.Outcomes[k], from[k] = o, p
		}
	}
	if twice > 0 {
		fmt.Fprintf(notes, "warning: %s %s records in more than one journal (the first in %s and in %s): the shards of a split never share a letter, so these journals are not of one split; the latest record of each is taken\n",
			Plural(twice, "letter"), map[bool]string{true: "has", false: "have"}[twice == 1], filepath.Base(first[0]), filepath.Base(first[1]))
	}
	return merged, nil
}

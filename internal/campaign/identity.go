package campaign

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"

	"github.com/mailmerge/mailmerge/internal/flatmap"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/template"
)

// made is letter.Made for this campaign's letters made with a template
// whose source has the SHA-256 sum: the campaign's name and the
// template, which with a row decide its letter's recipients and so its
// identity. Its low 32 bits (what the journal keeps) are never 0, which
// is a record older than made.
func (c *Campaign) made(sum [sha256.Size]byte) uint64 {
	h := sha256.New()
	io.WriteString(h, c.cfg.Campaign)
	h.Write([]byte{0})
	h.Write(sum[:])
	return binary.BigEndian.Uint64(h.Sum(nil)) | 1
}

// checkName checks the value of the recipients.key column of a row: there,
// and not the name of another row.
func (c *Campaign) checkName(rec *recipients.Record, column int, named map[string]int) error {
	name := strings.TrimSpace(rec.Fields[column])
	at := func(err error) error { return rec.Locate(column, err) }
	if name == "" {
		return at(fmt.Errorf("field %q is empty; recipients.key names it as what identifies each row", rec.Header()[column]))
	}
	if first, ok := named[name]; ok {
		return at(fmt.Errorf("field %q holds %q, as line %d does; recipients.key names it as what identifies each row", rec.Header()[column], name, first))
	}
	named[name] = rec.Line
	return nil
}

// identify gives l, the letter of rec (or of its group), its identity:
// its row's fingerprint, and the key the recipients.key column names or
// else identity picks, with the Message-ID made from it and tagged.
func (w *walker) identify(l *letter.Letter, rec *recipients.Record, group []*recipients.Record) {
	c := w.c
	l.Fingerprint = fingerprint(rec, group)
	if w.keyColumn >= 0 {
		l.Identify(letter.NamedKey(c.cfg.Campaign, rec.Fields[w.keyColumn]))
	} else {
		l.Identify(c.identity(l, w.earlier))
	}
	l.Tag(c.opts.Secret)
}

// identifyUnselected gives a row left out by Options.Select its letter's
// identity as if it were chosen, so that the identities of the rows after
// it do not depend on what was chosen.
func (w *walker) identifyUnselected(rec *recipients.Record, group []*recipients.Record) {
	l, err := w.tmpl.Envelope(context.Background(), rowOf(rec, group))
	if err != nil {
		return
	}
	w.identify(l, rec, group)
	if w.c.opts.OnUnselected != nil {
		w.c.opts.OnUnselected(l)
	}
}

// fingerprint tells a row, or a group of rows, apart from others with the
// same recipients.
func fingerprint(rec *recipients.Record, group []*recipients.Record) uint64 {
	if len(group) < 2 {
		return letter.Fingerprint(rec.Map())
	}
	values := map[string]string{}
	for i, r := range group {
		for k, v := range r.Map() {
			values[fmt.Sprintf("%d\x00%s", i, k)] = v
		}
	}
	return letter.Fingerprint(values)
}

// countEnvelopes counts the rows with each envelope, once, in a
// quiet pass of its own: the walk that follows reports the problems.
func (c *Campaign) countEnvelopes(ctx context.Context) error {
	if c.addrs != nil {
		return nil
	}
	// Sized from the start: a map that grows to a million rows doubles
	// its tables, and this one lives for the whole send.
	lines, _ := recipients.CountLines(c.cfg.Recipients.File)
	counts := newAddrStats(lines)
	quiet := &Campaign{cfg: c.cfg, opts: Options{OnError: func(error) {}, OnWarning: func(error) {}}, files: c.files, addrs: counts}
	_, err := quiet.walk(ctx, (*template.Template).Envelope, func(l *letter.Letter, _ *recipients.Record) error {
		k := hashAddrs(l.Recipients)
		s, _ := counts.Get(k)
		s.envelopes++
		counts.Put(k, s)
		return nil
	}, countPass)
	if err != nil && !errors.Is(err, ErrProblems) {
		return err
	}
	c.files = quiet.files
	c.addrs = counts
	return nil
}

// identity picks the key of a row's letter (docs/journal.md, "A letter's
// identity"). A row whose recipients no other row has is identified by
// them alone, so that fixing a value in it keeps its identity; rows that share
// recipients are told apart by their values (the row's fingerprint), so
// that deleting, inserting or reordering rows changes no other row's
// identity. Where rows changed between runs, a letter recorded before
// under the other form keeps that identity: a row that lost its siblings,
// or gained some with its values unchanged, or was numbered by its order
// among its siblings by a version before fingerprints.
func (c *Campaign) identity(l *letter.Letter, before *earlier) letter.Key {
	camp, rcpts, fp := c.cfg.Campaign, l.Recipients, l.Fingerprint
	env := hashAddrs(rcpts)
	solo := letter.NewKey(camp, rcpts, 0)
	if s, _ := c.addrs.Get(env); s.envelopes <= 1 {
		if _, ok := c.recorded(solo); !ok {
			if k := letter.ContentKey(camp, rcpts, fp, 0); c.isRecorded(k) {
				return k
			}
		}
		return solo
	}
	ord := before.number(env)    // rows before this one with these recipients
	dup := before.alike(env, fp) // rows before this one alike in every value
	content := letter.ContentKey(camp, rcpts, fp, dup)
	if c.isRecorded(content) {
		return content
	}
	if was, ok := c.recorded(solo); ok && dup == 0 && (was == fp || was == 0 && ord == 0) {
		return solo
	}
	if ord > 0 {
		if k := letter.NewKey(camp, rcpts, ord); c.isRecorded(k) {
			if was, _ := c.recorded(k); was == 0 {
				return k
			}
		}
	}
	return content
}

// recorded says whether the journal has records of the letter with key
// k, at any destination, and the fingerprint of its row then
// (Options.Known).
func (c *Campaign) recorded(k letter.Key) (uint64, bool) {
	if c.opts.Known == nil {
		return 0, false
	}
	return c.opts.Known(k)
}

// isRecorded says whether the journal has records of the letter with
// key k.
func (c *Campaign) isRecorded(k letter.Key) bool {
	_, ok := c.recorded(k)
	return ok
}

// earlier remembers what a walk needs to know about the rows before. Per
// 64-bit hash, shared by every walk and filled in by the first: how many
// letters go to an envelope and the first line an address is a To
// recipient on (to warn about repeats). A one-recipient envelope hashes
// like its address, so the usual letter costs one entry (16 bytes) for
// both. The rest counts, for this walk, only rows that share recipients.
type earlier struct {
	addrs  *flatmap.Map[uint64, addrStat]
	again  map[string][]int // repeated addresses, in order
	order  []string
	ords   map[uint64]int    // rows so far by recipients, where rows share recipients
	alikes map[[2]uint64]int // rows so far by recipients and fingerprint, where rows share recipients
}

// addrStat is what the whole list says of one hash of addresses: an
// envelope, or a To address.
type addrStat struct {
	first     int32  // line of the first row with this To address
	envelopes uint32 // letters with this envelope, in the whole CSV
}

// newAddrStats makes the per-envelope map for a list of about n rows: 16
// bytes an entry in a flat array, where a Go map took 36.
func newAddrStats(n int) *flatmap.Map[uint64, addrStat] {
	return flatmap.New[uint64, addrStat](n, func(h uint64) uint64 { return h })
}

// newEarlier starts what a walk remembers, with the list's addrs.
func newEarlier(addrs *flatmap.Map[uint64, addrStat]) *earlier {
	return &earlier{addrs: addrs, again: map[string][]int{}, ords: map[uint64]int{}, alikes: map[[2]uint64]int{}}
}

// alike counts the rows so far with recipients env and fingerprint fp.
func (e *earlier) alike(env, fp uint64) int {
	k := [2]uint64{env, fp}
	n := e.alikes[k]
	e.alikes[k] = n + 1
	return n
}

// hashAddrs hashes a set of addresses, an envelope, whatever their order
// and case; one address hashes as itself.
func hashAddrs(addrs []string) uint64 {
	h := fnv.New64a()
	if len(addrs) == 1 {
		h.Write([]byte(strings.ToLower(addrs[0])))
		return max(h.Sum64(), 1)
	}
	sorted := make([]string, len(addrs))
	for i, a := range addrs {
		sorted[i] = strings.ToLower(a)
	}
	slices.Sort(sorted)
	for _, a := range sorted {
		h.Write([]byte(a))
		h.Write([]byte{0})
	}
	return max(h.Sum64(), 1) // 0 marks an empty entry in a flatmap
}

// number numbers letters with the same envelope env, from 0: their
// order, by which versions before fingerprints told them apart.
func (e *earlier) number(env uint64) int {
	n := e.ords[env]
	e.ords[env] = n + 1
	return n
}

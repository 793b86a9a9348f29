package campaign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/template"
)

// ErrStop can be returned by the function given to Letters to stop early
// without an error.
var ErrStop = errors.New("stop")

// Letters executes the template for every row, in CSV order, gives each
// letter its identity, and calls fn with it and the row it came from. A
// row with a problem is reported to OnError and skipped; the walk goes on
// so that one pass finds every problem. Problems with the template or the
// CSV header are reported and end the walk before any row. The returned
// error is fn's (other than ErrStop), the context's, or ErrProblems when
// something was reported to OnError. Letters are not written out: Build
// does that.
func (c *Campaign) Letters(ctx context.Context, fn func(*letter.Letter, *recipients.Record) error) (Summary, error) {
	if err := c.countEnvelopes(ctx); err != nil {
		return Summary{}, err
	}
	return c.walk(ctx, (*template.Template).ExecuteContext, fn, identifyPass)
}

// Check is Letters for a check: every row checked and its letter filled
// in, with everything reported as Letters does, but without the letters'
// identities (Key, MessageID, Fingerprint), which would take a pass over
// every row first.
func (c *Campaign) Check(ctx context.Context, fn func(*letter.Letter, *recipients.Record) error) (Summary, error) {
	return c.walk(ctx, (*template.Template).ExecuteContext, fn, checkPass)
}

// Envelopes is Letters for what needs only each letter's identity (a
// report): it fills in the envelope headers alone, so that bodies,
// attachments and other headers are neither rendered nor checked.
func (c *Campaign) Envelopes(ctx context.Context, fn func(*letter.Letter, *recipients.Record) error) (Summary, error) {
	if err := c.countEnvelopes(ctx); err != nil {
		return Summary{}, err
	}
	return c.walk(ctx, (*template.Template).Envelope, fn, identifyPass)
}

// A walk counts envelopes (a quiet first pass), checks every row (check:
// all a send checks, but no letter's identity, which only a first pass
// over every row's envelope can give), or does both (a send, a report).
type walkMode int

const (
	countPass walkMode = iota
	checkPass
	identifyPass
)

// walker is one walk over the rows: what it reports through, what it
// opened, and what it found so far.
type walker struct {
	c       *Campaign
	mode    walkMode
	execute func(*template.Template, context.Context, template.Row) (*letter.Letter, error)
	sum     Summary

	rr           *recipients.Reader
	tmpl         *template.Template
	src          rowReader       // the rows, one by one or grouped
	header       []string        // rr's, for locating field columns
	keyColumn    int             // the recipients.key column, or -1
	afterColumn  int             // the recipients.send_after column, or -1
	named        map[string]int  // recipients.key values so far, and their lines
	made         uint64          // letter.Made of every letter of the walk
	earlier      *earlier        // what the rows before this one tell
	templateErrs map[string]bool // template errors reported, by message
}

// walk executes the template for each row with execute and hands each
// letter to fn, in the mode of the walk (walkMode): it is what Letters,
// Check and Envelopes share. Problems are reported as Letters says.
func (c *Campaign) walk(ctx context.Context, execute func(*template.Template, context.Context, template.Row) (*letter.Letter, error), fn func(*letter.Letter, *recipients.Record) error, mode walkMode) (Summary, error) {
	w := &walker{c: c, mode: mode, execute: execute, keyColumn: -1, afterColumn: -1, named: map[string]int{}, templateErrs: map[string]bool{}}
	ok := w.open()
	if w.rr != nil {
		defer w.rr.Close()
	}
	defer func() {
		if w.src != nil {
			w.src.Close()
		}
	}()
	if !ok || !w.prepare(ctx) {
		return w.sum, ErrProblems
	}
	for {
		if err := ctx.Err(); err != nil {
			return w.sum, err
		}
		rec, group, err := w.src.Read()
		if err == io.EOF {
			break
		}
		if err != nil && ctx.Err() != nil {
			return w.sum, ctx.Err() // stopped while grouping the rows
		}
		w.keepSample(rec)
		if rec != nil && !c.selected(rec, group) {
			w.leaveOut(rec, group, err)
			continue
		}
		l := w.letterOf(ctx, rec, group, err)
		if l == nil {
			continue // reported, or the context ended: the loop returns it
		}
		if mode == identifyPass {
			l.Made = w.made
			w.identify(l, rec, group)
		}
		// Only To: a Cc or Bcc the template names gets every letter on purpose.
		w.earlier.addTo(l.To, rec.Line)
		if mode == identifyPass && w.otherShard(l) {
			w.sum.OtherShards++ // checked all the same: a wrong row stops every shard
			continue
		}
		if w.loud() && w.suppress(l) {
			continue
		}
		w.sum.add(l)
		c.notePages(l)
		if err := fn(l, rec); err != nil {
			if errors.Is(err, ErrStop) {
				w.sum.Rows = w.rr.Rows()
				return w.sum, nil
			}
			return w.sum, err
		}
	}
	return w.finish()
}

// loud says whether the walk reports what it finds: all but a counting
// pass, which the walk that follows it repeats.
func (w *walker) loud() bool { return w.mode != countPass }

// open opens the recipient list and parses the template, reporting each
// failure, and reports whether both opened. The CSV and the template are
// both opened before either failure ends the walk, so a user fixing paths
// sees every broken one at once.
func (w *walker) open() bool {
	c := w.c
	rr, csvErr := c.openList(w.warn)
	if csvErr != nil {
		w.reportAll(c.fromSetting("recipients.file", csvErr)) // located already, or an os error naming the file
	} else {
		w.rr = rr
		w.sum.Encoding, w.sum.EncodingGuessed = rr.Encoding()
		w.sum.EncodingWeak = rr.WeakGuess()
		w.sum.Delimiter = rr.Delimiter()
		w.sum.Sheet = rr.Sheet()
	}

	addrs := c.addrs
	if addrs == nil { // a check: no counting pass before it
		lines, _ := recipients.CountLines(c.cfg.Recipients.File)
		addrs = newAddrStats(lines)
	}
	w.earlier = newEarlier(addrs)
	err := c.openFiles()
	if err != nil {
		w.reportAll(c.cfg.KeyErr("attachments_dir", err))
	} else if w.tmpl, err = template.ParseFile(c.cfg.Template, template.Options{Files: c.files, ListUnsubscribe: template.ListUnsubscribe{
		URL: c.cfg.ListUnsubscribe.HTTPS, Mailto: c.cfg.ListUnsubscribe.Mailto,
		Where: c.cfg.Source("list_unsubscribe.https") + ": list_unsubscribe.https",
	}, MaxLetterSize: int64(c.cfg.Send.MaxLetterSize), MaxLetterKey: c.cfg.Source("send.max_letter_size") + ": send.max_letter_size",
		RenderTimeout: c.cfg.Send.RenderTimeout}); err != nil {
		w.reportAll(c.fromSetting("template", err))
	}
	return csvErr == nil && err == nil
}

// prepare readies the walk of an open list and template, in order: it
// loads the suppression list, checks the template's fields against the
// list's columns, groups the rows (recipients.group_by), binds the
// selection and finds the recipients.key column. The first of them to
// fail is reported and ends the walk: prepare reports whether none did.
func (w *walker) prepare(ctx context.Context) bool {
	c := w.c
	w.header = w.rr.Header()
	if err := c.loadSuppress(); err != nil {
		w.reportAll(c.fromSetting("recipients.suppress", err))
		return false
	}
	fields := w.header
	if c.cfg.Recipients.GroupBy != "" {
		fields = append(slices.Clone(fields), template.RowsField)
	}
	if err := w.tmpl.CheckFields(fields); err != nil {
		w.reportAll(err)
		return false
	}
	if !w.group(ctx) {
		return false
	}
	if err := c.opts.Select.Bind(filepath.Base(c.cfg.Recipients.File), w.header); err != nil {
		w.reportAll(err)
		return false
	}
	if k := c.cfg.Recipients.Key; k != "" {
		if w.keyColumn = slices.Index(w.header, k); w.keyColumn < 0 {
			w.report(c.cfg.KeyErr("recipients.key", fmt.Errorf("%s has no column %q", filepath.Base(c.cfg.Recipients.File), k)))
			return false
		}
	}
	if k := c.cfg.Recipients.SendAfter; k != "" {
		if w.afterColumn = slices.Index(w.header, k); w.afterColumn < 0 {
			w.report(c.cfg.KeyErr("recipients.send_after", fmt.Errorf("%s has no column %q", filepath.Base(c.cfg.Recipients.File), k)))
			return false
		}
	}
	w.made = c.made(w.tmpl.Sum())
	return true
}

// keepSample keeps the first row read, for Summary.Sample, when the
// list's encoding was guessed.
func (w *walker) keepSample(rec *recipients.Record) {
	if rec != nil && w.sum.EncodingGuessed && w.sum.Sample == "" {
		w.sum.Sample = sample(rec.Fields)
	}
}

// leaveOut counts a row, or a group, that Options.Select leaves out. Its
// recipients.key name is taken all the same, and in a walk that
// identifies letters its letter is identified (identifyUnselected); err
// is the row's problem, if it has one, which is not reported.
func (w *walker) leaveOut(rec *recipients.Record, group []*recipients.Record, err error) {
	w.sum.Unselected += max(1, len(group))
	if err == nil && w.keyColumn >= 0 {
		w.c.checkName(rec, w.keyColumn, w.named) // its name is taken, chosen or not
	}
	if w.mode == identifyPass && err == nil {
		w.identifyUnselected(rec, group)
	}
}

// letterOf makes the letter of a chosen row, or group of rows, whose
// reading failed with err if not nil. It returns nil when the row makes
// no letter: its problem reported and the row counted invalid, or the
// context ended (stopped inside a letter: no problem of its row).
func (w *walker) letterOf(ctx context.Context, rec *recipients.Record, group []*recipients.Record, err error) *letter.Letter {
	c := w.c
	if err != nil {
		w.report(err)
		if rec != nil { // a row read, but not usable
			c.invalid(rec, err, &w.sum)
		}
		return nil
	}
	if err := c.agree(ctx, w.tmpl, rec, group, w.header); err != nil {
		if ctx.Err() == nil {
			w.report(err)
			c.invalid(rec, err, &w.sum)
		}
		return nil
	}
	l, err := w.execute(w.tmpl, ctx, rowOf(rec, group))
	if err != nil && ctx.Err() != nil {
		return nil
	}
	if err == nil && w.keyColumn >= 0 {
		err = c.checkName(rec, w.keyColumn, w.named)
	}
	if err == nil && w.afterColumn >= 0 {
		l.SendAfter, err = c.sendAfter(rec, group, w.afterColumn)
	}
	if err != nil {
		w.reject(rec, err)
		return nil
	}
	for _, warning := range l.Warnings {
		var ve *template.ValueError
		if errors.As(warning, &ve) {
			w.warn(c.locate(rec, w.header, ve))
		}
	}
	return l
}

// finish ends a walk that read every row: it warns of the addresses in
// more than one row, and returns ErrProblems when problems were
// reported.
func (w *walker) finish() (Summary, error) {
	w.sum.Rows = w.rr.Rows()
	if w.loud() { // a counting pass leaves it to the walk that follows
		w.warnDuplicates()
	}
	if w.sum.Errors > 0 {
		return w.sum, ErrProblems
	}
	return w.sum, nil
}

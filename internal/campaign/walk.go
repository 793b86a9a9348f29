package campaign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/mailmerge/mailmerge/internal/attachment"
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

// countEnvelopes counts the rows with each set of recipients, once, in a
// quiet pass of its own: the walk that follows reports the problems.
func (c *Campaign) countEnvelopes(ctx context.Context) error {
	if c.envelopes != nil {
		return nil
	}
	// Sized from the start: a map that grows to a million rows doubles
	// its tables, and this one lives for the whole send.
	lines, _ := recipients.CountLines(c.cfg.Recipients.File)
	counts := newSeen(lines)
	quiet := &Campaign{cfg: c.cfg, opts: Options{OnError: func(error) {}, OnWarning: func(error) {}}, files: c.files, envelopes: counts}
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
	c.envelopes = counts
	return nil
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

func (c *Campaign) walk(ctx context.Context, execute func(*template.Template, context.Context, template.Row) (*letter.Letter, error), fn func(*letter.Letter, *recipients.Record) error, mode walkMode) (Summary, error) {
	identify, loud := mode == identifyPass, mode != countPass
	var sum Summary
	report := func(err error) {
		sum.Errors++
		c.opts.OnError(err)
	}
	warn := func(err error) {
		sum.Warnings++
		c.opts.OnWarning(err)
	}
	reportAll := func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				report(e)
			}
			return
		}
		report(err)
	}

	// The CSV and the template are both opened before either failure ends
	// the walk, so a user fixing paths sees every broken one at once.
	rr, csvErr := recipients.Open(c.cfg.Recipients.File, recipients.Options{Encoding: c.cfg.Recipients.Encoding, Delimiter: rune(c.cfg.Recipients.Delimiter), Warn: warn})
	if csvErr != nil {
		reportAll(c.fromKey("recipients.file", csvErr)) // located already, or an os error naming the file
	} else {
		defer rr.Close()
		sum.Encoding, sum.EncodingGuessed = rr.Encoding()
		sum.EncodingWeak = rr.WeakGuess()
		sum.Delimiter = rr.Delimiter()
	}

	envelopes := c.envelopes
	if envelopes == nil { // a check: no counting pass before it
		lines, _ := recipients.CountLines(c.cfg.Recipients.File)
		envelopes = newSeen(lines)
	}
	seenRows := newRows(envelopes)
	var tmpl *template.Template
	err := c.openFiles()
	if err != nil {
		reportAll(c.cfg.KeyErr("attachments_dir", err))
	} else if tmpl, err = template.ParseFile(c.cfg.Template, template.Options{Files: c.files, ListUnsubscribe: template.ListUnsubscribe{
		URL: c.cfg.ListUnsubscribe.HTTPS, Mailto: c.cfg.ListUnsubscribe.Mailto,
		Where: c.cfg.Source("list_unsubscribe.https") + ": list_unsubscribe.https",
	}, MaxLetterSize: int64(c.cfg.Send.MaxLetterSize), MaxLetterKey: c.cfg.Source("send.max_letter_size") + ": send.max_letter_size",
		RenderTimeout: c.cfg.Send.RenderTimeout}); err != nil {
		reportAll(c.fromKey("template", err))
	}
	if csvErr != nil || err != nil {
		return sum, ErrProblems
	}
	if err := c.loadSuppress(); err != nil {
		reportAll(c.fromKey("recipients.suppress", err))
		return sum, ErrProblems
	}
	fields := rr.Header()
	if c.cfg.Recipients.GroupBy != "" {
		fields = append(slices.Clone(fields), template.RowsField)
	}
	if err := tmpl.CheckFields(fields); err != nil {
		reportAll(err)
		return sum, ErrProblems
	}
	src, err := c.rowSource(rr)
	if err != nil {
		reportAll(c.cfg.KeyErr("recipients.group_by", err))
		return sum, ErrProblems
	}
	if c.cfg.Recipients.GroupBy != "" && !tmpl.Uses(template.RowsField) && loud {
		warn(c.cfg.KeyErr("recipients.group_by", fmt.Errorf("%s does not use {{range .Rows}}: each letter shows only the first row of its group", filepath.Base(c.cfg.Template))))
	}
	if err := c.opts.Select.Bind(filepath.Base(c.cfg.Recipients.File), rr.Header()); err != nil {
		reportAll(err)
		return sum, ErrProblems
	}
	keyColumn := -1
	if k := c.cfg.Recipients.Key; k != "" {
		if keyColumn = slices.Index(rr.Header(), k); keyColumn < 0 {
			report(c.cfg.KeyErr("recipients.key", fmt.Errorf("%s has no column %q", filepath.Base(c.cfg.Recipients.File), k)))
			return sum, ErrProblems
		}
	}
	named := map[string]int{} // recipients.key values so far, and their lines
	made := c.made(tmpl.Sum())

	file := rr.Header() // for locating field columns
	seenTemplateErr := map[string]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		rec, group, err := src.Read()
		if err == io.EOF {
			break
		}
		if rec != nil && sum.EncodingGuessed && sum.Sample == "" {
			sum.Sample = sample(rec.Fields)
		}
		if rec != nil && !c.selected(rec, group) {
			sum.Unselected += max(1, len(group))
			if err == nil && keyColumn >= 0 {
				c.checkName(rec, keyColumn, named) // its name is taken, chosen or not
			}
			if identify && err == nil {
				c.identifyUnselected(tmpl, rec, group, seenRows, keyColumn)
			}
			continue
		}
		if err != nil {
			report(err)
			if rec != nil { // a row read, but not usable
				c.invalid(rec, err, &sum)
			}
			continue
		}
		if err := c.agree(ctx, tmpl, rec, group, file); err != nil {
			if ctx.Err() != nil {
				return sum, ctx.Err()
			}
			report(err)
			c.invalid(rec, err, &sum)
			continue
		}
		l, err := execute(tmpl, ctx, rowOf(rec, group))
		if err != nil && ctx.Err() != nil {
			return sum, ctx.Err() // stopped inside a letter: no problem of its row
		}
		if err == nil && keyColumn >= 0 {
			err = c.checkName(rec, keyColumn, named)
		}
		if err != nil {
			var ve *template.ValueError
			if errors.As(err, &ve) {
				err = c.locate(rec, file, ve)
				report(err)
			} else if msg := err.Error(); !seenTemplateErr[msg] {
				// A template error repeats on every row; say it once.
				seenTemplateErr[msg] = true
				report(err)
			} else {
				sum.Errors++
			}
			c.invalid(rec, err, &sum)
			continue
		}
		for _, w := range l.Warnings {
			var ve *template.ValueError
			if errors.As(w, &ve) {
				warn(c.locate(rec, file, ve))
			}
		}
		if identify {
			l.Fingerprint, l.Made = fingerprint(rec, group), made
			if keyColumn >= 0 {
				l.Identify(letter.NamedKey(c.cfg.Campaign, rec.Fields[keyColumn]))
			} else {
				l.Identify(c.identity(l, seenRows))
			}
			l.Tag(c.opts.Secret)
		}
		// Only To: a Cc or Bcc the template names gets every letter on purpose.
		for _, r := range l.To {
			seenRows.addTo(r, rec.Line)
		}
		if loud && c.suppressed(l, &sum) {
			if c.opts.OnSuppressed != nil {
				c.opts.OnSuppressed(l)
			}
			continue
		}
		sum.Letters++
		sum.Recipients += len(l.Recipients) - len(l.Suppressed)
		for _, a := range l.Attachments {
			sum.Attachments++
			sum.AttachmentBytes += a.Size
		}
		if err := fn(l, rec); err != nil {
			if errors.Is(err, ErrStop) {
				sum.Rows = rr.Rows()
				return sum, nil
			}
			return sum, err
		}
	}
	sum.Rows = rr.Rows()
	for _, d := range seenRows.duplicates() {
		if !loud {
			break // a counting pass: the walk that follows warns
		}
		warn(&recipients.Error{File: filepath.Base(c.cfg.Recipients.File), Line: d.lines[0], Err: fmt.Errorf("address %s is in %d rows (lines %s): each row gets its own letter; recipients.group_by with its column makes one letter of them", d.addr, len(d.lines), joinInts(d.lines))})
	}
	if sum.Errors > 0 {
		return sum, ErrProblems
	}
	return sum, nil
}

// openFiles makes the attachment store on the first walk.
func (c *Campaign) openFiles() error {
	if c.files != nil {
		return nil
	}
	files, err := attachment.NewStore(c.cfg.AttachmentsDir, c.cfg.AttachmentsAllowOutside)
	if err != nil {
		return err
	}
	c.files = files
	return nil
}

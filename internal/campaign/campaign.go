// Package campaign joins a config, a recipient list and a letter template
// into the stream of letters a mailing consists of, one per CSV row, with
// every problem located in the file a user has to fix. It gives each
// letter its identity, plans a send against the journal, and writes
// letters out with the attachments of the run read once.
package campaign

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/attachment"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/flatmap"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/message"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/selection"
	"github.com/mailmerge/mailmerge/internal/template"
)

// Options are for tests and for the command: how problems are reported and
// what makes letters reproducible.
type Options struct {
	// OnError receives every problem that stops a letter (or, for the
	// recipients header and the template, all of them); OnWarning every
	// problem that does not. Both are located errors.
	OnError, OnWarning func(error)
	Now                func() time.Time
	Boundary           func() string
	// Secret is the campaign's key for the tags of its Message-IDs
	// (letter.Tag; journal.Secret); none leaves them untagged.
	Secret []byte
	// Copies are the journals of mailings of this campaign's name sent
	// from other folders of this machine (journal.Register): Plan counts
	// the rows each sent, as it does for the other journals of its folder.
	Copies []string
	// Known says whether a letter with a key was recorded before, and the
	// fingerprint of its row then (journal.Journal.Known): a letter keeps
	// the identity it was recorded under when rows around it changed.
	// Without it, each letter takes the identity a new one would.
	Known func(letter.Key) (fp uint64, ok bool)
	// OnInvalid, if set, receives each row that makes no letter, with its
	// fingerprint and the problem (reported to OnError as well).
	OnInvalid func(rec *recipients.Record, fp uint64, err error)
	// Select chooses the rows to make letters of (nil: all). The others
	// are neither checked nor made, but still count for the identities of
	// the chosen ones; OnUnselected, if set, receives their envelopes,
	// identified, when they have one.
	Select       *selection.Selection
	OnUnselected func(*letter.Letter)
	// OnSuppressed, if set, receives each letter none of whose row's
	// recipients may be mailed (recipients.suppress): it is not made.
	OnSuppressed func(*letter.Letter)
}

// Campaign is a mailing ready to be rendered.
type Campaign struct {
	cfg  *config.Config
	opts Options
	// files is shared by every walk, so a send's check and its sending
	// look each attachment up once, and read a shared one once.
	files *attachment.Store
	// envelopes holds, by hashAddrs, the rows with each set of recipients
	// and the first line of each To address: found once, by a first pass,
	// since a letter's identity depends on whether other rows share its
	// recipients. Every later walk shares it.
	envelopes *flatmap.Map[uint64, seen]
	// suppress holds the addresses never to mail, with their lines in
	// recipients.suppress; loaded by the first walk.
	suppress map[string]int
}

// Summary counts what a pass over the recipients found.
type Summary struct {
	Rows            int // data rows, good or bad
	Letters         int // rendered
	Recipients      int // envelope recipients of the rendered letters
	Attachments     int
	AttachmentBytes int64
	Errors          int
	Invalid         int // rows that made no letter: each is one of Errors
	Unselected      int // rows left out by Options.Select
	// Suppressed counts the letters left with none of their row's
	// recipients by recipients.suppress, not made; SuppressedRcpts the
	// recipients left out of any letter, on the lines SuppressedLines.
	Suppressed      int
	SuppressedRcpts int
	SuppressedLines []int
	Warnings        int
	Encoding        recipients.Encoding
	EncodingGuessed bool
	// EncodingWeak says the guess was close between Windows-1251 and
	// KOI8-R; Sample is the first row as read, to show when it was guessed.
	EncodingWeak bool
	Sample       string
	Delimiter    rune
}

// sample is the start of a row as read, for people to see whether a
// guessed encoding made sense of it.
func sample(fields []string) string {
	s := []rune(strings.Join(fields[:min(len(fields), 4)], ", "))
	if len(s) > 80 {
		return string(s[:80]) + "…"
	}
	return string(s)
}

// ErrStop can be returned by the function given to Letters to stop early
// without an error.
var ErrStop = errors.New("stop")

// New returns a campaign for a resolved, valid config.
func New(cfg *config.Config, opts Options) *Campaign {
	if opts.OnError == nil {
		opts.OnError = func(error) {}
	}
	if opts.OnWarning == nil {
		opts.OnWarning = func(error) {}
	}
	return &Campaign{cfg: cfg, opts: opts}
}

// Build writes l as it goes on the wire, reading its attachments through
// the campaign's store.
func (c *Campaign) Build(l *letter.Letter) ([]byte, error) {
	return message.Build(l, message.Options{Now: c.opts.Now, Boundary: c.opts.Boundary})
}

// BuildAt writes l out as Build does, dated date: a copy of a letter sent
// then.
func (c *Campaign) BuildAt(l *letter.Letter, date time.Time) ([]byte, error) {
	return message.Build(l, message.Options{Now: func() time.Time { return date }, Boundary: c.opts.Boundary})
}

// Plan is what a send would do with the letters, found before it starts.
type Plan struct {
	Summary
	ToSend int // letters due (Target.due)
	Known  int // letters the journal has records of for this destination
	// Seen is how many letters the journal has records of for any
	// destination; Recorded how many letters and destinations it has
	// records of in all, this mailing's or not.
	Seen, Recorded int
	// Elsewhere counts, by destination, the letters delivered there but
	// not to this run's destination.
	Elsewhere map[string]int
	// Renamed says the journal has records of letters, none of them this
	// mailing's, but of rows like this mailing's: the campaign was
	// renamed, and every letter will go out again. (With a journal older
	// than fingerprints, records of other letters alone say it.)
	Renamed bool
	// Before is set when this mailing's journal is new: by the other
	// journals in its folder (by file name) and those of its copies in
	// other folders (Options.Copies, by whole path), how many of this
	// mailing's rows each has records of letters for (the mark of a
	// campaign renamed, of a config copied that names none, or of a
	// folder copied). Unsure lists those too old to tell.
	Before map[string]int
	Unsure []string
	// Regrouped lists the lines of grouped letters (recipients.group_by)
	// settled before with other rows than they have now: their new rows
	// are not sent.
	Regrouped []int
}

// Target is where a send goes and what it heeds: what Plan and Settled
// ask the journal about.
type Target struct {
	// Dest is the journal's name for the destination
	// (sender.Transport.Destination).
	Dest string
	// ResendUnknown makes letters whose outcome is unknown due again.
	ResendUnknown bool
	// Test is a test send (send --redirect-to): every letter is due, to
	// every recipient, whatever the journal says, and nothing is settled.
	Test bool
}

// due says what a send to t does with l: the journal's entry for it at
// t.Dest and the recipients still due (journal.Journal.Due), none when
// the letter is settled. A test send sends every letter, afresh. It
// answers as sender.Pool.Lookup does for a pool with the same target.
func (t Target) due(j *journal.Journal, l *letter.Letter) (journal.Entry, []string) {
	if t.Test {
		return journal.Entry{}, l.Recipients
	}
	return j.Due(l, t.Dest, t.ResendUnknown)
}

// Plan checks every letter as Letters does, without writing any out, and
// asks the journal j what a send to t would do with each. It also tells
// the attachment store how many letters to send attach each file, so
// that a send reads a file that many letters share once.
func (c *Campaign) Plan(ctx context.Context, j *journal.Journal, t Target) (Plan, error) {
	p := Plan{Elsewhere: map[string]int{}, Before: map[string]int{}}
	sameRows, oldJournal := false, false
	others := map[string]journal.Rows{}
	if j.Letters() == 0 {
		others, p.Unsure = c.otherJournals(t.Dest)
	}
	// Copies in other folders, on every send: a folder copied after some
	// letters went out has a journal of its own that is not empty.
	c.copiesSent(t.Dest, others)
	sum, err := c.Letters(ctx, func(l *letter.Letter, _ *recipients.Record) error {
		has, ok := j.HasRow(l.Fingerprint)
		if has || !ok {
			sameRows, oldJournal = sameRows || has, !ok
		}
		for name, rows := range others {
			if !has && rows.Has(l.Fingerprint) { // rows this journal sent are its own
				p.Before[name]++
			}
		}
		e, due := t.due(j, l)
		if e.Known {
			p.Known++
		}
		if c.cfg.Recipients.GroupBy != "" && len(due) == 0 {
			if fp, ok := j.Known(l.Key); ok && fp != 0 && fp != l.Fingerprint {
				p.Regrouped = append(p.Regrouped, l.Line)
			}
		}
		if e.Seen {
			p.Seen++
		}
		if e.Elsewhere != "" {
			p.Elsewhere[e.Elsewhere]++
		}
		if len(due) == 0 {
			return nil
		}
		p.ToSend++
		for _, a := range l.Attachments {
			c.files.Expect(a.File)
		}
		return nil
	})
	p.Summary = sum
	p.Recorded = j.Letters()
	p.Renamed = p.Recorded > 0 && p.Seen == 0 && (sameRows || oldJournal)
	return p, err
}

// otherJournals reads the other journals in the folder of this mailing's:
// the rows each has records of letters to dest for, by file name, and the
// names of those too old to tell. (Letters tried out into a Maildir do
// not make a send to a server look like a mailing sent twice.)
func (c *Campaign) otherJournals(dest string) (rows map[string]journal.Rows, unsure []string) {
	rows = map[string]journal.Rows{}
	for _, name := range journal.Others(c.cfg.Send.Journal) {
		r, ok, err := journal.SentRows(filepath.Join(filepath.Dir(c.cfg.Send.Journal), name), dest)
		switch {
		case err != nil || !ok:
			unsure = append(unsure, name)
		case r.Len() > 0:
			rows[name] = r
		}
	}
	return rows, unsure
}

// copiesSent adds to rows, by whole path, the rows the journals of this
// campaign's copies in other folders (Options.Copies) sent to dest.
func (c *Campaign) copiesSent(dest string, rows map[string]journal.Rows) {
	here, _ := filepath.Abs(filepath.Dir(c.cfg.Send.Journal))
	for _, path := range c.opts.Copies {
		if filepath.Dir(path) == here {
			continue // this folder's other journals: otherJournals, by name
		}
		if r, ok, err := journal.SentRows(path, dest); err == nil && ok && r.Len() > 0 {
			rows[path] = r
		}
	}
}

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

// loadSuppress reads recipients.suppress, once.
func (c *Campaign) loadSuppress() error {
	if c.suppress != nil || c.cfg.Recipients.Suppress == "" {
		return nil
	}
	list, err := recipients.ReadList(c.cfg.Recipients.Suppress, recipients.Options{Encoding: c.cfg.Recipients.Encoding})
	if err != nil {
		return err
	}
	c.suppress = list
	return nil
}

// suppressed marks the recipients of l never to mail, counts them, and
// reports whether none of its row's own recipients is left to mail: then
// the letter is not made (an instructor's copy alone is no letter).
func (c *Campaign) suppressed(l *letter.Letter, sum *Summary) bool {
	if len(c.suppress) == 0 {
		return false
	}
	own, ownLeft := 0, 0
	for i, r := range l.Recipients {
		isOwn := i < len(l.Sources) && l.Sources[i] != ""
		if isOwn {
			own++
		}
		if _, ok := c.suppress[strings.ToLower(r)]; ok {
			l.Suppressed = append(l.Suppressed, strings.ToLower(r))
		} else if isOwn {
			ownLeft++
		}
	}
	if len(l.Suppressed) == 0 {
		return false
	}
	sum.SuppressedRcpts += len(l.Suppressed)
	sum.SuppressedLines = append(sum.SuppressedLines, l.Line)
	if own > 0 && ownLeft == 0 || len(l.Suppressed) == len(l.Recipients) {
		sum.Suppressed++
		return true
	}
	return false
}

// ErrProblems says that problems were reported through OnError.
var ErrProblems = errors.New("problems found")

// locate places a row's value error at its CSV line and column.
func (c *Campaign) locate(rec *recipients.Record, header []string, ve *template.ValueError) error {
	line, col := rec.Line, 0
	if i := slices.Index(header, ve.Field); i >= 0 {
		line, col = rec.Column(i)
	}
	return &recipients.Error{File: filepath.Base(c.cfg.Recipients.File), Line: line, Column: col, Err: ve}
}

// fromKey names the config key behind a file that cannot be opened: the
// fix is in the config, not in the file.
func (c *Campaign) fromKey(key string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "open" {
		return c.cfg.KeyErr(key, err)
	}
	return err
}

// checkName checks the value of the recipients.key column of a row: there,
// and not the name of another row.
func (c *Campaign) checkName(rec *recipients.Record, column int, named map[string]int) error {
	name := strings.TrimSpace(rec.Fields[column])
	line, col := rec.Column(column)
	at := func(err error) error {
		return &recipients.Error{File: filepath.Base(c.cfg.Recipients.File), Line: line, Column: col, Err: err}
	}
	if name == "" {
		return at(fmt.Errorf("field %q is empty; recipients.key names it as what identifies each row", rec.Header()[column]))
	}
	if first, ok := named[name]; ok {
		return at(fmt.Errorf("field %q holds %q, as line %d does; recipients.key names it as what identifies each row", rec.Header()[column], name, first))
	}
	named[name] = rec.Line
	return nil
}

// invalid counts a row that made no letter, and hands it on.
func (c *Campaign) invalid(rec *recipients.Record, err error, sum *Summary) {
	sum.Invalid++
	if c.opts.OnInvalid != nil {
		c.opts.OnInvalid(rec, letter.Fingerprint(rec.Map()), err)
	}
}

// Skippable reports problems that are all rows making no letter: a send
// may leave them out (send --skip-invalid); the template, the CSV header
// and a file that cannot be read to its end are not.
func (s Summary) Skippable() bool { return s.Invalid > 0 && s.Errors == s.Invalid }

// identifyUnselected gives a row left out by Options.Select its letter's
// identity as if it were chosen, so that the identities of the rows after
// it do not depend on what was chosen.
func (c *Campaign) identifyUnselected(tmpl *template.Template, rec *recipients.Record, group []*recipients.Record, seenRows *rows, keyColumn int) {
	l, err := tmpl.Envelope(context.Background(), rowOf(rec, group))
	if err != nil {
		return
	}
	l.Fingerprint = fingerprint(rec, group)
	if keyColumn >= 0 {
		l.Identify(letter.NamedKey(c.cfg.Campaign, rec.Fields[keyColumn]))
	} else {
		l.Identify(c.identity(l, seenRows))
	}
	l.Tag(c.opts.Secret)
	if c.opts.OnUnselected != nil {
		c.opts.OnUnselected(l)
	}
}

// rowSource hands out the rows of rr one by one, or in the groups
// recipients.group_by makes.
func (c *Campaign) rowSource(rr *recipients.Reader) (interface {
	Read() (*recipients.Record, []*recipients.Record, error)
}, error) {
	if c.cfg.Recipients.GroupBy == "" {
		return singleRows{rr}, nil
	}
	return recipients.GroupBy(rr, c.cfg.Recipients.GroupBy)
}

type singleRows struct{ r *recipients.Reader }

func (s singleRows) Read() (*recipients.Record, []*recipients.Record, error) {
	rec, err := s.r.Read()
	return rec, nil, err
}

// agree checks that the rows of a group agree on who gets the letter and
// who answers it. A group's letter goes to the recipients of its first
// row with every row's data: a row that names someone else would have its
// data sent to the first row's person, and nothing to its own. Rows that
// disagree are a problem of the group, named with their lines and what
// each names; the group makes no letter.
func (c *Campaign) agree(ctx context.Context, tmpl *template.Template, rec *recipients.Record, group []*recipients.Record, header []string) error {
	if len(group) < 2 {
		return nil
	}
	first, err := tmpl.Addressees(ctx, rowOf(rec, nil))
	if err != nil {
		return nil // the group's letter fails on it, and says so
	}
	var lines []int
	var names []string
	for _, r := range group[1:] {
		got, err := tmpl.Addressees(ctx, rowOf(r, nil))
		if err != nil {
			var ve *template.ValueError
			if errors.As(err, &ve) {
				return c.locate(r, header, ve)
			}
			return err
		}
		if !slices.Equal(first, got) {
			lines = append(lines, r.Line)
			names = append(names, fmt.Sprintf("line %d: %s", r.Line, strings.Join(got, ", ")))
		}
	}
	if lines == nil {
		return nil
	}
	col := slices.Index(header, c.cfg.Recipients.GroupBy)
	return &recipients.Error{File: filepath.Base(c.cfg.Recipients.File), Line: rec.Line, Err: fmt.Errorf(
		"the rows of one group are for different people (recipients.group_by: %s %q): line %d: %s; %s. "+
			"Their letter would carry the rows of %s %s to someone else, so the group makes no letter: group by a column that names one person (such as the address), or make the rows agree",
		c.cfg.Recipients.GroupBy, rec.Fields[col], rec.Line, strings.Join(first, ", "), strings.Join(names, "; "),
		map[bool]string{true: "line", false: "lines"}[len(lines) == 1], joinInts(lines))}
}

// rowOf is what the template executes for a row, or for a group of rows:
// its first row's values, and all its rows.
func rowOf(rec *recipients.Record, group []*recipients.Record) template.Row {
	row := template.Row{Line: rec.Line, Values: rec.Map()}
	if group != nil {
		row.Group = make([]map[string]string, len(group))
		for i, r := range group {
			row.Group[i] = r.Map()
		}
	}
	return row
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

// selected reports whether Options.Select chooses a row, or a group with
// any of its rows.
func (c *Campaign) selected(rec *recipients.Record, group []*recipients.Record) bool {
	if group == nil {
		return c.opts.Select.Match(rec)
	}
	return slices.ContainsFunc(group, c.opts.Select.Match)
}

// identity picks the key of a row's letter (docs/journal.md, "A letter's
// identity"). A row whose recipients no other row has is known by them
// alone, so that fixing a value in it keeps its identity; rows that share
// recipients are told apart by their values (the row's fingerprint), so
// that deleting, inserting or reordering rows changes no other row's
// identity. Where rows changed between runs, a letter recorded before
// under the other form keeps that identity: a row that lost its siblings,
// or gained some with its values unchanged, or was numbered by its order
// among its siblings by a version before fingerprints.
func (c *Campaign) identity(l *letter.Letter, seenRows *rows) letter.Key {
	camp, rcpts, fp := c.cfg.Campaign, l.Recipients, l.Fingerprint
	env := hashAddrs(rcpts)
	solo := letter.NewKey(camp, rcpts, 0)
	if s, _ := c.envelopes.Get(env); s.envelopes <= 1 {
		if _, ok := c.known(solo); !ok {
			if k := letter.ContentKey(camp, rcpts, fp, 0); c.isKnown(k) {
				return k
			}
		}
		return solo
	}
	ord := seenRows.number(env)    // rows before this one with these recipients
	dup := seenRows.alike(env, fp) // rows before this one alike in every value
	content := letter.ContentKey(camp, rcpts, fp, dup)
	if c.isKnown(content) {
		return content
	}
	if was, ok := c.known(solo); ok && dup == 0 && (was == fp || was == 0 && ord == 0) {
		return solo
	}
	if ord > 0 {
		if k := letter.NewKey(camp, rcpts, ord); c.isKnown(k) {
			if was, _ := c.known(k); was == 0 {
				return k
			}
		}
	}
	return content
}

func (c *Campaign) known(k letter.Key) (uint64, bool) {
	if c.opts.Known == nil {
		return 0, false
	}
	return c.opts.Known(k)
}

func (c *Campaign) isKnown(k letter.Key) bool {
	_, ok := c.known(k)
	return ok
}

// rows remembers what a walk needs to know about the rows before. Per
// 64-bit hash, shared by every walk and filled in by the first: how many
// letters go to an envelope and the first line an address is a To
// recipient on (to warn about repeats). A one-recipient envelope hashes
// like its address, so the usual letter costs one entry (16 bytes) for
// both. The rest counts, for this walk, only rows that share recipients.
type rows struct {
	seen   *flatmap.Map[uint64, seen]
	again  map[string][]int // repeated addresses, in order
	order  []string
	ords   map[uint64]int    // rows so far by recipients, where rows share recipients
	alikes map[[2]uint64]int // rows so far by recipients and fingerprint, where rows share recipients
}

type seen struct {
	first     int32  // line of the first row with this To address
	envelopes uint32 // letters with this envelope, in the whole CSV
}

type duplicate struct {
	addr  string
	lines []int
}

// newSeen makes the per-envelope map for a list of about n rows: 16
// bytes an entry in a flat array, where a Go map took 36.
func newSeen(n int) *flatmap.Map[uint64, seen] {
	return flatmap.New[uint64, seen](n, func(h uint64) uint64 { return h })
}

func newRows(seen *flatmap.Map[uint64, seen]) *rows {
	return &rows{seen: seen, again: map[string][]int{}, ords: map[uint64]int{}, alikes: map[[2]uint64]int{}}
}

// alike counts the rows so far with recipients env and fingerprint fp.
func (r *rows) alike(env, fp uint64) int {
	k := [2]uint64{env, fp}
	n := r.alikes[k]
	r.alikes[k] = n + 1
	return n
}

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
func (r *rows) number(env uint64) int {
	n := r.ords[env]
	r.ords[env] = n + 1
	return n
}

// addTo notes that addr is a To recipient on line.
func (r *rows) addTo(addr string, line int) {
	addr = strings.ToLower(addr)
	k := hashAddrs([]string{addr})
	s, _ := r.seen.Get(k)
	switch first := int(s.first); {
	case first == 0:
		s.first = int32(line)
		r.seen.Put(k, s)
	case first == line:
	default:
		lines, ok := r.again[addr]
		if !ok {
			lines = []int{first}
			r.order = append(r.order, addr)
		}
		if lines[len(lines)-1] != line {
			lines = append(lines, line)
		}
		r.again[addr] = lines
	}
}

func (r *rows) duplicates() []duplicate {
	out := make([]duplicate, 0, len(r.order))
	for _, a := range r.order {
		out = append(out, duplicate{a, r.again[a]})
	}
	return out
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

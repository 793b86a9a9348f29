package campaign

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mailmerge/mailmerge/internal/attachment"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/flatmap"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/message"
	"github.com/mailmerge/mailmerge/internal/pdf"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/selection"
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
	// Secret is the campaign's secret for the tags of its Message-IDs
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
	// Shard is the part of a split mailing to make letters of (send
	// --shard): the walks that identify letters (Letters, Envelopes)
	// check every row, but hand on only the letters of this shard, and
	// count the others in Summary.OtherShards. The zero Shard is all.
	Shard Shard
	// Printer prints the pages letters attach as PDF (Attachment: ...;
	// render=pdf) as Build writes them out; nil: a letter with a page
	// cannot be written out.
	Printer *pdf.Printer
}

// Campaign is a mailing ready to be rendered.
type Campaign struct {
	cfg  *config.Config
	opts Options
	// files is shared by every walk, so a send's check and its sending
	// look each attachment up once, and read a shared one once.
	files *attachment.Store
	// addrs holds, by hashAddrs, the rows with each envelope and the
	// first line of each To address: found once, by a first pass, since a
	// letter's identity depends on whether other rows share its envelope.
	// Every later walk shares it.
	addrs *flatmap.Map[uint64, addrStat]
	// suppressList holds the addresses never to mail, with their lines
	// in recipients.suppress; loaded by the first walk.
	suppressList map[string]int
	// prints says a walk made a letter with a page to print (Prints).
	prints atomic.Bool
}

// Summary counts what a pass over the recipients found.
type Summary struct {
	Rows            int   // data rows, good or bad
	Letters         int   // rendered
	Recipients      int   // envelope recipients of the rendered letters
	Attachments     int   // files
	AttachmentBytes int64 // of the files
	// Pages counts the attachments printed as PDF; a check prints them
	// (Printed, with the letters' bytes PrintedBytes), or a sample of
	// them (PagesSampled).
	Pages        int
	Printed      int
	PrintedBytes int64
	PagesSampled bool
	Errors       int
	Invalid      int // rows that made no letter: each is one of Errors
	Unselected   int // rows left out by Options.Select
	OtherShards  int // letters of other shards than Options.Shard: checked, not handed on
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
	Sheet        string // the sheet read, of a spreadsheet
}

// ReadAs says how the list was read, for a line after its name and the
// rows: "(utf-8, detected), delimiter ;" for a CSV file, and
// "(sheet Sheet1)" for a spreadsheet. configured is recipients.encoding.
func (s Summary) ReadAs(configured recipients.Encoding) string {
	if s.Sheet != "" {
		return fmt.Sprintf("(sheet %s)", s.Sheet)
	}
	how := "as configured"
	switch {
	case s.EncodingGuessed:
		how = "guessed: the file is not valid UTF-8"
	case configured == "" || configured == recipients.Auto:
		how = "detected"
	}
	return fmt.Sprintf("(%s, %s), delimiter %s", s.Encoding, how, recipients.DelimiterName(s.Delimiter))
}

// add counts l, a letter made: its recipients but those never to mail,
// and its attachments.
func (s *Summary) add(l *letter.Letter) {
	s.Letters++
	s.Recipients += len(l.Recipients) - len(l.Suppressed)
	for _, a := range l.Attachments {
		if a.Page != nil {
			s.Pages++
			continue
		}
		s.Attachments++
		s.AttachmentBytes += a.Size()
	}
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
// the campaign's store and printing its pages (print.go).
func (c *Campaign) Build(ctx context.Context, l *letter.Letter) ([]byte, error) {
	return c.build(ctx, l, message.Options{Now: c.opts.Now, Boundary: c.opts.Boundary})
}

// BuildAt writes l out as Build does, dated date: a copy of a letter sent
// then.
func (c *Campaign) BuildAt(ctx context.Context, l *letter.Letter, date time.Time) ([]byte, error) {
	return c.build(ctx, l, message.Options{Now: func() time.Time { return date }, Boundary: c.opts.Boundary})
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

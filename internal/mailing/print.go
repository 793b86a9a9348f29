package mailing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/located"
	"github.com/mailmerge/mailmerge/internal/pdf"
	"github.com/mailmerge/mailmerge/internal/preview"
)

// newPrinter returns the printer of a run's PDF attachments (Attachment:
// page.html; render=pdf). Its browser starts when a letter first needs
// it; the caller closes it, which ends the browser.
func newPrinter(cfg *config.Config) *pdf.Printer { return pdf.New(cfg.PDF.Browser) }

// printError says a failure to print pages as an *Error: no browser, or
// one that would not start, is the config's (or the machine's) to fix.
func printError(cfg *config.Config, err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) || errors.Is(err, context.Canceled) {
		return err
	}
	if cfg.PDF.Browser != "" {
		err = cfg.KeyErr("pdf.browser", err)
	}
	if errors.Is(err, pdf.ErrNoBrowser) {
		return &Error{Kind: Config, Err: err}
	}
	return &Error{Kind: Internal, Err: err}
}

// pages prints, for a check, the pages of the letters it makes (at most
// sample letters' when sample > 0), send.concurrency at a time, each
// letter written out whole as a send would: its size is checked with
// its PDFs. A letter's problem (too big) goes to notes and counts in the
// summary; a browser that cannot print stops the check.
type pages struct {
	c      *campaign.Campaign
	g      *errgroup.Group
	ctx    context.Context
	sample int
	notes  io.Writer

	started int // letters handed to the group, from the walk's goroutine
	mu      sync.Mutex
	printed int // letters printed, and the problems found
	bytes   int64
	errs    int
}

func newPages(ctx context.Context, c *campaign.Campaign, cfg *config.Config, sample int, notes io.Writer) *pages {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Send.Concurrency)
	return &pages{c: c, g: g, ctx: gctx, sample: sample, notes: notes}
}

// add prints l's pages, if it has any and the sample is not full. It
// waits while send.concurrency letters are printing, and returns what
// stopped the printing, if anything did.
func (p *pages) add(l *letter.Letter) error {
	if err := context.Cause(p.ctx); err != nil {
		return err
	}
	if !campaign.HasPages(l) || p.sample > 0 && p.started >= p.sample {
		return nil
	}
	p.started++
	p.g.Go(func() error {
		data, err := p.c.Build(p.ctx, l)
		var le *located.Error
		if errors.As(err, &le) {
			p.mu.Lock()
			defer p.mu.Unlock()
			fmt.Fprintln(p.notes, err)
			p.errs++
			return nil
		}
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, a := range l.Attachments {
			if a.Page != nil {
				p.printed++
			}
		}
		p.bytes += int64(len(data))
		return nil
	})
	return nil
}

// wait waits for the pages still printing, and adds what was found to
// sum; err is the walk's, which a failure to print replaces.
func (p *pages) wait(sum *campaign.Summary, err error) error {
	if perr := p.g.Wait(); perr != nil {
		return perr
	}
	sum.Printed, sum.PrintedBytes, sum.Errors = p.printed, p.bytes, sum.Errors+p.errs
	sum.PagesSampled = p.sample > 0 && sum.Pages > p.started
	if p.errs > 0 && err == nil {
		return campaign.ErrProblems
	}
	return err
}

// PrintedNote says, for a check's summary, what it printed: "" when the
// letters attach no page, else the PDFs printed and the bytes of their
// letters (", 50 PDFs printed: letters of 3.1 MB"), and how many were
// left out by --sample.
func PrintedNote(sum campaign.Summary) string {
	if sum.Pages == 0 {
		return ""
	}
	note := fmt.Sprintf(", %s printed: letters of %s", Plural(sum.Printed, "PDF"), preview.Size(sum.PrintedBytes))
	if sum.PagesSampled {
		note += fmt.Sprintf(" (a sample: %d of %d)", sum.Printed, sum.Pages)
	}
	return note
}

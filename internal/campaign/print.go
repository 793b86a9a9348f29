package campaign

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/located"
	"github.com/mailmerge/mailmerge/internal/message"
	"github.com/mailmerge/mailmerge/internal/pdf"
	"github.com/mailmerge/mailmerge/internal/template"
)

// HasPages reports whether l attaches a page to print as PDF.
func HasPages(l *letter.Letter) bool {
	return slices.ContainsFunc(l.Attachments, func(a letter.Attachment) bool { return a.Page != nil })
}

// Prints reports whether a walk of this campaign made a letter with a
// page to print: a send then needs the browser.
func (c *Campaign) Prints() bool { return c.prints.Load() }

// build writes l out with opts, its pages printed first. The bytes of a
// letter with pages are checked against send.max_letter_size here, as
// the PDFs' sizes are known only now: a letter over it is its row's
// problem, located at its line.
func (c *Campaign) build(ctx context.Context, l *letter.Letter, opts message.Options) ([]byte, error) {
	if !HasPages(l) {
		return message.Build(l, opts)
	}
	printed := *l
	printed.Attachments = slices.Clone(l.Attachments)
	var pdfBytes int64
	for i, a := range printed.Attachments {
		if a.Page == nil {
			continue
		}
		if c.opts.Printer == nil {
			return nil, errors.New("no PDF printer: cannot write out a letter with a page to print")
		}
		out, err := c.opts.Printer.Print(ctx, pdf.Page{HTML: a.Page.HTML, Dir: a.Page.Dir, Name: filepath.Base(a.Page.Source), Title: strings.TrimSuffix(a.Name, ".pdf")})
		if err != nil {
			return nil, err
		}
		printed.Attachments[i].PDF = out
		pdfBytes += int64(len(out))
	}
	data, err := message.Build(&printed, opts)
	if err != nil {
		return nil, err
	}
	if max := int64(c.cfg.Send.MaxLetterSize); max > 0 && int64(len(data)) > max {
		return nil, &located.Error{File: filepath.Base(c.cfg.Recipients.File), Line: l.Line, Err: &template.ValueError{Header: "Attachment", Err: fmt.Errorf(
			"with its PDF (%s) the letter is %s on the wire, more than %s allows (%s): make the page lighter (smaller images)",
			megabytes(pdfBytes), megabytes(int64(len(data))), c.cfg.Source("send.max_letter_size")+": send.max_letter_size", megabytes(max))}}
	}
	return data, nil
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// notePages notes that a walk made a letter with a page to print.
func (c *Campaign) notePages(l *letter.Letter) {
	if HasPages(l) {
		c.prints.Store(true)
	}
}

package campaign

import (
	"errors"
	"io/fs"
	"slices"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/template"
)

// ErrProblems says that problems were reported through OnError.
var ErrProblems = errors.New("problems found")

// locate places a row's value error at its field's place in the list
// (its CSV line and column, its spreadsheet cell).
func (c *Campaign) locate(rec *recipients.Record, header []string, ve *template.ValueError) error {
	return rec.Locate(slices.Index(header, ve.Field), ve)
}

// readOptions says how to read the recipient list; warn gets what is
// not right but does not stop it.
func (c *Campaign) readOptions(warn func(error)) recipients.Options {
	r := c.cfg.Recipients
	return recipients.Options{Encoding: r.Encoding, Delimiter: rune(r.Delimiter), Sheet: r.Sheet, Warn: warn}
}

// fromSetting names the setting behind a file that cannot be opened: the
// fix is in the config, not in the file.
func (c *Campaign) fromSetting(setting string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "open" {
		return c.cfg.KeyErr(setting, err)
	}
	return err
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

// report reports a problem that stops a letter.
func (w *walker) report(err error) {
	w.sum.Errors++
	w.c.opts.OnError(err)
}

// warn reports a problem that does not stop a letter.
func (w *walker) warn(err error) {
	w.sum.Warnings++
	w.c.opts.OnWarning(err)
}

// reportAll reports each of the problems err joins, or err.
func (w *walker) reportAll(err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			w.report(e)
		}
		return
	}
	w.report(err)
}

// reject reports err, which keeps rec from making a letter, and counts
// the row invalid: a value's problem located in its row, a template's
// problem once, though it repeats on every row.
func (w *walker) reject(rec *recipients.Record, err error) {
	var ve *template.ValueError
	if errors.As(err, &ve) {
		err = w.c.locate(rec, w.header, ve)
		w.report(err)
	} else if msg := err.Error(); !w.templateErrs[msg] {
		// A template error repeats on every row; say it once.
		w.templateErrs[msg] = true
		w.report(err)
	} else {
		w.sum.Errors++
	}
	w.c.invalid(rec, err, &w.sum)
}

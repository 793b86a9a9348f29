package campaign

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/template"
)

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

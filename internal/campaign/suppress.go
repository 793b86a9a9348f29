package campaign

import (
	"strings"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

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

// suppress leaves out of l its recipients never to mail (suppressed), and
// reports whether that leaves no letter: then it is handed to
// Options.OnSuppressed instead of being made.
func (w *walker) suppress(l *letter.Letter) bool {
	if !w.c.suppressed(l, &w.sum) {
		return false
	}
	if w.c.opts.OnSuppressed != nil {
		w.c.opts.OnSuppressed(l)
	}
	return true
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

package campaign

import (
	"strings"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// loadSuppress reads recipients.suppress, once.
func (c *Campaign) loadSuppress() error {
	if c.suppressList != nil || c.cfg.Recipients.Suppress == "" {
		return nil
	}
	list, err := recipients.ReadList(c.cfg.Recipients.Suppress, recipients.Options{Encoding: c.cfg.Recipients.Encoding})
	if err != nil {
		return err
	}
	c.suppressList = list
	return nil
}

// suppress marks the suppressed recipients of l (markSuppressed), and
// reports whether the letter is suppressed: then it is handed to
// Options.OnSuppressed instead of being made.
func (w *walker) suppress(l *letter.Letter) bool {
	if !w.c.markSuppressed(l, &w.sum) {
		return false
	}
	if w.c.opts.OnSuppressed != nil {
		w.c.opts.OnSuppressed(l)
	}
	return true
}

// markSuppressed marks the recipients of l never to mail, counts them,
// and reports whether the letter is suppressed: none of its row's own
// recipients is left to mail, and it is not made (an instructor's copy
// alone is no letter).
func (c *Campaign) markSuppressed(l *letter.Letter, sum *Summary) bool {
	if len(c.suppressList) == 0 {
		return false
	}
	own, ownLeft := 0, 0
	for i, r := range l.Recipients {
		isOwn := i < len(l.Sources) && l.Sources[i] != ""
		if isOwn {
			own++
		}
		if _, ok := c.suppressList[strings.ToLower(r)]; ok {
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

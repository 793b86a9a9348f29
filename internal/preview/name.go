package preview

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mailmerge/mailmerge/internal/letter"
)

// FileName names a letter's file by CSV line and first recipient, keeping
// only characters that are safe in file names everywhere. The address is
// cut to maxNameAddr bytes (a valid address may have 254, and file
// systems take 255 bytes a name, the gallery's ".html" included); the
// line keeps the names unique.
func FileName(l *letter.Letter) string {
	rcpt := strings.Map(func(r rune) rune {
		if r < 0x20 || strings.ContainsRune(`/\:*?"<>|#%`, r) { // # and % would break the gallery's links
			return '_'
		}
		return r
	}, l.Recipients[0])
	if len(rcpt) > maxNameAddr {
		cut := maxNameAddr
		for cut > 0 && !utf8.RuneStart(rcpt[cut]) {
			cut--
		}
		rcpt = rcpt[:cut] + "…"
	}
	return fmt.Sprintf("%04d-%s.eml", l.Line, rcpt)
}

const maxNameAddr = 100

package recipients

import (
	"encoding/csv"
	"io"
)

// NewWriter returns a CSV writer that spreadsheets read back as they wrote
// the recipients file: fields separated by delim, text in UTF-8 marked by
// a byte order mark (without one, Excel takes it for the local ANSI code
// page). The mark is written at once.
func NewWriter(w io.Writer, delim rune) (*csv.Writer, error) {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return nil, err
	}
	cw := csv.NewWriter(w)
	cw.Comma = delim
	return cw, nil
}

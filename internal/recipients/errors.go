package recipients

import (
	"errors"
	"fmt"
)

// Error is a problem at a place in a recipients file. Column counts
// characters from 1; zero means the whole line.
type Error struct {
	File   string
	Line   int
	Column int
	Err    error
}

func (e *Error) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	case e.Column == 0:
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d:%d: %v", e.File, e.Line, e.Column, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errors that callers and tests can check for with errors.Is.
var (
	ErrNoRecipients  = errors.New("no recipients: the file has a header row but no data rows")
	ErrEmpty         = errors.New("the file is empty: expected a header row naming the fields")
	ErrFieldCount    = errors.New("wrong number of fields")
	ErrFieldTooLarge = errors.New("field too large")
	ErrLineTooLong   = errors.New("line too long")
	ErrNUL           = errors.New("NUL byte in the file")
	ErrInvalidUTF8   = errors.New("invalid UTF-8")
	ErrHeader        = errors.New("bad header row")
)

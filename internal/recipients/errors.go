package recipients

import (
	"errors"
)

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

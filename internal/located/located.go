// Package located provides the error of a problem at a place in a file
// the user wrote: the recipients list, the letter template. It is on the
// model of encoding/csv.ParseError, and says its place as compilers do,
// file:line:column, so that editors jump to it.
package located

import "fmt"

// Error is a problem at a place in a file. Line and Column count from 1;
// a zero Line means the whole file, a zero Column the whole line.
// Column counts characters, not bytes.
type Error struct {
	File   string // the file's name as the user knows it
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

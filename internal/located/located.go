// Package located provides the error of a problem at a place in a file
// the user wrote: the recipients list, the letter template. It is on the
// model of encoding/csv.ParseError, and says its place as compilers do,
// file:line:column, so that editors jump to it; in a spreadsheet, as the
// spreadsheet does, file:Sheet!C17.
package located

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Error is a problem at a place in a file. Line and Column count from 1;
// a zero Line means the whole file (or sheet), a zero Column the whole
// line. Column counts characters, not bytes.
//
// In a spreadsheet, Sheet names the sheet, Line is the row's number and
// Column the column's (3 for C), as the spreadsheet numbers them.
type Error struct {
	File   string // the file's name as the user knows it
	Sheet  string // the sheet of a spreadsheet; "" in a text file
	Line   int
	Column int
	Err    error
}

func (e *Error) Error() string {
	if e.Sheet != "" {
		return e.File + ":" + e.Cell() + ": " + e.Err.Error()
	}
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	case e.Column == 0:
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d:%d: %v", e.File, e.Line, e.Column, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Cell says the place in a spreadsheet as the spreadsheet writes it:
// Sheet1!C17, 'Group 2'!C17 for a sheet name with spaces, or
// "Sheet1: row 17" for a whole row and "Sheet1" for the whole sheet.
func (e *Error) Cell() string {
	sheet := QuoteSheet(e.Sheet)
	switch {
	case e.Line == 0:
		return sheet
	case e.Column == 0:
		return sheet + ": row " + strconv.Itoa(e.Line)
	}
	return sheet + "!" + ColumnName(e.Column) + strconv.Itoa(e.Line)
}

// ColumnName is a spreadsheet's name of column n, from 1: A, ..., Z, AA.
func ColumnName(n int) string {
	if n < 1 {
		return "?"
	}
	var b []byte
	for ; n > 0; n = (n - 1) / 26 {
		b = append(b, byte('A'+(n-1)%26))
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// QuoteSheet writes a sheet's name as a cell reference needs it: as it
// is when it is letters, digits and underscores, else in single quotes
// ('Group 2'), with each quote in it written twice.
func QuoteSheet(name string) string {
	plain := name != "" && !strings.ContainsFunc(name, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_'
	})
	if plain {
		return name
	}
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}

// Package recipients reads the recipient list: a CSV file whose header row
// names the fields that letters are rendered from.
//
// The reader streams: it holds one record (and a few recent lines, for error
// columns) at a time, so a file of a million rows is read in constant memory.
// It handles what spreadsheet exports actually contain: a UTF-8 byte order
// mark, UTF-16 with a BOM, Windows-1251 and KOI8-R files, and ',', ';' or tab
// delimiters, detected from the header line. Every error names the file and
// line, and the column in characters where there is one.
package recipients

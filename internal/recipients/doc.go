// Package recipients reads the recipient list: a CSV file, or a sheet of
// an Excel or LibreOffice spreadsheet, whose header row names the fields
// that letters are rendered from.
//
// The reader streams: it holds one record (and a few recent lines, for error
// columns) at a time, so a file of a million rows is read in constant memory.
// It handles what spreadsheet exports actually contain: a UTF-8 byte order
// mark, UTF-16 with a BOM, Windows-1251 and KOI8-R files, and ',', ';' or tab
// delimiters, detected from the header line. Every error names the file and
// line, and the column in characters where there is one.
//
// A spreadsheet (.xlsx, .ods, .fods) is read as it is, with no export:
// the first sheet, or the one Options.Sheet names. Its header is its
// first row with any text, and each cell reads as the spreadsheet shows
// it: a number as formatted (000123 in a 000000 format, 4.50 in 0.00, no
// .0 in General), a date in its cell's format (Excel's own "short date",
// which it shows as the computer's settings say, as 2026-09-01), TRUE
// and FALSE, a formula as the value the spreadsheet program saved with
// it. A merged cell's text is in every cell it covers; in the header, the
// columns a merged name covers are named after it: Телефон, Телефон_2,
// Телефон_3. Rows and columns with nothing in them are no rows and no
// fields. Errors are placed as the spreadsheet does: list.xlsx:Sheet1!C17,
// with row numbers the spreadsheet's own.
//
// In both, a column whose header cell is empty is not a field, and must
// be empty in every row (as the columns after the last are in a CSV file
// Excel saves): a value in it is an error.
package recipients

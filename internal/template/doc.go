// Package template turns a letter template and one recipient's fields into
// a ready-to-send RFC 5322 / MIME message.
//
// A template file is one whole letter: a header block, a blank line, the
// body, all in text/template syntax. Header values are rendered and then
// checked before they are encoded, so a value from the CSV can never add a
// header line or a recipient; addresses are parsed and written out again;
// non-ASCII text is RFC 2047 encoded and every header line is folded to 78
// characters. The body is quoted-printable text/plain, text/html (rendered
// with html/template, so CSV values are escaped) or, for text/markdown, a
// multipart/alternative of the Markdown and its HTML rendering. Attachment
// pseudo-headers add base64 parts.
//
// Code that also uses the standard text/template imports it as texttemplate.
package template

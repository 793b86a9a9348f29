// Package template is the language of a letter template: a file that is
// one whole letter, a header block, a blank line and the body, all in
// text/template syntax. It parses the file, checks the fields it uses
// against the CSV header, and executes it for one row into a
// letter.Letter: header values rendered and checked, the body rendered,
// attachments found.
//
// Values from the CSV can never add a header line or a recipient: a value
// with a control character is refused, and a field in an address header
// holds one address or a name, never a list (the address package checks
// the syntax). Encoding the letter for the wire is the message package's
// work; giving it an identity is the campaign's.
//
// Code that also uses the standard text/template imports it as texttemplate.
package template

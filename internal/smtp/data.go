package smtp

import (
	"bufio"
	"bytes"
)

// writeDotStuffed writes a message for DATA (RFC 5321 §4.5.2): a line
// that starts with "." gets another, and a lone LF or CR becomes CRLF, so
// that no line of the message can end it early. data ends with CRLF; the
// final "." is the caller's. What fits in w's buffer is left there, to go
// with the final "." in one write (the server reads a small letter whole,
// once); a larger message goes out as the buffer fills. The error is the
// first write's that failed.
func writeDotStuffed(w *bufio.Writer, data []byte) error {
	atLineStart := true
	for len(data) > 0 {
		if atLineStart && data[0] == '.' {
			w.WriteByte('.')
		}
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			w.Write(data)
			break
		}
		w.Write(data[:i])
		switch {
		case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
			data = data[i+2:]
		default: // a lone CR or LF
			data = data[i+1:]
		}
		w.WriteString("\r\n")
		atLineStart = true
	}
	_, err := w.Write(nil) // bufio.Writer keeps its first error
	return err
}

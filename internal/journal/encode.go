package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/mailmerge/mailmerge/internal/letter"
)

// appendRecord appends r as one JSON line, byte for byte what
// encoding/json makes of it (TestAppendRecord, FuzzAppendRecord), without
// its reflection: a send writes three records a letter, and json.Marshal
// took some 7 µs each.
func appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","key":`...)
	b = appendString(b, r.Key.String())
	if r.Dest != "" {
		b = append(b, `,"dest":`...)
		b = appendString(b, r.Dest)
	}
	if r.Test != "" {
		b = append(b, `,"test":`...)
		b = appendString(b, r.Test)
	}
	if r.Account != "" {
		b = append(b, `,"account":`...)
		b = appendString(b, r.Account)
	}
	b = append(b, `,"line":`...)
	b = strconv.AppendInt(b, int64(r.Line), 10)
	b = append(b, `,"rcpt":`...)
	if r.Rcpt == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, rcpt := range r.Rcpt {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, rcpt)
		}
		b = append(b, ']')
	}
	if r.Part {
		b = append(b, `,"part":true`...)
	}
	if r.FP != 0 {
		b = append(b, `,"fp":`...)
		b = strconv.AppendUint(b, r.FP, 10)
	}
	if r.Made != 0 {
		b = append(b, `,"made":`...)
		b = strconv.AppendUint(b, r.Made, 10)
	}
	b = append(b, `,"msgid":`...)
	b = appendString(b, r.MessageID)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(r.Attempt), 10)
	b = append(b, `,"state":`...)
	b = appendString(b, string(r.State))
	if r.Phase != "" {
		b = append(b, `,"phase":`...)
		b = appendString(b, r.Phase)
	}
	if r.Code != 0 {
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(r.Code), 10)
	}
	if r.Enhanced != "" {
		b = append(b, `,"enhanced":`...)
		b = appendString(b, r.Enhanced)
	}
	if r.Text != "" {
		b = append(b, `,"text":`...)
		b = appendString(b, r.Text)
	}
	if r.Millis != 0 {
		b = append(b, `,"ms":`...)
		b = strconv.AppendInt(b, r.Millis, 10)
	}
	if len(r.Rejected) > 0 {
		b = append(b, `,"rejected":[`...)
		for i, rej := range r.Rejected {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rcpt":`...)
			b = appendString(b, rej.Rcpt)
			if rej.State != "" {
				b = append(b, `,"state":`...)
				b = appendString(b, string(rej.State))
			}
			b = append(b, `,"code":`...)
			b = strconv.AppendInt(b, int64(rej.Code), 10)
			if rej.Enhanced != "" {
				b = append(b, `,"enhanced":`...)
				b = appendString(b, rej.Enhanced)
			}
			b = append(b, `,"text":`...)
			b = appendString(b, rej.Text)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if r.Report != "" {
		b = append(b, `,"report":`...)
		b = appendString(b, r.Report)
	}
	if r.Copy != "" {
		b = append(b, `,"copy":`...)
		b = appendString(b, r.Copy)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string the way encoding/json writes
// it: <, > and & escaped (as for HTML), the line and paragraph
// separators too, invalid UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, `\b`...)
			case '\f':
				b = append(b, `\f`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Encode appends r to b as a journal file has it: one JSON object, with
// no newline. A journal kept elsewhere (PostgreSQL) keeps the same.
func Encode(b []byte, r Record) []byte { return appendRecord(b, &r) }

// ErrNotARecord is returned by Decode for what is no record of a journal.
var ErrNotARecord = errors.New("is not a valid record")

// Decode reads one record as Encode wrote it, and checks it as a replay
// does: a record with a state this version does not know (a newer one
// wrote it) is an error, with the record as far as it was read.
func Decode(b []byte) (Record, error) {
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil || rec.Key == (letter.Key{}) || rec.State == "" {
		return Record{}, ErrNotARecord
	}
	if !known(rec.State) {
		return rec, fmt.Errorf("has the state %q, which this mailmerge does not know: a newer version wrote it; use that version", rec.State)
	}
	return rec, nil
}

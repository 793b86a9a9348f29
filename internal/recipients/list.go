package recipients

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/located"
)

// ReadList reads a list of addresses (recipients.suppress): a CSV whose
// header has an email column, read as the recipients are (any encoding
// or delimiter they may have), a spreadsheet's first sheet with one, or
// else one address per line, # starting a comment. It returns each address, lower case, with the line it is on.
// A line that is not an address is an *located.Error naming it.
func ReadList(path string, opts Options) (map[string]int, error) {
	if IsSpreadsheet(path) {
		opts.Sheet = ""
		return readTableList(path, opts)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	first, _, _ := bytes.Cut(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), []byte("\n"))
	if isListHeader(string(first)) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return readTableList(path, opts)
	}
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		if err := add(out, text, line); err != nil {
			return nil, &located.Error{File: name, Line: line, Err: err}
		}
	}
	return out, sc.Err()
}

// isListHeader says whether a first line is a CSV header with an email
// column.
func isListHeader(line string) bool {
	return slices.ContainsFunc(strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ';' || r == '\t' }), func(f string) bool {
		return strings.EqualFold(strings.Trim(strings.TrimSpace(f), `"`), "email")
	})
}

// readTableList reads the email column of a CSV file or spreadsheet.
func readTableList(path string, opts Options) (map[string]int, error) {
	r, err := Open(path, opts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	col := slices.IndexFunc(r.Header(), func(h string) bool { return strings.EqualFold(strings.TrimSpace(h), "email") })
	if col < 0 {
		return nil, r.Locate(r.headerLine, fmt.Errorf("no email column (it has %s)", strings.Join(r.Header(), ", ")))
	}
	out := map[string]int{}
	for {
		rec, err := r.Read()
		if rec == nil {
			if err == nil || errors.Is(err, io.EOF) || errors.Is(err, ErrNoRecipients) {
				break // an empty list is a list
			}
			return nil, err
		}
		if col >= len(rec.Fields) {
			continue
		}
		if err := add(out, rec.Fields[col], rec.Line); err != nil {
			return nil, rec.Locate(col, err)
		}
	}
	return out, nil
}

// add puts the address on a line into the list; a blank line adds none.
func add(list map[string]int, text string, line int) error {
	text, _ = address.Clean(text)
	if text == "" {
		return nil
	}
	boxes, err := address.ParseList(text)
	if err != nil {
		return err
	}
	if len(boxes) != 1 {
		return fmt.Errorf("%d addresses on one line; put one on each", len(boxes))
	}
	addr := strings.ToLower(boxes[0].Addr)
	if _, ok := list[addr]; !ok {
		list[addr] = line
	}
	return nil
}

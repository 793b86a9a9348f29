package recipients

import (
	"bytes"
	"io"
	"os"
)

// CountLines returns the number of line feeds in the file at path: at
// least the number of rows (a quoted value may hold more), found without
// parsing, to size what is kept per row before reading it. For a
// spreadsheet, whose rows are not counted without reading them, it is 0:
// what is kept grows as the rows are read.
func CountLines(path string) (int, error) {
	if IsSpreadsheet(path) {
		return 0, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	n := 0
	for {
		m, err := f.Read(buf)
		n += bytes.Count(buf[:m], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

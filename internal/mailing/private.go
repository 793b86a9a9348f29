package mailing

import (
	"os"

	"github.com/mailmerge/mailmerge/internal/report"
)

// WriteFailedCSV writes the rows of the letters not delivered
// (report.WriteCSV) to a file only its owner may read.
func WriteFailedCSV(path string, delim rune, rep *report.Report) (int, error) {
	f, err := createPrivate(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := report.WriteCSV(f, delim, rep)
	if err != nil {
		return n, err
	}
	return n, f.Close()
}

// createPrivate creates (or empties) a file only its owner may read: the
// files mailmerge writes hold people's names, addresses and letters.
func createPrivate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil { // made 0644 by an earlier version
		f.Close()
		return nil, err
	}
	return f, nil
}

// WritePrivate writes a file only its owner may read (createPrivate).
func WritePrivate(path string, data []byte) error {
	f, err := createPrivate(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

package main

import (
	"bytes"
	"io"
	"log/slog"
	"strings"

	"github.com/mailmerge/mailmerge/internal/mailing"
)

// jsonLines turns the lines a send writes on stderr (notes, warnings,
// problems) into JSON records, for --log-format json.
type jsonLines struct {
	log *slog.Logger
	buf []byte
}

func newJSONLines(w io.Writer) *jsonLines {
	return &jsonLines{log: slog.New(slog.NewJSONHandler(w, nil))}
}

func (j *jsonLines) Write(p []byte) (int, error) {
	j.buf = append(j.buf, p...)
	for {
		i := bytes.IndexByte(j.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(j.buf[:i])
		j.buf = j.buf[i+1:]
		switch {
		case line == "":
		case strings.HasPrefix(line, "warning: "):
			j.log.Warn(strings.TrimPrefix(line, "warning: "))
		case strings.HasPrefix(line, "hint: "):
			j.log.Info("hint", "hint", strings.TrimPrefix(line, "hint: "))
		default:
			j.log.Info(line)
		}
	}
}

// exit says err as JSON records: the error, then its hints.
func (j *jsonLines) exit(err error) error {
	if err == nil {
		return nil
	}
	e := asError(err)
	if !e.Quiet {
		j.log.Error(e.Err.Error(), "exit", exitCodes[e.Kind])
	}
	for _, h := range strings.Split(e.Hint, "\n") {
		if h != "" {
			j.log.Info("hint", "hint", h)
		}
	}
	return &mailing.Error{Kind: e.Kind, Err: e.Err, Quiet: true}
}

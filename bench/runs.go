//go:build linux

package main

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// config writes a mailmerge config sending rows letters to addr over
// sessions sessions, with a journal of its own, and returns its name.
func (b *bench) config(rows int, addr string, sessions int) (string, error) {
	return b.configWith(rows, addr, sessions, "", "")
}

// configWith is config with journal as send.journal ("" for a file of
// its own) and extra lines added to the send: section.
func (b *bench) configWith(rows int, addr string, sessions int, journal, extra string) (string, error) {
	b.configs++
	host, port, _ := strings.Cut(addr, ":")
	name := fmt.Sprintf("run-%d.yaml", b.configs)
	journal = cmp.Or(journal, fmt.Sprintf("run-%d.journal", b.configs))
	cfg := fmt.Sprintf(`campaign: bench-%d
template: `+cmp.Or(b.template, "letter.txt")+`
recipients:
  file: class-%d.csv
smtp:
  host: %s
  port: %s
  security: none
send:
  concurrency: %d
  rate: 0
  journal: %s
`, b.configs, rows, host, port, sessions, journal) + extra
	return name, os.WriteFile(filepath.Join(b.dir, name), []byte(cfg), 0o644)
}

// send is a median run of mailmerge send of rows letters.
func (b *bench) send(rows int, addr string, sessions int) (sample, error) {
	return median(b.runs, func(int) (sample, error) {
		cfg, err := b.config(rows, addr, sessions)
		if err != nil {
			return sample{}, err
		}
		return b.withSink(func() (sample, error) { return measure(b.dir, b.mailmerge, "send", "--yes", "-c", cfg) })
	})
}

// withSink runs f and adds to its sample the CPU smtp-sink spent meanwhile.
func (b *bench) withSink(f func() (sample, error)) (sample, error) {
	before := cpuOf(b.sinkPid)
	s, err := f()
	s.server = cpuOf(b.sinkPid) - before
	return s, err
}

// source is a median run of smtp-source -d sending n letters of the
// letter's size.
func (b *bench) source(n int, addr string, sessions int) (sample, error) {
	return median(b.runs, func(int) (sample, error) {
		return b.withSink(func() (sample, error) {
			return measure(b.dir, "smtp-source", "-s", strconv.Itoa(sessions), "-m", strconv.Itoa(n), "-l", strconv.Itoa(b.letterSize),
				"-d", "-f", "bench@example.org", "-t", "student@example.com", addr)
		})
	})
}

// sizeOfLetter writes the first letter as it would be sent and returns
// its size.
func (b *bench) sizeOfLetter() (int, error) {
	cfg, err := b.config(b.letters, b.sink, 1)
	if err != nil {
		return 0, err
	}
	if _, err := measure(b.dir, b.mailmerge, "preview", "-c", cfg, "--out", "first", "--limit", "1"); err != nil {
		return 0, err
	}
	file, err := b.firstLetterFile()
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return 0, err
	}
	return int(fi.Size()), nil
}

// firstLetterFile is the file sizeOfLetter had preview write the first
// letter to.
func (b *bench) firstLetterFile() (string, error) {
	files, _ := filepath.Glob(filepath.Join(b.dir, "first", "*.eml"))
	if len(files) != 1 {
		return "", fmt.Errorf("preview --out wrote %d files, want 1", len(files))
	}
	return files[0], nil
}

// firstLetter is the first letter as a send writes it, line ends CRLF.
func (b *bench) firstLetter() ([]byte, error) {
	file, err := b.firstLetterFile()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")), nil
}

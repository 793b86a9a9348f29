//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// floor sends n copies of one letter, already written out, to addr over
// sessions sessions with mailmerge's own SMTP client, and nothing else:
// no list, no template, no check, no dispatcher. With a journal it also
// keeps mailmerge's records of every letter (attempt; eod committed
// before the end of the message; the outcome written after the reply):
// what any sender that never sends a letter twice after a crash must do.
// It is the most mailmerge could reach on this machine, measured in this
// process (its CPU from getrusage).
func floor(addr string, sessions, n int, data []byte, journalPath string) (sample, error) {
	var j *journal.Journal
	if journalPath != "" {
		var err error
		if j, err = journal.Open(journalPath); err != nil {
			return sample{}, err
		}
		defer os.Remove(journalPath)
		defer os.Remove(journalPath + ".index")
	}
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	var next atomic.Int64
	errs := make(chan error, sessions+1)
	var wg sync.WaitGroup
	for range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- floorSession(addr, n, &next, data, j)
		}()
	}
	wg.Wait()
	var s sample
	if j != nil {
		s.syncs = j.Syncs()
		errs <- j.Close()
	}
	s.wall = time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	s.cpu = time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	close(errs)
	for err := range errs {
		if err != nil {
			return s, err
		}
	}
	return s, nil
}

// floorSession sends letters while there are some left to send, 100 to a
// connection as mailmerge does by default, each letter's envelope with
// the end of the one before where the server pipelines (Send's next).
func floorSession(addr string, n int, next *atomic.Int64, data []byte, j *journal.Journal) error {
	take := func() *floorMail {
		i := int(next.Add(1))
		if i > n {
			return nil
		}
		rcpt := "student" + strconv.Itoa(i) + "@example.com"
		return &floorMail{i: i, m: &smtp.Mail{From: "bench@example.org", To: []string{rcpt}, Data: data}}
	}
	for {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		c := smtp.NewClient(conn, time.Minute, 10*time.Minute)
		if _, err := c.Greeting(time.Minute); err != nil {
			return err
		}
		if err := c.Hello("localhost"); err != nil {
			return err
		}
		var early *floorMail
		for sent := 0; sent < 100; sent++ {
			f := early
			if early = nil; f == nil {
				if f = take(); f == nil {
					c.Quit()
					return nil
				}
			}
			if sent+1 < 100 && c.TakesNext() {
				early = take()
			}
			if err := floorLetter(c, f, early, j); err != nil {
				return err
			}
		}
		c.Quit()
	}
}

// floorMail is letter i of the floor.
type floorMail struct {
	i int
	m *smtp.Mail
}

// floorLetter sends f, and next's envelope with its end if next is not
// nil.
func floorLetter(c *smtp.Client, f, next *floorMail, j *journal.Journal) error {
	i := f.i
	rec := journal.Record{Key: letter.NamedKey("floor", strconv.Itoa(i)), Dest: "smtp:floor", Line: i + 1, Rcpt: f.m.To,
		MessageID: "<" + strconv.Itoa(i) + "@floor.example>", Attempt: 1, State: journal.Attempt}
	if j != nil {
		if err := j.Append(rec); err != nil {
			return err
		}
	}
	var nextMail *smtp.Mail
	if next != nil {
		nextMail = next.m
	}
	sent, err := c.Send(f.m, nextMail, func(*smtp.Sent) error {
		if j == nil {
			return nil
		}
		eod := rec
		eod.State = journal.EOD
		return j.Commit(eod)
	})
	if err != nil {
		return err
	}
	if sent.End == nil || sent.End.Code != 250 {
		return fmt.Errorf("letter %d not taken: %v", i, sent.End)
	}
	if j != nil {
		rec.State, rec.Code = journal.Delivered, sent.End.Code
		return j.Write(rec)
	}
	return nil
}

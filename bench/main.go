//go:build linux

// Command bench measures mailmerge against the machine's limit: send to
// Postfix's smtp-sink beside smtp-source (Postfix's own load generator),
// on loopback and over a link with a long round trip, check, preview,
// startup, a send of a million rows, and several sends of one campaign at
// once on a journal in PostgreSQL. bench/run builds it and runs it; it
// prints a Markdown report and writes it to docs/benchmarks.md, keeping
// the part written by hand below handMarker.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.mailmerge, "mailmerge", "mailmerge", "the mailmerge binary to measure")
	flag.StringVar(&o.out, "out", "", "also write the report to this file")
	flag.IntVar(&o.runs, "runs", 3, "runs per figure (the median is shown)")
	flag.IntVar(&o.letters, "letters", 10000, "letters per loopback run")
	flag.StringVar(&o.sessions, "sessions", "1,4,8,16", "sessions (concurrency) on loopback")
	flag.DurationVar(&o.rtt, "rtt", 50*time.Millisecond, "round-trip time of the simulated link")
	flag.IntVar(&o.rttLetters, "rtt-letters", 2000, "letters per run over the simulated link")
	flag.StringVar(&o.rttSessions, "rtt-sessions", "8", "sessions over the simulated link")
	flag.IntVar(&o.checkRows, "check-rows", 100000, "rows for the check")
	flag.IntVar(&o.large, "large", 1000000, "rows for the large send and its resume (0: skip)")
	flag.IntVar(&o.machineLetters, "machines-letters", 20000, "letters per run of several sends of one campaign on a journal in PostgreSQL (0: skip)")
	flag.IntVar(&o.machineSessions, "machines-sessions", 4, "send.concurrency of each of those sends")
	flag.StringVar(&o.machineProcs, "machines", "1,2,3", "how many sends of one campaign at once, on PostgreSQL")
	flag.BoolVar(&o.machinesOnly, "machines-only", false, "measure only the sends of one campaign on PostgreSQL; -out then replaces that section of the file and keeps the rest")
	flag.BoolVar(&o.attach, "attach", false, "on loopback, every letter also attaches a 50 kB file all letters share and a 2 kB file of its own, as a course mailing does")
	serve := flag.Bool("serve", false, "only start the CHUNKING server and a delaying proxy to it, print their addresses and wait (for trying things by hand)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	if *serve {
		srv, addr, err := startChunkingSink()
		if err != nil {
			log.Fatal(err)
		}
		defer srv.Close()
		p, err := startDelayProxy(addr, o.rtt)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("CHUNKING server on %s, through a %v round trip on %s", addr, o.rtt, p.Addr())
		select {}
	}
	report, err := o.run()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(report)
	if o.out != "" {
		old, err := os.ReadFile(o.out)
		if err != nil && !os.IsNotExist(err) {
			log.Fatal(err)
		}
		text := withHandWritten(report, string(old))
		if o.machinesOnly {
			text = spliceSection(string(old), machinesHeading, report)
		}
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			log.Fatal(err)
		}
		log.Printf("written to %s", o.out)
	}
}

type options struct {
	mailmerge, out        string
	runs, letters         int
	sessions, rttSessions string
	rtt                   time.Duration
	rttLetters, checkRows int
	large                 int
	attach                bool
	machineLetters        int
	machineSessions       int
	machineProcs          string
	machinesOnly          bool
}

// bench is one benchmark run: its folder, its servers and what it found.
type bench struct {
	options
	dir        string
	sink       string // smtp-sink's address
	sinkPid    int
	chunking   string // the CHUNKING server's address
	letterSize int
	configs    int
	template   string // the letter the runs send: letter.txt unless -attach's loopback

	md strings.Builder
}

func (o options) run() (string, error) {
	dir, err := os.MkdirTemp("", "mailmerge-bench-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755) // smtp-sink may drop to the postfix user
	if o.mailmerge, err = exec.LookPath(o.mailmerge); err != nil {
		return "", err
	}
	if o.mailmerge, err = filepath.Abs(o.mailmerge); err != nil {
		return "", err
	}
	for _, p := range []string{"smtp-sink", "smtp-source"} {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("%s not found: install postfix (apt-get install postfix)", p)
		}
	}
	b := &bench{options: o, dir: dir}

	sink, sinkPid, stop, err := startSmtpSink(dir)
	if err != nil {
		return "", err
	}
	defer stop()
	b.sink, b.sinkPid = sink, sinkPid
	srv, chunking, err := startChunkingSink()
	if err != nil {
		return "", err
	}
	defer srv.Close()
	b.chunking = chunking

	if o.machinesOnly {
		if o.machineLetters == 0 || len(ints(o.machineProcs)) == 0 {
			return "", fmt.Errorf("-machines-only with no letters or no processes to measure")
		}
		if _, err := writeInputs(dir, o.machineLetters); err != nil {
			return "", err
		}
		err := b.machines()
		return b.md.String(), err
	}
	log.Printf("writing inputs into %s", dir)
	for _, n := range []int{o.letters, o.rttLetters, o.checkRows, o.large, o.machineLetters} {
		if n > 0 {
			if _, err := writeInputs(dir, n); err != nil {
				return "", err
			}
		}
	}
	if b.letterSize, err = b.sizeOfLetter(); err != nil {
		return "", err
	}
	b.header()
	for _, step := range []func() error{b.loopback, b.roundTrips, b.commands, b.largeSend, b.machines} {
		// Each step starts with the disk settled: the journals and lists
		// the step before wrote would otherwise be written back during
		// this one's fsyncs.
		syscall.Sync()
		if err := step(); err != nil {
			return b.md.String(), err
		}
	}
	b.advice()
	return b.md.String(), nil
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

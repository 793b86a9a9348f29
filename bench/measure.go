//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// sample is one run of a program: wall time, CPU time (user + system)
// and peak resident memory.
type sample struct {
	wall, cpu time.Duration
	rss       int64         // bytes
	server    time.Duration // CPU the server (smtp-sink) spent meanwhile, where measured
	syncs     int           // fsyncs of the journal, where counted (the floor)
	// What a journal in PostgreSQL cost meanwhile (machines): the
	// transactions its database committed, the cluster's WAL syncs, its
	// CPU.
	commits, walSyncs int64
	db                time.Duration
	// Processes that exited saying letters were of unknown fate
	// (machines), and how many letters they said so of.
	unknownExits, unknownSaid int
}

// measure runs a program in dir and says what it took. Its output is
// shown only when it fails.
func measure(dir string, name string, args ...string) (sample, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	s := sample{wall: time.Since(start)}
	if ps := cmd.ProcessState; ps != nil {
		s.cpu = ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			s.rss = ru.Maxrss * 1024 // kilobytes on Linux
		}
	}
	if err != nil {
		return s, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out.String(), 2000))
	}
	return s, nil
}

// median runs f n times and returns the sample with the median wall time.
func median(n int, f func(run int) (sample, error)) (sample, error) {
	var all []sample
	for i := 0; i < n; i++ {
		s, err := f(i)
		if err != nil {
			return s, err
		}
		all = append(all, s)
	}
	slices.SortFunc(all, func(a, b sample) int { return int(a.wall - b.wall) })
	return all[len(all)/2], nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

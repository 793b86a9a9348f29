//go:build linux

package main

import (
	"bufio"
	"io"
	"log"
	"net"
	"slices"
	"time"
)

func (b *bench) roundTrips() error {
	rtt := b.rtt
	toSink, err := startDelayProxy(b.sink, rtt)
	if err != nil {
		return err
	}
	defer toSink.Close()
	toChunking, err := startDelayProxy(b.chunking, rtt)
	if err != nil {
		return err
	}
	defer toChunking.Close()
	// The proxy's timers wake a little late under load: the link's real
	// round trip, not the nominal one, sets the limit.
	measured, err := roundTrip(toSink.Addr())
	if err != nil {
		return err
	}
	b.printf("## Over a link with a %v round trip\n\n", rtt)
	b.printf("%d letters. A session that waits for each reply can send at most one letter per "+
		"*round trips per letter × round-trip time*: the limit below is sessions ÷ that, with the round trip "+
		"measured through the proxy (NOOP to smtp-sink, median of 20): %.1f ms, where %v was asked for. "+
		"mailmerge needs one round trip a letter with CHUNKING and PIPELINING (the whole letter in one flight), and "+
		"one with PIPELINING alone too: each letter's end carries the next letter's envelope, so only a session's first "+
		"letter takes two. `smtp-source` waits for every reply: four.\n\n",
		b.rttLetters, float64(measured.Microseconds())/1000, rtt)
	b.printf("| client → server | sessions | round trips per letter | limit letters/s | letters/s | of the limit |\n|---|---|---|---|---|---|\n")
	for _, s := range ints(b.rttSessions) {
		for _, c := range []struct {
			name   string
			trips  int
			sample func() (sample, error)
		}{
			{"mailmerge → go-smtp (PIPELINING, CHUNKING)", 1, func() (sample, error) { return b.send(b.rttLetters, toChunking.Addr(), s) }},
			{"mailmerge → smtp-sink (PIPELINING)", 1, func() (sample, error) { return b.send(b.rttLetters, toSink.Addr(), s) }},
			{"`smtp-source -d` → smtp-sink", 4, func() (sample, error) { return b.source(b.rttLetters, toSink.Addr(), s) }},
		} {
			log.Printf("%v round trip, %d sessions: %s", rtt, s, c.name)
			m, err := c.sample()
			if err != nil {
				return err
			}
			limit := float64(s) / (float64(c.trips) * measured.Seconds())
			r := rate(b.rttLetters, m)
			b.printf("| %s | %d | %d | %.0f | %.0f | %.2f |\n", c.name, s, c.trips, limit, r, r/limit)
		}
	}
	b.printf("\n")
	return nil
}

// roundTrip measures the round trip to the SMTP server at addr: the
// median time of 20 NOOPs, each answered before the next.
func roundTrip(addr string) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func() error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if len(line) < 4 || line[3] != '-' {
				return nil
			}
		}
	}
	if err := reply(); err != nil { // the greeting
		return 0, err
	}
	var times []time.Duration
	for range 20 {
		start := time.Now()
		if _, err := io.WriteString(c, "NOOP\r\n"); err != nil {
			return 0, err
		}
		if err := reply(); err != nil {
			return 0, err
		}
		times = append(times, time.Since(start))
	}
	io.WriteString(c, "QUIT\r\n")
	slices.Sort(times)
	return times[len(times)/2], nil
}

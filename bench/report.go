//go:build linux

package main

import (
	"fmt"
	"runtime"
	"time"
)

func (b *bench) printf(format string, args ...any) { fmt.Fprintf(&b.md, format, args...) }

func (b *bench) header() {
	b.printf("# Benchmarks\n\n")
	b.printf("Written by `bench/run` on %s. Machine: %s, %d cores, %s; %s; journal on %s.\n\n",
		time.Now().UTC().Format("2006-01-02"), cpuModel(), runtime.NumCPU(), kernel(), goVersion(), fsOf(b.dir))
	b.printf("Each figure is the median of %d runs. The letter is a ~2 KB Russian course announcement "+
		"(%d bytes on the wire, five fields from a class list with Cyrillic names); "+
		"`smtp-source` sends a fixed message of the same size. Servers: Postfix's `smtp-sink` "+
		"(offers PIPELINING, not CHUNKING) and go-smtp's server (PIPELINING and CHUNKING), both "+
		"throwing letters away, on loopback; the simulated link is a delaying TCP proxy (`bench/proxy.go`).\n\n",
		b.runs, b.letterSize)
}

func (b *bench) advice() {
	b.printf(`## Choosing concurrency and rate for a real relay

Over a real link the round trip, not mailmerge, sets the pace: one session
sends at most one letter per round trip where the server offers PIPELINING
(with or without CHUNKING), one per four where it offers neither (the
trace, ` + "`send --trace`" + `, shows what the server offers). So letters/s ≈
concurrency ÷ (round trips per letter × round-trip time).

- Measure the round trip to your relay (` + "`ping`" + ` it, or time ` + "`check --smtp`" + `) and pick
  the rate you need; concurrency = rate × round trips per letter × RTT,
  rounded up. 50 ms and PIPELINING: 4 sessions give ~75 letters/s.
- Stay within what the relay allows: most providers limit sessions per
  client (often 2 to 10) and letters per minute, hour or day. Set
  ` + "`send.rate`" + ` a little under the provider's limit and concurrency no higher
  than needed to reach it; more sessions past that only wait.
- On loopback or a LAN relay, 4 to 8 sessions reach the machine's limit;
  more only add contention on 2 cores.
`)
}

func rate(n int, s sample) float64      { return float64(n) / s.wall.Seconds() }
func perLetter(n int, s sample) float64 { return float64(s.cpu.Microseconds()) / float64(n) }
func seconds(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

//go:build linux

// Command bench measures mailmerge against the machine's limit: send to
// Postfix's smtp-sink beside smtp-source (Postfix's own load generator),
// on loopback and over a link with a long round trip, check, preview,
// startup, and a send of a million rows. bench/run builds it and runs it;
// it prints a Markdown report and writes it to docs/benchmarks.md.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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
		if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
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

	log.Printf("writing inputs into %s", dir)
	for _, n := range []int{o.letters, o.rttLetters, o.checkRows, o.large} {
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
	for _, step := range []func() error{b.loopback, b.roundTrips, b.commands, b.largeSend} {
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

// startSmtpSink starts Postfix's smtp-sink on a free loopback port.
func startSmtpSink(dir string) (addr string, pid int, stop func(), err error) {
	addr, err = freePort()
	if err != nil {
		return "", 0, nil, err
	}
	args := []string{"-h", "bench-sink", addr, "1024"}
	if os.Getuid() == 0 {
		args = append([]string{"-u", "postfix"}, args...)
	}
	cmd := exec.Command("smtp-sink", args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	if err := waitListening(addr); err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("smtp-sink: %w", err)
	}
	return addr, cmd.Process.Pid, stop, nil
}

// config writes a mailmerge config sending rows letters to addr over
// sessions sessions, with a journal of its own, and returns its name.
func (b *bench) config(rows int, addr string, sessions int) (string, error) {
	b.configs++
	host, port, _ := strings.Cut(addr, ":")
	name := fmt.Sprintf("run-%d.yaml", b.configs)
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
  journal: run-%d.journal
`, b.configs, rows, host, port, sessions, b.configs)
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

func (b *bench) loopback() error {
	b.printf("## Loopback: how fast mailmerge goes when the server is not the limit\n\n")
	b.printf("%d letters to `smtp-sink` on loopback, journal on disk (one fsync per letter, shared between sessions).", b.letters)
	if b.attach {
		if err := writeAttachments(b.dir, b.letters); err != nil {
			return err
		}
		size := b.letterSize
		b.template = "letter-attach.txt"
		defer func() { b.template, b.letterSize = "", size }()
		var err error
		if b.letterSize, err = b.sizeOfLetter(); err != nil {
			return err
		}
		b.printf(" Each letter attaches a 50 kB file all letters share and a 2 kB file of its own (`-attach`): %d bytes on the wire, and `smtp-source` sends as many.", b.letterSize)
	}
	b.printf("\n\n")
	b.printf("| sessions | mailmerge letters/s | CPU per letter | peak RSS | `smtp-source -d` letters/s | mailmerge ÷ smtp-source |\n|---|---|---|---|---|---|\n")
	type row struct{ mm, src, bare, journaled sample }
	var rows []row
	data, err := b.firstLetter()
	if err != nil {
		return err
	}
	for _, s := range ints(b.sessions) {
		log.Printf("loopback, %d sessions", s)
		var r row
		if r.mm, err = b.send(b.letters, b.sink, s); err != nil {
			return err
		}
		if r.src, err = b.source(b.letters, b.sink, s); err != nil {
			return err
		}
		if r.bare, err = median(b.runs, func(int) (sample, error) {
			return b.withSink(func() (sample, error) { return floor(b.sink, s, b.letters, data, "") })
		}); err != nil {
			return err
		}
		if r.journaled, err = median(b.runs, func(int) (sample, error) {
			return b.withSink(func() (sample, error) {
				return floor(b.sink, s, b.letters, data, filepath.Join(b.dir, "floor.journal"))
			})
		}); err != nil {
			return err
		}
		rows = append(rows, r)
		b.printf("| %d | %.0f | %.0f µs | %d MB | %.0f | %.2f |\n", s, rate(b.letters, r.mm), perLetter(b.letters, r.mm), r.mm.rss>>20, rate(b.letters, r.src), rate(b.letters, r.mm)/rate(b.letters, r.src))
	}
	b.printf("\nThe floor: the first letter, written out once, sent %d times by mailmerge's own SMTP client "+
		"(`internal/smtp`) from the benchmark's process, and nothing else: no list, template, check or dispatcher. "+
		"*Bare* keeps no journal; *journaled* keeps mailmerge's (`internal/journal`): each letter's eod made durable "+
		"before its end of message, shared between sessions, its outcome written after the reply, as a send does. "+
		"What separates the journaled floor from `smtp-source` is the price of never sending a letter twice after a crash "+
		"on this disk; what separates mailmerge from it is the letters' making and checking.\n\n", b.letters)
	b.printf("| sessions | bare letters/s | CPU per letter | journaled letters/s | CPU per letter | letters per fsync | journaled ÷ smtp-source | mailmerge ÷ journaled |\n|---|---|---|---|---|---|---|---|\n")
	for i, s := range ints(b.sessions) {
		r := rows[i]
		b.printf("| %d | %.0f | %.0f µs | %.0f | %.0f µs | %.1f | %.2f | %.2f |\n", s, rate(b.letters, r.bare), perLetter(b.letters, r.bare),
			rate(b.letters, r.journaled), perLetter(b.letters, r.journaled), float64(b.letters)/float64(max(1, r.journaled.syncs)),
			rate(b.letters, r.journaled)/rate(b.letters, r.src), rate(b.letters, r.mm)/rate(b.letters, r.journaled))
	}
	b.printf("\nWhere the CPU goes: both cores are shared by the client and `smtp-sink`. *Cores busy* is the CPU "+
		"`smtp-source` and `smtp-sink` used together in `smtp-source`'s run, over its wall time. The *budget* is the most CPU "+
		"a client may spend on a letter and still reach 0.8 × `smtp-source`'s rate: the machine's %d cores at that rate, "+
		"less what `smtp-sink` spent on each of mailmerge's letters.\n\n", runtime.NumCPU())
	b.printf("| sessions | cores busy (smtp-source + smtp-sink) | smtp-sink CPU per letter | budget per letter at 0.8 × smtp-source | bare floor | journaled floor | mailmerge |\n|---|---|---|---|---|---|---|\n")
	for i, s := range ints(b.sessions) {
		r := rows[i]
		busy := (r.src.cpu + r.src.server).Seconds() / r.src.wall.Seconds()
		sink := float64(r.mm.server.Microseconds()) / float64(b.letters)
		budget := float64(runtime.NumCPU())*1e6/(0.8*rate(b.letters, r.src)) - sink
		b.printf("| %d | %.2f | %.0f µs | %.0f µs | %.0f µs | %.0f µs | %.0f µs |\n", s, busy, sink, budget,
			perLetter(b.letters, r.bare), perLetter(b.letters, r.journaled), perLetter(b.letters, r.mm))
	}
	b.printf("\n")
	return nil
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

func (b *bench) commands() error {
	b.printf("## Check, preview, startup\n\n| command | time | peak RSS |\n|---|---|---|\n")
	checkCfg, err := b.config(b.checkRows, b.sink, 1)
	if err != nil {
		return err
	}
	smallCfg, err := b.config(b.letters, b.sink, 1)
	if err != nil {
		return err
	}
	commands := []struct {
		name string
		args []string
	}{
		{fmt.Sprintf("`check` of %d rows", b.checkRows), []string{"check", "-c", checkCfg}},
		{fmt.Sprintf("`preview` of the first letter of %d rows (a letter's identity needs every row's envelope)", b.letters), []string{"preview", "-c", smallCfg}},
		{"start and exit (`--version`)", []string{"--version"}},
	}
	// bench/run starts bench in the repository.
	if example, err := filepath.Abs("examples/course-announcement/mailmerge.yaml"); err == nil {
		if _, err := os.Stat(example); err == nil {
			commands = append(commands[:2], append([]struct {
				name string
				args []string
			}{{"`preview` of the first letter of the bundled example", []string{"preview", "-c", example}}}, commands[2:]...)...)
		}
	}
	for _, c := range commands {
		log.Printf("%s", c.name)
		m, err := median(max(b.runs, 5), func(int) (sample, error) { return measure(b.dir, b.mailmerge, c.args...) })
		if err != nil {
			return err
		}
		b.printf("| %s | %s | %d MB |\n", c.name, seconds(m.wall), m.rss>>20)
	}
	b.printf("\n")
	return nil
}

func (b *bench) largeSend() error {
	if b.large == 0 {
		return nil
	}
	cfg, err := b.config(b.large, b.sink, 8)
	if err != nil {
		return err
	}
	b.printf("## A million rows\n\n`send` of %d letters to `smtp-sink` on loopback, 8 sessions, then the same `send` again (everything is delivered: it only reads the list and the journal). One run each.\n\n", b.large)
	b.printf("| run | time | letters/s | CPU | peak RSS |\n|---|---|---|---|---|\n")
	for _, run := range []string{"send", "send again (resume)"} {
		log.Printf("%d rows: %s", b.large, run)
		m, err := measure(b.dir, b.mailmerge, "send", "--yes", "-c", cfg)
		if err != nil {
			return err
		}
		b.printf("| %s | %s | %.0f | %s | %d MB |\n", run, seconds(m.wall), rate(b.large, m), seconds(m.cpu), m.rss>>20)
	}
	b.printf("\n")
	return nil
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

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

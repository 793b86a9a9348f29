//go:build linux

package main

import (
	"log"
	"path/filepath"
	"runtime"
)

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

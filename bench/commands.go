//go:build linux

package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
)

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

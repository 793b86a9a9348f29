//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mailmerge/mailmerge/internal/pgjournal"
)

// machinesHeading starts the section machines writes; -machines-only
// replaces the section under it in the report file.
const machinesHeading = "## Several sends of one campaign, the journal in PostgreSQL"

// pgPasswordEnv is the variable the configs name in
// send.journal_password_env: the throwaway cluster's password.
const pgPasswordEnv = "BENCH_JOURNAL_PASSWORD"

// machines measures 1, 2, 3... mailmerge send processes sending one
// campaign at once on one journal in PostgreSQL (as several machines
// would, here all on this one), against one process on the file
// journal: letters/s, and what the journal asked of its disk per letter.
func (b *bench) machines() error {
	if b.machineLetters == 0 || len(ints(b.machineProcs)) == 0 {
		return nil
	}
	n, sessions := b.machineLetters, b.machineSessions
	log.Printf("machines: starting PostgreSQL")
	pg, err := startPostgres(b.dir)
	if err != nil {
		return err
	}
	defer func() {
		if err := pg.Stop(); err != nil {
			log.Printf("stop PostgreSQL: %v", err)
		}
	}()
	ctx := context.Background()
	admin, err := pg.Connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	var version string
	if err := admin.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return err
	}

	b.printf("%s\n\n", machinesHeading)
	b.printf("Measured by `bench/run` on %s (%s, %d cores, %s). %d letters to `smtp-sink` on loopback, "+
		"`send.concurrency` %d in each process, `send.lease` left at its default (1m); the same list, letter and "+
		"settings in every row, each row's figure the median of %d runs, each run a new campaign "+
		"(a new journal file; a new database). The processes of a row start together on this one machine, "+
		"as several machines would send one campaign, and the time is from their start to the end of the last; "+
		"each claims letters in batches (leases in the database) and sends only those it holds. "+
		"PostgreSQL %s is a throwaway cluster bench starts (`initdb`, `pg_ctl`, `fsync=on`, otherwise its defaults) "+
		"on a loopback port, its data on the same disk as the file journal, and removes after.\n\n",
		time.Now().UTC().Format("2006-01-02"), cpuModel(), runtime.NumCPU(), fsOf(b.dir), n, sessions, b.runs, version)
	b.printf("*Commits per letter*: for PostgreSQL, the transactions the database counted for the campaign's database " +
		"(`pg_stat_database.xact_commit`, after the run less before, over letters): every record's transaction " +
		"(synchronous for an `eod`, not for an outcome), and the claims of leases, their renewals and releases, and what each " +
		"process does to open and close the journal. *Disk syncs per letter*: for PostgreSQL the WAL flushes the cluster " +
		"counted (`pg_stat_wal.wal_sync`, the whole cluster); for the file journal the `fsync` and `fdatasync` calls of " +
		"the `mailmerge` process, counted by `strace -f -c` in one more run of the same send (not timed: strace slows it). " +
		"*CPU per letter* is the `mailmerge` processes' together; the database's is its server processes' " +
		"(the postmaster, its children, and the backends it reaped).\n\n")
	b.printf("| journal | processes | letters/s | mailmerge CPU per letter | database CPU per letter | commits per letter | disk syncs per letter |\n|---|---|---|---|---|---|---|\n")

	log.Printf("machines: file journal, 1 process")
	file, err := median(b.runs, func(int) (sample, error) {
		cfg, err := b.configWith(n, b.sink, sessions, "", "")
		if err != nil {
			return sample{}, err
		}
		return b.withSink(func() (sample, error) { return measureAll(b.dir, 1, nil, b.mailmerge, "send", "--yes", "-c", cfg) })
	})
	if err != nil {
		return err
	}
	syncs := "not measured (no strace)"
	if _, err := exec.LookPath("strace"); err == nil {
		log.Printf("machines: file journal, 1 process, under strace")
		cfg, err := b.configWith(n, b.sink, sessions, "", "")
		if err != nil {
			return err
		}
		count, err := fsyncs(b.dir, b.mailmerge, "send", "--yes", "-c", cfg)
		if err != nil {
			return err
		}
		syncs = fmt.Sprintf("%.2f", float64(count)/float64(n))
	}
	b.printf("| file | 1 | %.0f | %.0f µs | — | — | %s |\n", rate(n, file), perLetter(n, file), syncs)

	runs := 0
	// Processes that ended saying letters were of unknown fate, though
	// the journal has them all delivered: in how many runs, how many
	// processes, how many letters they named; and all runs and
	// processes.
	var unknown, total struct{ runs, exits, letters int }
	for _, procs := range ints(b.machineProcs) {
		log.Printf("machines: PostgreSQL, %d processes", procs)
		s, err := median(b.runs, func(int) (sample, error) {
			runs++
			db := fmt.Sprintf("machines_%d", runs)
			if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
				return sample{}, err
			}
			cfg, err := b.configWith(n, b.sink, sessions, pg.URL(db), "  journal_password_env: "+pgPasswordEnv+"\n")
			if err != nil {
				return sample{}, err
			}
			// The tables first, so that the processes do not wait on
			// each other to make them.
			if _, _, err := (pgjournal.DB{URL: pg.URL(db), Password: pg.Password}).Migrate(ctx); err != nil {
				return sample{}, err
			}
			before, err := pg.counts(ctx, admin, db)
			if err != nil {
				return sample{}, err
			}
			s, err := b.withSink(func() (sample, error) {
				return measureAll(b.dir, procs, []string{pgPasswordEnv + "=" + pg.Password}, b.mailmerge, "send", "--yes", "-c", cfg)
			})
			if err != nil {
				return s, err
			}
			after, err := pg.counts(ctx, admin, db)
			if err != nil {
				return s, err
			}
			s.commits, s.walSyncs, s.db = after.commits-before.commits, after.walSyncs-before.walSyncs, after.cpu-before.cpu
			// Counted after the statistics: this connection's
			// transactions are db's.
			got, err := delivered(ctx, pg, db)
			if err != nil {
				return s, err
			}
			if got != n {
				return s, fmt.Errorf("%d processes on one campaign: the journal has %d letters delivered, want %d", procs, got, n)
			}
			if s.unknownExits > 0 {
				unknown.runs++
				unknown.exits += s.unknownExits
				unknown.letters += s.unknownSaid
			}
			total.runs++
			total.exits += procs
			return s, nil
		})
		if err != nil {
			return err
		}
		b.printf("| PostgreSQL | %d | %.0f | %.0f µs | %.0f µs | %.2f | %.2f |\n", procs, rate(n, s), perLetter(n, s),
			float64(s.db.Microseconds())/float64(n), float64(s.commits)/float64(n), float64(s.walSyncs)/float64(n))
	}
	b.printf("\nIn every run the journal ends with each of the %d letters delivered.", n)
	if unknown.runs > 0 {
		b.printf(" But in %d of %d runs on PostgreSQL, %d of the %d processes ended with exit code 10, "+
			"saying %d letters in all were of unknown fate: letters another process was sending when this one read their "+
			"records (an `eod`, no outcome yet), delivered by the other moments later.", unknown.runs, total.runs, unknown.exits, total.exits, unknown.letters)
	}
	b.printf("\n\nThe processes share this machine's %d cores with `smtp-sink` and, for PostgreSQL, with the database: "+
		"more processes here add no CPU, so the rows say what the leases and the shared journal cost, not what "+
		"several machines would gain. Each process reads the whole list and goes through every letter to claim it, "+
		"so mailmerge's CPU per letter grows with the processes. A process that has sent every letter it could claim polls once a second for "+
		"those others hold, until each is settled: up to a second at the end of a run.\n\n", runtime.NumCPU())
	return nil
}

// measureAll starts procs copies of a program in dir at once, with env
// added to the environment, and says what they took together: the time
// from their start to the end of the last, their CPU added up, the
// largest peak memory. Each must exit 0, or 10 (mailmerge's "only
// letters of unknown fate are left"): those are counted in
// s.unknownExits, the letters they said were of unknown fate in
// s.unknownSaid.
func measureAll(dir string, procs int, env []string, name string, args ...string) (sample, error) {
	cmds := make([]*exec.Cmd, procs)
	outs := make([]bytes.Buffer, procs)
	start := time.Now()
	for i := range cmds {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			for _, c := range cmds[:i] {
				c.Process.Kill()
				c.Wait()
			}
			return sample{}, err
		}
		cmds[i] = cmd
	}
	errs := make([]error, procs)
	for i, cmd := range cmds {
		errs[i] = cmd.Wait()
	}
	s := sample{wall: time.Since(start)}
	for i, cmd := range cmds {
		ps := cmd.ProcessState
		s.cpu += ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			s.rss = max(s.rss, ru.Maxrss*1024)
		}
		if ee, ok := errs[i].(*exec.ExitError); ok && ee.ExitCode() == exitUnknown {
			s.unknownExits++
			s.unknownSaid += unknownSaid(outs[i].String())
			continue
		}
		if errs[i] != nil {
			return s, fmt.Errorf("%s %s (process %d of %d): %v\n%s", name, strings.Join(args, " "), i+1, procs, errs[i], tail(outs[i].String(), 2000))
		}
	}
	return s, nil
}

// exitUnknown is mailmerge send's exit code when only letters of unknown
// fate are left (cmd/mailmerge/exit.go).
const exitUnknown = 10

// unknownSaid is how many letters a send's summary skipped as of unknown
// fate ("skipped: 1991 delivered by an earlier run; 57 of unknown fate").
func unknownSaid(out string) int {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "skipped: "); ok {
			for _, part := range strings.Split(rest, "; ") {
				if f, ok := strings.CutSuffix(part, " of unknown fate"); ok {
					n, _ := strconv.Atoi(f)
					return n
				}
			}
		}
	}
	return 0
}

// delivered is how many letters of the journal in database db have
// delivered as their last record.
func delivered(ctx context.Context, pg *pgCluster, db string) (int, error) {
	conn, err := pg.Connect(ctx, db)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT ON (letter) rec->>'state' AS state
		FROM mailmerge.records ORDER BY letter, seq DESC) last WHERE state = 'delivered'`).Scan(&n)
	return n, err
}

// fsyncs runs a program in dir under strace and returns how many fsync
// and fdatasync calls it and its threads made.
func fsyncs(dir, name string, args ...string) (int, error) {
	out := filepath.Join(dir, "strace.out")
	defer os.Remove(out)
	argv := append([]string{"-f", "-c", "-o", out, "-e", "trace=fsync,fdatasync", name}, args...)
	if _, err := measure(dir, "strace", argv...); err != nil {
		return 0, err
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return 0, err
	}
	return straceCalls(data, "fsync", "fdatasync"), nil
}

// straceCalls adds up the calls strace -c counted of the system calls
// named.
func straceCalls(summary []byte, names ...string) int {
	total := 0
	sc := bufio.NewScanner(bytes.NewReader(summary))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// % time, seconds, usecs/call, calls, [errors,] syscall
		if len(f) < 5 {
			continue
		}
		for _, name := range names {
			if f[len(f)-1] == name {
				n, _ := strconv.Atoi(f[3])
				total += n
			}
		}
	}
	return total
}

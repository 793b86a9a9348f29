//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mailmerge/mailmerge/internal/testpg"
)

// pgCluster is a throwaway PostgreSQL cluster on loopback, made as the
// tests make theirs (testpg.Launch): Debian's initdb and pg_ctl, a data
// folder in a temporary folder, run as the postgres user when bench runs
// as root, fsync on, stopped and removed by Stop.
type pgCluster struct {
	*testpg.Server
}

// startPostgres makes and starts a cluster whose data is in a folder in
// parent (on the same disk as the file journal), with a password made up
// for it.
func startPostgres(parent string) (*pgCluster, error) {
	pw := make([]byte, 12)
	rand.Read(pw)
	s, err := testpg.Launch(parent, hex.EncodeToString(pw))
	if err != nil {
		return nil, err
	}
	return &pgCluster{s}, nil
}

// pgCounts is what the cluster counted: the transactions committed in
// one database, the WAL syncs of the whole cluster (pg_stat_wal), and
// the CPU its processes spent.
type pgCounts struct {
	commits, walSyncs int64
	cpu               time.Duration
}

// counts reads the counts of database db, from a connection to the
// database postgres (whose transactions are not db's). The cluster's
// statistics lag: a backend flushes its counts when it exits, or when
// idle at most once a second. counts waits until no one is connected to
// db and two readings a second apart agree.
func (c *pgCluster) counts(ctx context.Context, conn *pgx.Conn, db string) (pgCounts, error) {
	var last pgCounts
	for i := 0; i < 30; i++ {
		var now pgCounts
		var connected int
		err := conn.QueryRow(ctx, `SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = $1),
			(SELECT wal_sync FROM pg_stat_wal),
			(SELECT count(*) FROM pg_stat_activity WHERE datname = $1)`, db).Scan(&now.commits, &now.walSyncs, &connected)
		if err != nil {
			return pgCounts{}, fmt.Errorf("read the statistics of %s: %w", db, err)
		}
		now.cpu = c.cpu()
		if connected == 0 && i > 0 && now.commits == last.commits && now.walSyncs == last.walSyncs {
			return now, nil
		}
		last = now
		time.Sleep(time.Second)
	}
	return last, fmt.Errorf("the statistics of %s did not settle in 30 s", db)
}

// cpu is the CPU time the cluster has spent: the postmaster's, its
// children's that live, and those it has reaped (its backends that
// ended: their times go to the postmaster's cutime and cstime).
func (c *pgCluster) cpu() time.Duration {
	pidFile, err := os.ReadFile(filepath.Join(c.Data(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(pidFile), "\n")
	pm, _ := strconv.Atoi(strings.TrimSpace(first))
	self, reaped, _ := procTimes(pm)
	total := self + reaped
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, _ := strconv.Atoi(filepath.Base(p))
		if t, _, parent := procTimes(pid); parent == pm && pid != pm {
			total += t
		}
	}
	return total
}

// procTimes is what /proc says of process pid: the CPU (user and
// system) it spent, that of its children it has waited for, and its
// parent.
func procTimes(pid int) (self, reaped time.Duration, parent int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0, 0, 0
	}
	f := strings.Fields(rest)
	if len(f) < 15 {
		return 0, 0, 0
	}
	n := func(i int) time.Duration {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(v) * 10 * time.Millisecond // USER_HZ is 100
	}
	parent, _ = strconv.Atoi(f[1])
	return n(11) + n(12), n(13) + n(14), parent
}

//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgCluster is a throwaway PostgreSQL cluster on loopback, as
// internal/testpg makes one for tests (its lines copied: bench imports
// no test package): Debian's initdb and pg_ctl, a data folder in a
// temporary folder, run as the postgres user when bench runs as root,
// fsync on, stopped and removed by stop.
type pgCluster struct {
	port     int
	password string // the superuser's, made up for this cluster
	dir      string
	bin      string
	asUser   []string
}

// pgBin is the folder of Debian's newest PostgreSQL programs, or that of
// initdb on PATH; "" for none.
func pgBin() string {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(found, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return vb - va
	})
	if len(found) > 0 {
		return filepath.Dir(found[0])
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// startPostgres makes and starts a cluster whose data is in a folder
// beside dir's (on the same disk as the file journal).
func startPostgres(parent string) (*pgCluster, error) {
	bin := pgBin()
	if bin == "" {
		return nil, fmt.Errorf("PostgreSQL not found (no /usr/lib/postgresql/*/bin/initdb, nor initdb on PATH): apt-get install postgresql")
	}
	dir, err := os.MkdirTemp(parent, "pg-")
	if err != nil {
		return nil, err
	}
	c := &pgCluster{dir: dir, bin: bin}
	pw := make([]byte, 12)
	rand.Read(pw)
	c.password = hex.EncodeToString(pw)
	fail := func(err error) (*pgCluster, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(fmt.Errorf("bench runs as root and there is no postgres user to run PostgreSQL as: %w", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(c.password+"\n"), 0o644); err != nil {
		return fail(err)
	}
	err = c.run("initdb", "-D", c.data(), "-U", "postgres", "--pwfile", pwFile, "--auth-host=scram-sha-256",
		"--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	os.Remove(pwFile)
	if err != nil {
		return fail(err)
	}
	addr, err := freePort()
	if err != nil {
		return fail(err)
	}
	_, port, _ := strings.Cut(addr, ":")
	c.port, _ = strconv.Atoi(port)
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=50 -c fsync=on", c.port, dir)
	if err := c.run("pg_ctl", "-D", c.data(), "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return fail(fmt.Errorf("%v\n%s", err, tail(string(log), 2000)))
	}
	return c, nil
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

func (c *pgCluster) run(name string, args ...string) error {
	argv := append(slices.Clone(c.asUser), append([]string{filepath.Join(c.bin, name)}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v\n%s", name, err, tail(out.String(), 2000))
	}
	return nil
}

// stop stops the cluster and removes its folder.
func (c *pgCluster) stop() error {
	err := c.run("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "stop")
	os.RemoveAll(c.dir)
	return err
}

// url is the address of database db as a config gives it: no password.
func (c *pgCluster) url(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// connect connects to database db as the superuser.
func (c *pgCluster) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(c.url(db))
	if err != nil {
		return nil, err
	}
	cfg.Password = c.password
	cfg.ConnectTimeout = 10 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
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
	pidFile, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
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

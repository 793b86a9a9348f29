// Package testpg starts a throwaway PostgreSQL cluster for a test:
// Debian's initdb and pg_ctl, a data folder in a temporary folder, a
// loopback port, a superuser with a password the test knows, stopped
// (pg_ctl stop -m immediate) and removed when the test ends. It runs as
// root (the CI machine's user) by running the server as the postgres
// user, which initdb demands. Launch makes one outside a test: bench
// measures the journal in PostgreSQL with it.
package testpg

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// install says how to get the programs.
const install = "apt-get install postgresql"

// Password is the superuser's password in every cluster Start makes.
const Password = "throwaway-pg-pw"

// Server is a running cluster.
type Server struct {
	Host string
	Port int
	User string // the superuser
	// Password is the superuser's: Password for a cluster Start makes.
	Password string
	dir      string // the cluster's folder: its data, socket and log
	stop     func() error
	dbs      atomic.Int32
}

// Need runs t only where PostgreSQL's programs are installed; elsewhere
// it is skipped, saying what to install, unless CI=true (or
// MAILMERGE_TEST_POSTFIX, which demands every real server) is set: then
// it fails.
func Need(t testing.TB) string {
	t.Helper()
	if bin := binDir(); bin != "" {
		return bin
	}
	if os.Getenv("CI") == "true" || os.Getenv("MAILMERGE_TEST_POSTFIX") != "" {
		t.Fatalf("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, nor initdb on PATH): %s", install)
	}
	t.Skipf("PostgreSQL is not installed (%s; .ci/run installs it)", install)
	return ""
}

// binDir is the folder of Debian's newest PostgreSQL programs, or that
// of initdb on PATH; "" for none.
func binDir() string {
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

// Start makes and starts a cluster for t (after Need); it is stopped
// and removed when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	Need(t)
	s, err := Launch(os.TempDir(), Password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Log(err)
		}
	})
	return s
}

// Launch makes and starts a cluster in a new folder in parent, its
// superuser's password password, outside a test (bench): Stop stops it
// and removes the folder. A cluster of a test is Start's.
func Launch(parent, password string) (*Server, error) {
	bin := binDir()
	if bin == "" {
		return nil, fmt.Errorf("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, nor initdb on PATH): %s", install)
	}
	// Not t.TempDir: its parents are the test user's alone, and the
	// server runs as postgres when the test runs as root.
	dir, err := os.MkdirTemp(parent, "mailmerge-pg-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	var asUser []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(fmt.Errorf("running as root, and there is no postgres user to run PostgreSQL as: %v (%s makes it)", err, install))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(name string, args ...string) error {
		argv := append(slices.Clone(asUser), append([]string{filepath.Join(bin, name)}, args...)...)
		cmd := exec.Command(argv[0], argv[1:]...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, out.Bytes())
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o644); err != nil {
		return fail(err)
	}
	// Loopback connections need the password (as a server's would); the
	// Unix socket, in dir, is trusted.
	err = run("initdb", "-D", data, "-U", "postgres", "--pwfile", pw, "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	os.Remove(pw)
	if err != nil {
		return fail(err)
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=50 -c fsync=on", port, dir)
	if err := run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return fail(fmt.Errorf("%v\n%s", err, log))
	}
	s := &Server{Host: "127.0.0.1", Port: port, User: "postgres", Password: password, dir: dir}
	s.stop = func() error {
		err := run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
		return err
	}
	return s, nil
}

// Stop stops the cluster and removes its folder.
func (s *Server) Stop() error { return s.stop() }

// Data is the cluster's data folder (its postmaster.pid, for one).
func (s *Server) Data() string { return filepath.Join(s.dir, "data") }

// freePort is a loopback port no one listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL is the address of database db on the server, as the config gives
// it: no password.
func (s *Server) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User(s.User), Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// NewDB makes a database of its own for t and returns its URL, without
// the password.
func (s *Server) NewDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	if err := s.Exec(context.Background(), "postgres", "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return s.URL(name)
}

// Exec runs sql in database db as the superuser.
func (s *Server) Exec(ctx context.Context, db, sql string, args ...any) error {
	conn, err := s.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// Connect connects to database db as the superuser.
func (s *Server) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(s.URL(db))
	if err != nil {
		return nil, err
	}
	cfg.Password = s.Password
	cfg.ConnectTimeout = 10 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
}

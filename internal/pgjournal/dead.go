package pgjournal

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// freeDead gives back the leases of this machine's processes that are
// no longer running: a send killed and started again takes its own
// letters at once, not a lease later. Freeing a lease early is safe
// whatever the cause: a process whose lease another took writes no eod
// of the letter (commit). Leases of other machines wait for their time.
func (j *Journal) freeDead(ctx context.Context) error {
	host, _ := os.Hostname()
	var owners []string
	err := j.onAux(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT DISTINCT owner FROM mailmerge.leases
			WHERE campaign = $1 AND expires > now() AND left(owner, length($2) + 1) = $2 || ' '`, j.id, host)
		if err != nil {
			return err
		}
		owners, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return err
	}
	var dead []string
	for _, o := range owners {
		fields := strings.Fields(strings.TrimPrefix(o, host+" "))
		if len(fields) != 2 {
			continue
		}
		if pid, err := strconv.Atoi(fields[0]); err == nil && !running(pid) {
			dead = append(dead, o)
		}
	}
	if len(dead) == 0 {
		return nil
	}
	return j.onAux(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		// Locked in the order of their letters (see commit).
		b.Queue(`SELECT 1 FROM mailmerge.leases WHERE campaign = $1 AND owner = ANY($2::text[]) ORDER BY letter FOR UPDATE`, j.id, dead)
		b.Queue(`UPDATE mailmerge.leases SET expires = now() WHERE campaign = $1 AND owner = ANY($2::text[])`, j.id, dead)
		b.Queue("COMMIT")
		return conn.SendBatch(ctx, b).Close()
	})
}

// running reports whether the process pid runs on this machine. When it
// cannot tell, it says yes: the lease then waits for its time.
func running(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false // Windows: no such process
	}
	defer p.Release()
	if runtime.GOOS == "windows" {
		return true
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

package pgjournal

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// machine names this machine in the leases its processes hold: its host
// name, and on Linux its boot's id, so that two machines of one name (a
// cloned virtual machine) are told apart. "" when it has no name.
func machine() string {
	host, _ := os.Hostname()
	if host == "" {
		return ""
	}
	host = strings.ReplaceAll(host, " ", "_")
	if id, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil && len(id) >= 8 {
		host += "/" + string(id[:8])
	}
	return host
}

// freeDead gives back the leases of this machine's processes that are
// no longer running: a send killed and started again takes its own
// letters at once, not a lease later. Freeing a lease early is safe
// whatever the cause: a process whose lease another took writes no eod
// of the letter, and saves no copy of it (commit). Leases of other
// machines wait for their time. It is a speed-up: errors are left.
func (j *Journal) freeDead(ctx context.Context) {
	host := machine()
	if host == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
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
		return
	}
	var dead []string
	for _, o := range owners {
		fields := strings.Fields(strings.TrimPrefix(o, host+" "))
		if len(fields) != 2 {
			continue
		}
		if pid, err := strconv.Atoi(fields[0]); err == nil && pid != os.Getpid() && !running(pid) {
			dead = append(dead, o)
		}
	}
	if len(dead) == 0 {
		return
	}
	j.onAux(ctx, func(conn *pgx.Conn) error {
		// The leases locked in the order of their letters (see commit).
		_, err := conn.Exec(ctx, `UPDATE mailmerge.leases SET expires = now() WHERE campaign = $1 AND letter IN (
			SELECT letter FROM mailmerge.leases WHERE campaign = $1 AND owner = ANY($2::text[]) ORDER BY letter FOR UPDATE)
			AND owner = ANY($2::text[])`, j.id, dead)
		return err
	})
}

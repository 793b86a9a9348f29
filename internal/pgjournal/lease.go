package pgjournal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
)

// DefaultLease is how long a letter's lease lasts unless renewed: how
// long the letters of a machine that died wait before another takes
// them.
const DefaultLease = time.Minute

func (d DB) lease() time.Duration {
	if d.Lease > 0 {
		return d.Lease
	}
	return DefaultLease
}

// owner names a process in the leases it holds: the machine, the
// process, and a random part, as no two processes share.
func owner() string {
	b := make([]byte, 4)
	rand.Read(b) // never fails (crypto/rand)
	return machine() + " " + strconv.Itoa(os.Getpid()) + " " + hex.EncodeToString(b)
}

// Claim takes the leases of the letters with keys that no other process
// holds (none, or one that ran out), and returns which of them this
// process holds now. Before it returns, the index knows what every
// other process recorded of the letters asked, held or not: a letter
// another sent since Open is not due here. Each of those records is
// also passed to seen, in order, when it is not nil.
//
// While the journal is open, the leases it holds are renewed; Close gives
// them back. A record of a letter held is written only while this
// process still holds the lease (but for the outcome after its eod): the
// Commit of an eod after another process took the letter over returns
// journal.ErrTaken, and the letter must not be sent.
func (j *Journal) Claim(ctx context.Context, keys []letter.Key, seen func(journal.Record)) ([]bool, error) {
	names := make([]string, 0, len(keys))
	var ask []string // those not held already: their records are read
	j.mu.Lock()
	for _, k := range keys {
		names = append(names, k.String())
		if _, ok := j.held[k]; !ok {
			ask = append(ask, k.String())
		}
	}
	j.mu.Unlock()
	slices.Sort(ask)
	// A server that stopped answering stops the send, as with commits.
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	var took []string
	var recs [][]byte
	err := j.onAux(ctx, func(conn *pgx.Conn) error {
		// A letter asked again is no longer to give back.
		j.mu.Lock()
		j.released = slices.DeleteFunc(j.released, func(k string) bool { return slices.Contains(names, k) })
		j.mu.Unlock()
		b := &pgx.Batch{}
		// Rows are locked in the order of their letters (see commit).
		// Letters another holds are passed over without a lock, as
		// SKIP LOCKED would: the lock would hold up its writer.
		b.Queue(`INSERT INTO mailmerge.leases (campaign, letter, owner, expires)
			SELECT $1, k, $3, now() + $4 * interval '1 millisecond' FROM unnest($2::text[]) AS k
			WHERE NOT EXISTS (SELECT 1 FROM mailmerge.leases
				WHERE campaign = $1 AND letter = k AND owner <> $3 AND expires > now())
			ORDER BY k
			ON CONFLICT (campaign, letter) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
			WHERE mailmerge.leases.expires <= now() OR mailmerge.leases.owner = excluded.owner
			RETURNING letter`, j.id, ask, j.owner, j.db.lease().Milliseconds()).Query(func(rows pgx.Rows) error {
			var err error
			took, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		// The records after the claim: those another process wrote
		// before it gave a letter up are there.
		b.Queue(`SELECT rec::text FROM mailmerge.records WHERE campaign = $1 AND letter = ANY($2::text[]) ORDER BY seq`,
			j.id, ask).Query(func(rows pgx.Rows) error {
			var err error
			recs, err = pgx.CollectRows(rows, pgx.RowTo[[]byte])
			return err
		})
		return conn.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("take letters to send, %s: %w", j.db.Where(), err)
	}
	for _, text := range recs {
		r, err := journal.Decode(text)
		if err != nil {
			return nil, fmt.Errorf("read the records of other sends, %s: a record is not valid: %w", j.db.Where(), err)
		}
		j.Add(r)
		if seen != nil {
			seen(r)
		}
	}
	got := make(map[string]bool, len(took))
	for _, k := range took {
		got[k] = true
	}
	out := make([]bool, len(keys))
	j.mu.Lock()
	for i, k := range keys {
		_, had := j.held[k]
		if got[names[i]] && !had {
			j.held[k] = false
		}
		out[i] = had || got[names[i]]
	}
	j.mu.Unlock()
	j.startBeat()
	return out, nil
}

// dropHeld forgets a letter whose lease passed to another process: this
// one writes nothing more of it unchecked. j.mu is held.
func (j *Journal) dropHeld(name string) {
	for k := range j.held {
		if k.String() == name {
			delete(j.held, k)
			return
		}
	}
}

// Release gives up the letters with keys, held and not to be sent by
// this process in this run (another sent them meanwhile, it left them
// deferred, or the run stops): their leases are no longer renewed, and
// the next renewal gives them back. A letter with an eod and no outcome
// yet is kept.
func (j *Journal) Release(keys []letter.Key) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, k := range keys {
		if eod, ok := j.held[k]; ok && !eod {
			delete(j.held, k)
			j.released = append(j.released, k.String())
		}
	}
	if len(j.released) > 0 {
		select {
		case j.kick <- struct{}{}:
		default:
		}
	}
}

// onAux runs fn on the connection of claims, grants and renewals, one
// at a time; a deadlock or serialization failure is tried again.
func (j *Journal) onAux(ctx context.Context, fn func(*pgx.Conn) error) error {
	j.auxMu.Lock()
	defer j.auxMu.Unlock()
	if j.aux == nil {
		return errClosed
	}
	if j.aux.IsClosed() {
		// A call cancelled mid-way closed it: a new one.
		conn, err := j.db.connect(ctx)
		if err != nil {
			return err
		}
		j.aux = conn
	}
	for try := 1; ; try++ {
		err := fn(j.aux)
		if err != nil && !j.aux.IsClosed() {
			rollback(j.aux)
		}
		if err == nil || !retryable(err) || try == 5 || j.aux.IsClosed() {
			if err != nil {
				return j.db.safe(err)
			}
			return nil
		}
	}
}

// startBeat starts renewing the leases this process holds, a third of a
// lease apart, and giving back those it released, at once; once.
func (j *Journal) startBeat() {
	j.auxMu.Lock()
	defer j.auxMu.Unlock()
	if j.beat != nil || j.aux == nil || j.beatDone {
		return
	}
	stop := make(chan struct{})
	j.beat = stop
	j.beats.Add(1)
	go func() {
		defer j.beats.Done()
		t := time.NewTicker(j.db.lease() / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			case <-j.kick:
			}
			// A renewal that fails leaves the leases to run out: the
			// letters are then another's, and this process writes none
			// of their eods (commit).
			j.mu.Lock()
			letters := make([]string, 0, len(j.held))
			for k := range j.held {
				letters = append(letters, k.String())
			}
			pending := len(j.released)
			j.mu.Unlock()
			if len(letters)+pending == 0 {
				continue
			}
			// A deadline cut short would close the connection under the
			// claims: a renewal waits for the server as a commit does.
			ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
			j.onAux(ctx, func(conn *pgx.Conn) error {
				// Taken with the connection's turn: a Claim of a letter
				// released takes it out of the list in its own turn.
				j.mu.Lock()
				released := j.released
				j.released = nil
				j.mu.Unlock()
				b := &pgx.Batch{}
				b.Queue("BEGIN")
				// Both sets locked in one order (see commit).
				b.Queue(`SELECT 1 FROM mailmerge.leases WHERE campaign = $1 AND letter = ANY($2::text[]) ORDER BY letter FOR UPDATE`,
					j.id, append(slices.Clip(letters), released...))
				b.Queue(`UPDATE mailmerge.leases SET expires = now() + $4 * interval '1 millisecond'
					WHERE campaign = $1 AND letter = ANY($3::text[]) AND owner = $2`, j.id, j.owner, letters, j.db.lease().Milliseconds())
				b.Queue(`DELETE FROM mailmerge.leases WHERE campaign = $1 AND letter = ANY($3::text[]) AND owner = $2`, j.id, j.owner, released)
				b.Queue("COMMIT")
				return conn.SendBatch(ctx, b).Close()
			})
			cancel()
		}
	}()
}

// release stops renewing the leases, and gives them back: the letters
// this process held are anybody's at once. It runs after the last
// record is written.
func (j *Journal) release() error {
	j.auxMu.Lock()
	beat := j.beat
	j.beat, j.beatDone = nil, true
	j.auxMu.Unlock()
	if beat != nil {
		close(beat)
		j.beats.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	return j.onAux(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `DELETE FROM mailmerge.leases WHERE campaign = $1 AND letter IN (
			SELECT letter FROM mailmerge.leases WHERE campaign = $1 AND owner = $2 ORDER BY letter FOR UPDATE)`, j.id, j.owner)
		return err
	})
}

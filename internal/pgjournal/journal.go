package pgjournal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
)

// Journal is a campaign's journal open in PostgreSQL, locked for this
// process. It answers what the journal knows (Lookup, Due, Known, ...)
// from its Index, in memory, and writes records from one goroutine.
type Journal struct {
	// Index is the state of every letter, as the records say, filled
	// from the table at Open, and for the letters it takes over, at
	// Claim.
	*journal.Index

	db   DB
	conn *pgx.Conn // the writer's alone once Open returns; it holds the lock
	id   int64     // the campaign's
	now  func() time.Time

	// owner names this process in the leases it holds: host, process
	// and a random part.
	owner string
	// aux is the connection of claims, their renewal, and grants.
	auxMu sync.Mutex
	aux   *pgx.Conn
	beat  chan struct{} // closed to stop the renewal of the leases
	// beatDone says the renewal stopped for good (Close).
	beatDone bool
	beats    sync.WaitGroup

	mu      sync.Mutex
	cond    *sync.Cond
	pending []entry // records not yet sent
	seq     uint64  // records queued so far
	written uint64  // records committed so far, durable or not
	synced  uint64  // records durable so far
	write   uint64  // the last record a Write waits for
	sync    uint64  // the last record a Commit waits for
	closing bool
	stopped bool
	err     error // sticky: once writing failed, nothing more is recorded
	commits int   // transactions
	syncs   int   // of them, committed synchronously
	// held are the letters this process took the leases of (Claim) and
	// is not done with, and whether the record queued last of each is
	// its eod: the outcome after it is written whoever holds the lease by
	// then. Their leases are renewed; those of the letters done with run
	// out, and are anybody's, whose records say they are settled.
	held map[letter.Key]bool
	// released are the letters given up (Release) whose leases the next
	// renewal deletes, so that another process may take them at once.
	released []string
	kick     chan struct{} // wakes the renewal to give released letters back now
	// lost are the records not written because the lease of their letter
	// had passed to another process, by number, until their writers hear.
	lost map[uint64]bool
}

var errClosed = errors.New("the journal is closed")

// entry is a record queued, encoded.
type entry struct {
	rec    string
	letter string // its letter's key
	// leased says it is written only while this process holds the
	// letter's lease.
	leased bool
}

// lockWait is how long Open waits for a campaign's lock held by another
// session: the server frees a killed mailmerge's only once it sees the
// connection closed, a moment after.
var lockWait = 3 * time.Second

// Open opens the journal of the campaign in the database, making the
// tables on first use (Migrate) and the campaign's row, takes the
// campaign's lock, and reads its records into the index. The lock is
// shared by the sends of the campaign, which may run at once on several
// machines (Claim), and excludes a journal opened Alone. now dates the
// records that have no time of their own (nil for time.Now). When the
// lock is not to be had, the error wraps journal.ErrLocked.
func (d DB) Open(ctx context.Context, now func() time.Time) (*Journal, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	j, err := d.open(ctx, conn, now)
	if err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	if j.aux, err = d.connect(ctx); err != nil {
		j.Close()
		return nil, err
	}
	j.freeDead(ctx)
	return j, nil
}

func (d DB) open(ctx context.Context, conn *pgx.Conn, now func() time.Time) (*Journal, error) {
	if _, _, err := d.migrate(ctx, conn); err != nil {
		return nil, err
	}
	if err := d.lock(ctx, conn); err != nil {
		return nil, err
	}
	id, err := d.campaign(ctx, conn)
	if err != nil {
		return nil, err
	}
	j := &Journal{db: d, conn: conn, id: id, now: now, owner: owner(), held: map[letter.Key]bool{}, lost: map[uint64]bool{}, kick: make(chan struct{}, 1)}
	j.cond = sync.NewCond(&j.mu)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM mailmerge.records WHERE campaign = $1", id).Scan(&n); err != nil {
		return nil, fmt.Errorf("read the journal, %s: %w", d.Where(), d.safe(err))
	}
	// Some three records a letter: sized from the start, the index is
	// not grown as it is read.
	j.Index = journal.NewIndex(n / 3)
	if err := d.records(ctx, conn, id, func(r journal.Record) error {
		j.Add(r)
		return nil
	}); err != nil {
		return nil, err
	}
	go j.writer()
	return j, nil
}

// lock takes the campaign's advisory lock for the session, shared or
// (Alone) not, or fails with journal.ErrLocked.
func (d DB) lock(ctx context.Context, conn *pgx.Conn) error {
	deadline := time.Now().Add(lockWait)
	try := "SELECT pg_try_advisory_lock_shared($1)"
	if d.Alone {
		try = "SELECT pg_try_advisory_lock($1)"
	}
	for {
		var ok bool
		if err := conn.QueryRow(ctx, try, lockKey("campaign "+d.Campaign)).Scan(&ok); err != nil {
			return fmt.Errorf("lock the journal, %s: %w", d.Where(), d.safe(err))
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", d.Where(), journal.ErrLocked)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// campaign returns the id of the campaign's row, making it.
func (d DB) campaign(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var id int64
	err := conn.QueryRow(ctx, `INSERT INTO mailmerge.campaigns (name) VALUES ($1)
		ON CONFLICT (name) DO UPDATE SET closed = NULL RETURNING id`, d.Campaign).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("open the journal, %s: %w", d.Where(), d.safe(err))
	}
	return id, nil
}

// Append queues r. It is written with the next Commit or Write (of any
// letter) or on Close; use it for records a crash may lose.
func (j *Journal) Append(r journal.Record) error {
	_, err := j.queue(r)
	return err
}

// Write queues r and returns once it is committed with
// synchronous_commit off: a crash of the process keeps it, a crash of
// the server may not until the next Commit (of any letter) or Close. It
// is for the outcome of a letter: losing it leaves the letter's eod,
// which replays as unknown, never as due.
func (j *Journal) Write(r journal.Record) error {
	seq, err := j.queue(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.done(seq, false)
}

// Commit queues r and returns once it is durable: committed with
// synchronous_commit on, with every record before it. Records queued by
// other goroutines meanwhile go in the same transaction (group commit).
func (j *Journal) Commit(r journal.Record) error {
	seq, err := j.queue(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.done(seq, true)
}

// RecordInvalid records a row that made no letter, left out of a send on
// request (send --skip-invalid), under key (letter.InvalidKey), with the
// problem.
func (j *Journal) RecordInvalid(key letter.Key, dest string, line int, fp uint64, problem string) error {
	return j.Commit(journal.Record{Key: key, Dest: dest, Line: line, FP: fp, State: journal.Invalid, Text: problem})
}

func (j *Journal) queue(r journal.Record) (uint64, error) {
	if r.Time.IsZero() && j.now != nil {
		r.Time = j.now().UTC()
	} else if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	e := entry{rec: string(journal.Encode(nil, r)), letter: r.Key.String()}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	if j.closing {
		return 0, errClosed
	}
	switch eod, ok := j.held[r.Key]; {
	case !ok || r.Test != "":
	case r.Copy != "":
		// A copy in the Sent folder is saved by the holder alone.
		e.leased = true
	default:
		// The outcome after an eod is written whoever holds the lease
		// now: nobody sends a letter with an eod and no outcome again.
		// Every other record of a letter taken is written only while
		// this process holds it.
		e.leased = !eod
		j.held[r.Key] = r.State == journal.EOD
		if settles(r) {
			delete(j.held, r.Key)
		}
	}
	j.pending = append(j.pending, e)
	j.seq++
	j.Add(r)
	return j.seq, nil
}

// settles reports whether r settles its letter for good at its
// destination: delivered, refused, or of unknown fate, no recipient of
// it left to try again.
func settles(r journal.Record) bool {
	switch r.State {
	case journal.Delivered, journal.Failed, journal.Unknown:
	default:
		return false
	}
	for _, rej := range r.Rejected {
		if rej.Final() == journal.Deferred {
			return false
		}
	}
	return !r.Part
}

// done waits for record seq to be written (durable, if sync), and says
// whether it was.
func (j *Journal) done(seq uint64, sync bool) error {
	if sync {
		j.sync = max(j.sync, seq)
	} else {
		j.write = max(j.write, seq)
	}
	j.cond.Broadcast()
	for (sync && j.synced < seq || !sync && j.written < seq) && j.err == nil {
		j.cond.Wait()
	}
	if j.lost[seq] {
		delete(j.lost, seq)
		return journal.ErrTaken
	}
	return j.err
}

// writer commits what is queued, for as long as the journal is open: a
// transaction of every record queued, synchronous when a Commit waits
// for any of them.
func (j *Journal) writer() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for {
		for j.err == nil && !j.closing && j.sync <= j.synced && j.write <= j.written {
			j.cond.Wait()
		}
		if j.err != nil || j.closing && j.synced == j.seq && len(j.pending) == 0 {
			break
		}
		if j.closing {
			j.sync = j.seq
		}
		batch, upto := j.pending, j.seq
		durable := j.sync > j.synced
		j.pending = nil
		j.mu.Unlock()
		lost, err := j.commit(batch, durable)
		j.mu.Lock()
		first := upto - uint64(len(batch)) + 1
		for i, e := range batch {
			if e.leased && lost[e.letter] {
				j.lost[first+uint64(i)] = true
				j.dropHeld(e.letter)
			}
		}
		j.commits++
		if durable {
			j.syncs++
		}
		if err != nil {
			j.err = fmt.Errorf("write the journal, %s: %w", j.db.Where(), j.db.safe(err))
		} else {
			j.written = upto
			if durable {
				j.synced = upto
			}
		}
		j.cond.Broadcast()
	}
	j.stopped = true
	j.cond.Broadcast()
}

// commitTimeout bounds one transaction: a server that stopped answering
// stops the send, as a disk that fails does.
const commitTimeout = time.Minute

// commit writes batch in one transaction and one round trip; durable
// commits it synchronously. A batch of none made durable commits the
// campaign's closing time, which flushes the server's log past every
// commit before it. The records of a batch that are leased are written
// only for letters whose leases this process still holds, which the
// transaction renews; lost names the letters whose leases it lost.
func (j *Journal) commit(batch []entry, durable bool) (lost map[string]bool, err error) {
	for try := 1; ; try++ {
		lost, err = j.commitOnce(batch, durable)
		if err == nil || !retryable(err) || try == 5 {
			return lost, err
		}
	}
}

// commitOnce is one try of commit.
func (j *Journal) commitOnce(batch []entry, durable bool) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if !durable {
		b.Queue("SET LOCAL synchronous_commit = off")
	} else {
		b.Queue("SET LOCAL synchronous_commit = on")
	}
	recs := make([]string, len(batch))
	keys := make([]string, len(batch))
	leased := make([]bool, len(batch))
	var want []string // letters leased records are of
	for i, e := range batch {
		recs[i], keys[i], leased[i] = e.rec, e.letter, e.leased
		if e.leased {
			want = append(want, e.letter)
		}
	}
	var held []string
	switch {
	case len(batch) == 0:
		b.Queue("UPDATE mailmerge.campaigns SET closed = now() WHERE id = $1", j.id)
	case len(want) == 0:
		b.Queue(`INSERT INTO mailmerge.records (campaign, letter, rec)
			SELECT $1, k, r::jsonb FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(r, k, n) ORDER BY n`, j.id, recs, keys)
	default:
		// The leases are locked in the order of their letters, as every
		// statement that locks several does: no two transactions wait
		// for each other.
		b.Queue(`SELECT 1 FROM mailmerge.leases WHERE campaign = $1 AND letter = ANY($2::text[]) ORDER BY letter FOR UPDATE`, j.id, want)
		b.Queue(`WITH held AS (
				UPDATE mailmerge.leases SET expires = greatest(expires, now() + $6 * interval '1 millisecond')
				WHERE campaign = $1 AND letter = ANY($7::text[]) AND owner = $5
				RETURNING letter),
			ins AS (
				INSERT INTO mailmerge.records (campaign, letter, rec)
				SELECT $1, k, r::jsonb FROM unnest($2::text[], $3::text[], $4::bool[]) WITH ORDINALITY AS t(r, k, g, n)
				WHERE NOT g OR k IN (SELECT letter FROM held) ORDER BY n)
			SELECT letter FROM held`, j.id, recs, keys, leased, j.owner, j.db.lease().Milliseconds(), want).
			Query(func(rows pgx.Rows) error {
				var err error
				held, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			})
	}
	b.Queue("COMMIT")
	if err := j.conn.SendBatch(ctx, b).Close(); err != nil {
		rollback(j.conn)
		return nil, err
	}
	if len(want) == 0 {
		return nil, nil
	}
	lost := make(map[string]bool, len(want))
	for _, k := range want {
		lost[k] = true
	}
	for _, k := range held {
		delete(lost, k)
	}
	return lost, nil
}

// rollback ends the transaction a failed batch left open: the statements
// after the failed one, its COMMIT among them, were not run, and the
// connection would refuse every statement after (25P02). A connection
// that cannot is closed, and opened anew by its next user.
func rollback(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		conn.Close(ctx)
	}
}

// retryable reports an error a transaction may be tried again after: a
// deadlock or a serialization failure, which the server resolves by
// cancelling one of the transactions.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// Commits reports how many transactions the journal committed, for
// measurements.
func (j *Journal) Commits() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.commits
}

// Syncs reports how many of the transactions were committed
// synchronously, waiting for the server's disk: a file's fsyncs.
func (j *Journal) Syncs() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.syncs
}

// Close commits what is queued, durably, gives the leases back, and the
// campaign's lock (with the connection).
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closing {
		j.mu.Unlock()
		return nil
	}
	j.closing = true
	j.cond.Broadcast()
	for !j.stopped {
		j.cond.Wait()
	}
	err := j.err
	j.mu.Unlock()
	if err == nil {
		// The closing time, durably: it also flushes the log past the
		// records committed without waiting for it.
		_, err = j.commit(nil, true)
	}
	if j.aux != nil {
		if rerr := j.release(); err == nil {
			err = rerr
		}
		j.auxMu.Lock()
		j.aux.Close(context.Background())
		j.aux = nil
		j.auxMu.Unlock()
	}
	if cerr := j.conn.Close(context.Background()); err == nil {
		err = cerr
	}
	return err
}

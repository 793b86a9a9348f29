package pgjournal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
)

// Journal is a campaign's journal open in PostgreSQL, locked for this
// process. It answers what the journal knows (Lookup, Due, Known, ...)
// from its Index, in memory, and writes records from one goroutine.
type Journal struct {
	// Index is the state of every letter, as the records say, filled
	// from the table at Open.
	*journal.Index

	db   DB
	conn *pgx.Conn // the writer's alone once Open returns; it holds the lock
	id   int64     // the campaign's
	now  func() time.Time

	mu      sync.Mutex
	cond    *sync.Cond
	pending []string // encoded records not yet sent
	next    int64    // seq of the first of pending
	seq     uint64   // records queued so far
	written uint64   // records committed so far, durable or not
	synced  uint64   // records durable so far
	write   uint64   // the last record a Write waits for
	sync    uint64   // the last record a Commit waits for
	closing bool
	stopped bool
	err     error // sticky: once writing failed, nothing more is recorded
	commits int   // transactions
	syncs   int   // of them, committed synchronously
}

// lockWait is how long Open waits for a campaign's lock held by another
// session: the server frees a killed mailmerge's only once it sees the
// connection closed, a moment after.
var lockWait = 3 * time.Second

// Open opens the journal of the campaign in the database, making the
// tables on first use (Migrate) and the campaign's row, takes the campaign's lock, and reads its records into the
// index. now dates the records that have no time of their own (nil for
// time.Now). When another send holds the campaign, the error wraps
// journal.ErrLocked.
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
	j := &Journal{db: d, conn: conn, id: id, now: now}
	j.cond = sync.NewCond(&j.mu)
	var last int64
	var n int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(seq), 0), count(*) FROM mailmerge.records WHERE campaign = $1", id).Scan(&last, &n); err != nil {
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
	j.next = last + 1
	go j.writer()
	return j, nil
}

// lock takes the campaign's advisory lock for the session, or fails with
// journal.ErrLocked.
func (d DB) lock(ctx context.Context, conn *pgx.Conn) error {
	deadline := time.Now().Add(lockWait)
	for {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey("campaign "+d.Campaign)).Scan(&ok); err != nil {
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
	j.write = max(j.write, seq)
	j.cond.Broadcast()
	for j.written < seq && j.err == nil {
		j.cond.Wait()
	}
	return j.err
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
	j.sync = max(j.sync, seq)
	j.cond.Broadcast()
	for j.synced < seq && j.err == nil {
		j.cond.Wait()
	}
	return j.err
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
	b := journal.Encode(nil, r)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	if j.closing {
		return 0, errors.New("the journal is closed")
	}
	j.pending = append(j.pending, string(b))
	j.seq++
	j.Add(r)
	return j.seq, nil
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
		batch, first, upto := j.pending, j.next, j.seq
		durable := j.sync > j.synced
		j.pending = nil
		j.next += int64(len(batch))
		j.mu.Unlock()
		err := j.commit(batch, first, durable)
		j.mu.Lock()
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

// commit writes batch, whose first record is number first, in one
// transaction and one round trip; durable commits it synchronously. A
// batch of none made durable commits the campaign's closing time, which
// flushes the server's log past every commit before it.
func (j *Journal) commit(batch []string, first int64, durable bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if !durable {
		b.Queue("SET LOCAL synchronous_commit = off")
	} else {
		b.Queue("SET LOCAL synchronous_commit = on")
	}
	if len(batch) > 0 {
		b.Queue(`INSERT INTO mailmerge.records (campaign, seq, rec)
			SELECT $1, $2 + n - 1, r::jsonb FROM unnest($3::text[]) WITH ORDINALITY AS t(r, n)`, j.id, first, batch)
	} else {
		b.Queue("UPDATE mailmerge.campaigns SET closed = now() WHERE id = $1", j.id)
	}
	b.Queue("COMMIT")
	return j.conn.SendBatch(ctx, b).Close()
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

// Close commits what is queued, durably, and gives the campaign's lock
// back (with the connection).
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
		err = j.commit(nil, 0, true)
	}
	if cerr := j.conn.Close(context.Background()); err == nil {
		err = cerr
	}
	return err
}

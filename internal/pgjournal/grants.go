package pgjournal

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Spent is room of a daily limit taken before: n letters (or recipients)
// at a moment.
type Spent struct {
	At time.Time
	N  int
}

// Allowance is an account's daily limit, limit letters (or recipients)
// in any period of per, shared by every process that sends the campaign
// through the account: each takes its room from the database in grants,
// dated by the database's clock (which the machines share; a test's own
// clock in tests), and counted for per after. Grants a process
// took and did not use are given back at the end of its run; a process
// that dies keeps them until they leave the window.
type Allowance struct {
	j          *Journal
	account    string
	what       string // the limit's key: daily_limit, or rate
	limit      int
	per        time.Duration
	recipients bool
	before     []Spent

	mu     sync.Mutex
	grants []grant // this process's, oldest first
}

type grant struct {
	id int64
	n  int
}

// Allowance returns the account's daily limit as the processes sending
// the campaign share it: limit letters, or recipients, in any period of
// per. before is what the journal counts in the window so far: the room
// taken before the first grant (a campaign that moved here from a file).
func (j *Journal) Allowance(account string, limit int, per time.Duration, recipients bool, before []Spent) *Allowance {
	return &Allowance{j: j, account: account, what: "daily_limit", limit: limit, per: per, recipients: recipients, before: before}
}

// Recipients reports whether the limit counts recipients, not letters.
func (a *Allowance) Recipients() bool { return a.recipients }

// Take grants up to n more of the limit to this process, as much as the
// window has room for: 0 when it is full.
func (a *Allowance) Take(ctx context.Context, n int) (int, error) {
	j := a.j
	// Dated by the database's clock, which every machine shares, unless
	// the send has a clock of its own (a test's).
	var now *time.Time
	if j.now != nil {
		t := j.now()
		now = &t
	}
	at := make([]time.Time, len(a.before))
	ns := make([]int32, len(a.before))
	for i, s := range a.before {
		at[i], ns[i] = s.At, int32(s.N)
	}
	var g grant
	err := j.onAux(ctx, func(conn *pgx.Conn) error {
		g = grant{}
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		// One process at a time counts the window and takes from it.
		b.Queue("SELECT pg_advisory_xact_lock($1)", lockKey("grants "+j.db.Campaign+"\x00"+a.account+"\x00"+a.what))
		b.Queue(`INSERT INTO mailmerge.grants (campaign, account, what, owner, at, n)
			SELECT $1, $2, $6, $3, s.at, s.n FROM unnest($4::timestamptz[], $5::int[]) AS s(at, n)
			WHERE NOT EXISTS (SELECT 1 FROM mailmerge.grants WHERE campaign = $1 AND account = $2 AND what = $6)`,
			j.id, a.account, j.owner, at, ns, a.what)
		b.Queue(`INSERT INTO mailmerge.grants (campaign, account, what, owner, at, n)
			SELECT $1, $2, $8, $3, coalesce($4::timestamptz, clock_timestamp()), least($5::int, $6::int - coalesce(sum(n), 0)) FROM mailmerge.grants
			WHERE campaign = $1 AND account = $2 AND what = $8 AND at > coalesce($4::timestamptz, clock_timestamp()) - $7 * interval '1 millisecond'
			HAVING $6::int - coalesce(sum(n), 0) > 0
			RETURNING id, n`, j.id, a.account, j.owner, now, n, a.limit, a.per.Milliseconds(), a.what).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&g.id, &g.n)
			if err == pgx.ErrNoRows {
				return nil // the window is full
			}
			return err
		})
		b.Queue("COMMIT")
		return conn.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, fmt.Errorf("count the %s of %s, %s: %w", a.what, a.name(), j.db.Where(), err)
	}
	if g.n > 0 {
		a.mu.Lock()
		a.grants = append(a.grants, g)
		a.mu.Unlock()
	}
	return g.n, nil
}

// Give gives back n of what this process was granted and did not use,
// from its latest grants.
func (a *Allowance) Give(ctx context.Context, n int) error {
	a.mu.Lock()
	var ids []int64
	var left []int32
	for i := len(a.grants) - 1; i >= 0 && n > 0; i-- {
		g := &a.grants[i]
		m := min(n, g.n)
		g.n -= m
		n -= m
		ids, left = append(ids, g.id), append(left, int32(g.n))
	}
	a.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	err := a.j.onAux(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `UPDATE mailmerge.grants AS g SET n = v.n FROM unnest($1::bigint[], $2::int[]) AS v(id, n) WHERE g.id = v.id`, ids, left)
		return err
	})
	if err != nil {
		return fmt.Errorf("give back room of the %s of %s, %s: %w", a.what, a.name(), a.j.db.Where(), err)
	}
	return nil
}

func (a *Allowance) name() string {
	if a.account == "" {
		return "the account"
	}
	return "account " + a.account
}

// Pace is an account's rate, n letters in any period of per, shared by
// every process that sends the campaign through it: each letter takes
// its turn from the database (a grant of one). It is a sender.Limiter.
type Pace struct {
	a *Allowance
}

// Pace returns the account's rate as the processes sending the campaign
// share it.
func (j *Journal) Pace(account string, n int, per time.Duration) *Pace {
	return &Pace{&Allowance{j: j, account: account, what: "rate", limit: n, per: per}}
}

// Wait returns once the rate has room for a letter more, and takes it;
// it asks again every per/n while it has none.
func (p *Pace) Wait(ctx context.Context) error {
	every := max(p.a.per/time.Duration(max(p.a.limit, 1)), 10*time.Millisecond)
	for {
		g, err := p.a.Take(ctx, 1)
		if err != nil || g == 1 {
			return err
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Allow takes a turn if the rate has room for it now.
func (p *Pace) Allow() bool {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	g, err := p.a.Take(ctx, 1)
	return err == nil && g == 1
}

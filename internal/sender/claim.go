package sender

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
)

// Claims is a journal that several processes send one campaign from at
// once, on several machines (a journal in PostgreSQL): a letter goes out
// only from the process that holds its lease.
type Claims interface {
	// Claim takes the leases of the letters with keys that no other
	// process holds, and reports which this process holds. Before it
	// returns, the journal knows what the other processes recorded of
	// every letter asked: one another sent is not due here. Those
	// records also go to seen, unless it is nil.
	Claim(ctx context.Context, keys []letter.Key, seen func(journal.Record)) ([]bool, error)
	// Release gives up letters held that this run will not send.
	Release(keys []letter.Key)
}

// Allowance is an account's daily limit shared with other processes
// sending through it: a run takes room from it in grants before it hands
// the account letters.
type Allowance interface {
	// Take grants up to n more; 0 when the limit is reached.
	Take(ctx context.Context, n int) (int, error)
	// Give gives back n granted and not used, at the end of a run.
	Give(ctx context.Context, n int) error
	// Recipients reports whether it counts recipients, not letters.
	Recipients() bool
}

const (
	// claimBatch is how many letters a process asks the leases of at
	// once.
	claimBatch = 64
	// grantSize is how much of a shared daily limit an account takes at
	// once: what a process that dies holds back until it leaves the
	// window.
	grantSize = 8
)

// claiming is each for a run whose journal other processes send the
// same letters from (Pool.Claims). A letter still due is let in once
// this process holds its lease, in batches; one another process holds
// waits for the end of the list, and is let in once it comes free: sent
// by the other (and settled here too), or given up (and due here). One
// the other tried and left deferred, it leaves to the next run. After
// full is set, or ctx ends, the letters are let in as they are, marked
// unclaimed: the dispatcher counts them and sends none.
func (p *Pool) claiming(ctx context.Context, full *atomic.Bool, each func(func(*letter.Letter) bool) error) func(func(*letter.Letter) bool) error {
	return func(yield func(*letter.Letter) bool) error {
		leaving := func() bool { return ctx.Err() != nil || full.Load() }
		// pass lets a letter in without its lease: counted, not sent.
		pass := func(l *letter.Letter) {
			if _, due := p.Lookup(l); len(due) > 0 {
				p.unclaimed.Store(l.Key, true)
			}
			yield(l)
		}
		// sentElsewhere lets a letter in that was due at the start and
		// another process settled since.
		sentElsewhere := func(l *letter.Letter) {
			p.elsewhere.Store(l.Key, true)
			yield(l)
		}

		// claim asks for the leases of ls, lets in those it gets and
		// those settled elsewhere meanwhile, and returns the rest.
		claim := func(ls []*letter.Letter) ([]*letter.Letter, error) {
			var rest []*letter.Letter
			for len(ls) > 0 {
				n := min(len(ls), claimBatch)
				part := ls[:n]
				ls = ls[n:]
				if leaving() {
					rest = append(rest, part...)
					continue
				}
				keys := make([]letter.Key, n)
				for i, l := range part {
					keys[i] = l.Key
				}
				held, err := p.Claims.Claim(ctx, keys, nil)
				if err != nil {
					return append(rest, append(part, ls...)...), err
				}
				var settled []letter.Key
				for i, l := range part {
					e, due := p.Lookup(l)
					switch {
					case held[i] && len(due) > 0:
						yield(l)
					case held[i]:
						settled = append(settled, l.Key)
						sentElsewhere(l)
					case len(due) == 0 && e.State == journal.Unknown:
						// An eod and no outcome yet, at a process that
						// still holds it: in flight, most likely.
						rest = append(rest, l)
					case len(due) == 0:
						sentElsewhere(l)
					case e.State == journal.Deferred:
						// Tried by the process that holds it, and left
						// for later: the next run's.
						pass(l)
					default:
						rest = append(rest, l)
					}
				}
				p.Claims.Release(settled)
			}
			return rest, nil
		}
		var batch, later []*letter.Letter
		var claimErr error
		err := each(func(l *letter.Letter) bool {
			if _, due := p.Lookup(l); len(due) == 0 {
				return yield(l)
			}
			if leaving() || claimErr != nil {
				pass(l)
				return true
			}
			if batch = append(batch, l); len(batch) < claimBatch {
				return true
			}
			var rest []*letter.Letter
			rest, claimErr = claim(batch)
			batch, later = nil, append(later, rest...)
			return true
		})
		if claimErr == nil {
			var rest []*letter.Letter
			rest, claimErr = claim(batch)
			later = append(later, rest...)
		} else {
			later = append(later, batch...)
		}
		// The letters others hold: asked again until each is settled
		// elsewhere or comes free.
		if p.OnWait != nil && claimErr == nil && err == nil && len(later) > 0 && !leaving() {
			p.OnWait(len(later))
		}
		for claimErr == nil && err == nil && len(later) > 0 && !leaving() {
			if !sleep(ctx, p.claimPoll()) {
				break
			}
			later, claimErr = claim(later)
		}
		for _, l := range later {
			pass(l) // the run stops: counted, not sent
		}
		if err == nil {
			err = claimErr
		}
		return err
	}
}

// claimPoll is how often the letters others hold are asked for again.
func (p *Pool) claimPoll() time.Duration {
	if p.ClaimPoll > 0 {
		return p.ClaimPoll
	}
	return time.Second
}

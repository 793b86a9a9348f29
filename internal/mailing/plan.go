package mailing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/selection"
)

// notePlan says, before a send, what the journal shows that the user
// may not expect: a campaign renamed, a new journal beside others that
// sent these rows, letters delivered to another destination. A mailing
// that takes its name from a copied config file while another journal
// sent its rows is stopped: nobody chose to send it twice.
func (s *send) notePlan(plan campaign.Plan) error {
	cfg, w := s.cfg, s.notes
	journalName := filepath.Base(cfg.Send.Journal)
	if db, ok := journalDB(cfg, nil); ok {
		journalName = "the journal of " + db.Where()
	}
	var before, copies []string // journals in this folder, and in others
	for _, name := range slices.Sorted(maps.Keys(plan.Before)) {
		if filepath.IsAbs(name) {
			copies = append(copies, name)
		} else {
			before = append(before, name)
		}
	}
	switch {
	case len(copies) > 0 && !s.opts.NewMailing:
		other := copies[0]
		return &Error{Kind: Locked,
			Err: fmt.Errorf("this mailing (campaign %q) was sent from another folder, %s: its journal there has letters for %d of its %s, and a send from here would send them again",
				cfg.Campaign, filepath.Dir(other), plan.Before[other], Plural(plan.Letters, "row")),
			Hint: fmt.Sprintf("send from that folder; or, to go on from here, move %s (and %s.secret) here\n"+
				"if this is another mailing that has the same name, send it with --new-mailing, or give it a campaign: name of its own", other, filepath.Base(other))}
	case len(copies) > 0:
		for _, other := range copies {
			fmt.Fprintf(w, "warning: --new-mailing: the mailing of %s sent letters for %d of these %s; they go out again, as a new mailing\n",
				other, plan.Before[other], Plural(plan.Letters, "row"))
		}
	}
	switch {
	case plan.Renamed:
		fmt.Fprintf(w, "warning: %s has records of %s, none of them in this mailing: if campaign: (%q) changed, every letter goes out again\n",
			journalName, Plural(plan.Recorded, "letter"), cfg.Campaign)
	case len(before) > 0 && cfg.CampaignFromFile:
		other := before[0]
		old := strings.TrimSuffix(other, ".journal")
		return &Error{Kind: Config,
			Err: fmt.Errorf("%s names no campaign, so this mailing is called %q after the file and has sent nothing; but %s sent letters for %d of its %s: it looks like a mailing sent before under another name",
				filepath.Base(cfg.File), cfg.Campaign, other, plan.Before[other], Plural(plan.Letters, "row")),
			Hint: fmt.Sprintf("to go on with that mailing (sending only what it has not sent), add to %s the line: campaign: %q\n"+
				"to send these rows a new letter, add campaign: with a name of its own", filepath.Base(cfg.File), old)}
	case len(before) > 0:
		for _, other := range before {
			fmt.Fprintf(w, "warning: campaign %q is new, but %s sent letters for %d of its %s: they all go out again, as a new mailing; if this is that mailing under a new name, stop here and set campaign: to its old name\n",
				cfg.Campaign, other, plan.Before[other], Plural(plan.Letters, "row"))
		}
	case plan.Recorded == 0 && len(plan.Unsure) > 0:
		// A journal older than fingerprints cannot say which rows it sent:
		// name it, the clue to a campaign renamed by mistake.
		fmt.Fprintf(w, "note: nothing of campaign %q was sent before (%s is new); this folder has %s of other campaigns: if this mailing had another name, stop here and rename that journal to %s\n",
			cfg.Campaign, journalName, strings.Join(plan.Unsure, ", "), journalName)
	}
	if n := len(plan.Regrouped); n > 0 {
		fmt.Fprintf(w, "warning: %s of grouped rows went out before with other rows than %s now (%s %s): %s not sent again, so the new rows reach nobody; send them as a campaign of their own (campaign:, --where)\n",
			Plural(n, "letter"), agree(n, "it has", "they have"), LineWord(n), JoinInts(plan.Regrouped), agree(n, "it is", "they are"))
	}
	for _, dest := range slices.Sorted(maps.Keys(plan.Elsewhere)) {
		n := plan.Elsewhere[dest]
		fmt.Fprintf(w, "%s delivered to %s before, not to %s: %s sent again, to %s recipients there\n",
			Plural(n, "letter"), destinationName(dest), describe(s.accounts), agree(n, "it is", "they are"), agree(n, "its", "their"))
	}
	return nil
}

// destinationName says a journal's destination for people.
func destinationName(dest string) string {
	kind, where, _ := strings.Cut(dest, ":")
	switch kind {
	case "maildir":
		return "Maildir " + where
	case journal.SMTP:
		return "an SMTP server"
	}
	return dest
}

// invalidRows records the rows a --skip-invalid send leaves out, once it
// is sending (not during the check before).
// A test send (test set) records nothing: like its letters, its invalid
// rows settle nothing.
type invalidRows struct {
	j        Journal
	campaign string
	dest     string
	test     bool
	shard    campaign.Shard // a shard records the invalid rows that are its (by letter.InvalidKey)
	sending  bool
	lines    []int
}

func (v *invalidRows) record(rec *recipients.Record, fp uint64, err error) {
	if v.sending {
		v.lines = append(v.lines, rec.Line)
		if k := letter.InvalidKey(v.campaign, fp); !v.test && v.shard.HasKey(k) {
			v.j.RecordInvalid(k, v.dest, rec.Line, fp, err.Error())
		}
	}
}

// window is send.daily_limit as the journal has it at a moment: what is
// left of it, and the deliveries it counts, which leave it one by one.
type window struct {
	account    string // of several; "" for the one
	quota      config.Quota
	recipients bool      // it counts recipients, not letters
	now        time.Time // the send's clock
	oldest     time.Time // the oldest delivery counted; zero for none
	left       int
	counted    []journal.Delivery // the deliveries counted, oldest first
}

// openWindow rebuilds send.daily_limit's window at now from the
// journal's deliveries to dest, whichever run made them; nil without a
// limit. A delivery counts for Per after it went: at that moment it has
// left the window. For an account of several (cfg is as it sees it),
// only its own deliveries count.
func openWindow(cfg *config.Config, dest, account string, now time.Time) (*window, error) {
	q := cfg.Send.DailyLimit
	if q.N == 0 {
		return nil, nil
	}
	w := &window{account: account, quota: q, recipients: cfg.Send.CountsRecipients(), now: now, left: q.N}
	done, err := journal.DeliveriesIn(journalRecords(context.Background(), cfg), dest, now.Add(-q.Per+1))
	if err != nil {
		return nil, &Error{Kind: Internal, Err: fmt.Errorf("count the letters of send.daily_limit: %w", err)}
	}
	for _, d := range done {
		if d.Time.After(now) || account != "" && d.Account != account {
			continue // a clock set back (a delivery "later" does not count), or another account's
		}
		if w.oldest.IsZero() {
			w.oldest = d.Time
		}
		w.left -= w.cost(d)
		w.counted = append(w.counted, d)
	}
	return w, nil
}

// cost is what a delivery takes of the window.
func (w *window) cost(d journal.Delivery) int {
	if w.recipients {
		return d.Rcpts
	}
	return 1
}

// room finds when the window has room for n more letters (or
// recipients), and more than it has now: when enough of the deliveries
// it counts have left it. ok is false when no delivery leaving makes
// that room (n is more than the whole limit).
func (w *window) room(n int) (at time.Time, ok bool) {
	free := w.left
	for _, d := range w.counted {
		free += w.cost(d)
		if free >= n && free > w.left {
			return d.Time.Add(w.quota.Per), true
		}
	}
	return time.Time{}, false
}

// advance moves the window on to t: the deliveries that left it by then
// give their room back.
func (w *window) advance(t time.Time) {
	for len(w.counted) > 0 && !w.counted[0].Time.Add(w.quota.Per).After(t) {
		w.left += w.cost(w.counted[0])
		w.counted = w.counted[1:]
	}
	if t.After(w.now) {
		w.now = t
	}
}

// roomAt is what the window has room for at t, no later than now's
// deliveries: what is left of it now, and what leaves it by t.
func (w *window) roomAt(t time.Time) int {
	free := w.left
	for _, d := range w.counted {
		if d.Time.Add(w.quota.Per).After(t) {
			break
		}
		free += w.cost(d)
	}
	return free
}

// String names the limit for people: send.daily_limit of 500 recipients
// per 24 h.
func (w *window) String() string {
	unit := "letter"
	if w.recipients {
		unit = "recipient"
	}
	key := "send.daily_limit"
	if w.account != "" {
		key = "the daily_limit of account " + w.account
	}
	return fmt.Sprintf("%s of %s per %s", key, Plural(w.quota.N, unit), w.quota.Window())
}

// next says when the next letters can go: when the oldest delivery the
// window counts (this run's first, when it counted none) leaves it, in
// the clock's zone: "at 09:14 tomorrow (Tue 8 Dec)".
func (w *window) next() string {
	from := w.oldest
	if from.IsZero() {
		from = w.now
	}
	return sayAt(from.Add(w.quota.Per), w.now, w.quota.Per < time.Hour)
}

// sayAt says when t is, seen at now, in now's zone: "at 09:14 today",
// "at 09:14 tomorrow (Tue 8 Dec)", "at 09:14 on Thu 10 Dec"; with
// seconds when fine. It rounds up: never earlier than it is.
func sayAt(t, now time.Time, fine bool) string {
	at, layout := roundUp(t, now, fine)
	switch days := daysAfter(at, now); days {
	case 0:
		return "at " + at.Format(layout) + " today"
	case 1:
		return "at " + at.Format(layout) + " tomorrow (" + at.Format("Mon 2 Jan") + ")"
	default:
		return "at " + at.Format(layout) + " on " + at.Format("Mon 2 Jan")
	}
}

// sayBy says about when t is, seen at now, as a plan says its end:
// "~11:00 today", "~11:00 tomorrow", "Thursday ~11:00", "Thu 17 Dec
// ~11:00".
func sayBy(t, now time.Time, fine bool) string {
	at, layout := roundUp(t, now, fine)
	switch days := daysAfter(at, now); {
	case days == 0:
		return "~" + at.Format(layout) + " today"
	case days == 1:
		return "~" + at.Format(layout) + " tomorrow"
	case days < 7:
		return at.Format("Monday") + " ~" + at.Format(layout)
	default:
		return at.Format("Mon 2 Jan") + " ~" + at.Format(layout)
	}
}

// roundUp is t in now's zone, rounded up to the minute (to the second
// when fine), with the layout that says it.
func roundUp(t, now time.Time, fine bool) (time.Time, string) {
	at := t.In(now.Location())
	step, layout := time.Minute, "15:04"
	if fine {
		step, layout = time.Second, "15:04:05"
	}
	if r := at.Truncate(step); !r.Equal(at) {
		at = r.Add(step)
	}
	return at, layout
}

// daysAfter counts the calendar days from now's to t's, in now's zone.
func daysAfter(t, now time.Time) int {
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
	return int(day(t.In(now.Location())).Sub(day(now)).Hours() / 24)
}

// reached is the error of a send that finds the window full.
func (w *window) reached() error {
	return &Error{Kind: Rerun, Err: fmt.Errorf("%s reached: the next letters can go %s", w, w.next()), Hint: "run send again then, or send --wait, which waits for it"}
}

// stopped is the error of a run of sent letters that stopped at the
// window, with letters left to send.
func (w *window) stopped(sent int) error {
	return &Error{Kind: Rerun, Err: fmt.Errorf("stopped at %s: %s went in this run; the next letters can go %s", w, Plural(sent, "letter"), w.next()),
		Hint: "run send again then, or send --wait, which waits for it; mailmerge report lists the letters still to send"}
}

// runLimits are what this run may send: --limit and what is left of
// send.daily_limit.
type runLimits struct {
	max    int     // letters (Pool.MaxLetters); 0 for no limit
	budget int     // recipients (Pool.Budget); 0 for no limit
	left   int     // what is left of send.daily_limit; 0 without one
	window *window // send.daily_limit at the start of the run; nil for none
	// windows are the daily limits of several accounts at the start of
	// the run, those that take letters.
	windows []*window
}

// runLimit finds what a run may send: at most limit letters (--limit, 0
// for all), and what is left of the window (nil for none), in letters or
// in recipients as it counts.
func runLimit(limit int, w *window) (runLimits, error) {
	if w == nil {
		return runLimits{max: limit}, nil
	}
	if w.left <= 0 {
		return runLimits{}, w.reached()
	}
	l := runLimits{max: limit, left: w.left, window: w}
	switch {
	case w.recipients:
		l.budget = w.left
	case limit == 0 || w.left < limit:
		l.max = w.left
	}
	return l, nil
}

// estimate says how long the run letters of this run take at the rate,
// and, when send.daily_limit (q, left of it now, counting recipients or
// letters) holds back some of the due letters still to send, over how
// many windows they go, and then what (re-run send after each, when
// then is ""); "" when there is nothing to say. Counting recipients,
// every letter is taken to have one: the days are at least those said.
func estimate(run, due, left int, q config.Quota, recipients bool, r config.Rate, then string) string {
	var parts []string
	if d := r.Time(run); d >= time.Minute {
		parts = append(parts, fmt.Sprintf("%s letters at %s: about %s", thousands(run), r, roughly(d)))
	}
	if q.N > 0 && left > 0 && run == left && due > run {
		n := 1 + (due-run+q.N-1)/q.N
		limit, atLeast := thousands(q.N), ""
		if recipients {
			limit, atLeast = limit+" recipients", "at least "
		}
		if q.Per == config.Day {
			parts = append(parts, fmt.Sprintf("%s letters, daily_limit %s: %s%d days (%s today), %s",
				thousands(due), limit, atLeast, n, thousands(run), cmp.Or(then, "re-run send each day")))
		} else {
			parts = append(parts, fmt.Sprintf("%s letters, daily_limit %s per %s: %s%d windows (%s now), %s",
				thousands(due), limit, q.Window(), atLeast, n, thousands(run), cmp.Or(then, "re-run send after each")))
		}
	}
	return strings.Join(parts, "; ")
}

// roughly says a duration as people plan with it, rounded up: 34 min,
// 2 h 5 min.
func roughly(d time.Duration) string {
	m := int((d + time.Minute - 1) / time.Minute)
	if m < 60 {
		return fmt.Sprintf("%d min", m)
	}
	if m%60 == 0 {
		return fmt.Sprintf("%d h", m/60)
	}
	return fmt.Sprintf("%d h %d min", m/60, m%60)
}

// thousands writes n with commas between thousands: 12,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Problems gives the end of a pass over the rows its kind: a Data error
// that says how many problems (said already) stopped it.
func Problems(sum campaign.Summary, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, campaign.ErrProblems):
		rows := sum.Rows - sum.Unselected // the rows checked
		hint := fmt.Sprintf("%s in %s; nothing was sent", Plural(sum.Errors, "problem"), Plural(rows, "row"))
		if rows == 0 {
			hint = fmt.Sprintf("%s; nothing was sent", Plural(sum.Errors, "problem"))
		}
		if sum.Skippable() {
			hint += "\nsend --skip-invalid sends the letters of the other rows"
		}
		return &Error{Kind: Data, Quiet: true, Err: err, Hint: hint}
	}
	return err
}

// NoneChosen is the error when --rows and --where choose no row: a typo
// in a value, most often, which must not look like an empty mailing.
func NoneChosen(sel *selection.Selection, sum campaign.Summary) error {
	if sel.All() || sum.Rows == 0 || sum.Rows > sum.Unselected {
		return nil
	}
	return &Error{Kind: Data, Err: fmt.Errorf("no rows chosen by %s (of %s)", sel, Plural(sum.Rows, "row")),
		Hint: "values are compared exactly, case included; COLUMN~REGEX matches part of a value ((?i) ignores case), and --rows takes the lines check reports"}
}

package bounce

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sent are the letters the fixtures are about, as a journal would give
// them: keys are the ENVIDs they were sent with.
func sent() *Sent {
	s := NewSent()
	for _, l := range []*Letter{
		{Key: "k5tq2mvxh7ngz3e4rj6wd2fy4pq3ulcs", Rcpt: []string{"Ivanov.Petr@example.com", "ivanov.parent@example.com"}},
		{Key: "3bq7xkz2m4n6p7r2t4v6x7z2b4d6f7hj", Rcpt: []string{"sidorova@students.example.net"}},
		{Key: "m2p4r6t7v2x4z6b7d2f4h6j7k2m4n6p7", Rcpt: []string{"a.smirnov@university.example"}},
		{Key: "q7w2e4r6t7y2u4i6o7p2a4s6d7f2g4h6", Rcpt: []string{"Kuznetsova@oldschool.example"}},
		{Key: "x2c4v6b7n2m4q6w7e2r4t6y7u2i4o6p7", Rcpt: []string{"p.petrov@contoso.com"}},
		{Key: "h3j5k7l6z3x5c7v6b3n5m7q6w3e5r7t6", Rcpt: []string{"nosuch.student@gmail.com"}},
		{Key: "d4f6h7j2k4l6z7x2c4v6b7n2m4q6w7e2", Rcpt: []string{"nosuch.stud@yandex.ru"}},
		{Key: "r2t4y6u7i2o4p6a7s2d4f6g7h2j4k6l7", Rcpt: []string{"ivan@example.com"}},
	} {
		l.MessageID = "<" + l.Key + "@example.org>"
		s.Add(l)
	}
	return s
}

func TestReports(t *testing.T) {
	tests := []struct {
		file     string
		standard bool
		subject  string
		// what each matched recipient comes to: rcpt action status by,
		// and a piece of the diagnostic
		want []string
		diag string
	}{
		{"postfix-failed.eml", true, "Undelivered Mail Returned to Sender",
			[]string{"Ivanov.Petr@example.com failed 5.1.1 envid"}, `unknown user: "ivanov.petr"`},
		{"postfix-delayed.eml", true, "Delayed Mail (still being retried)",
			[]string{"sidorova@students.example.net delayed 4.4.1 envid"}, "Connection timed out"},
		{"exim-plain.eml", false, "Mail delivery failed: returning message to sender",
			[]string{"a.smirnov@university.example failed 5.2.1 message-id"}, "550 5.2.1 The email account that you tried to reach is disabled"},
		{"qmail.eml", false, "failure notice",
			[]string{"Kuznetsova@oldschool.example failed 5.1.1 message-id"}, "no mailbox here by that name"},
		{"office365.eml", true, "Undeliverable: Course announcement",
			[]string{"p.petrov@contoso.com failed 5.1.10 message-id"}, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"},
		{"gmail.eml", true, "Delivery Status Notification (Failure)",
			[]string{"nosuch.student@gmail.com failed 5.1.1 message-id"}, "The email account that you tried to reach does not exist."},
		{"yandex.eml", true, "Недоставленное сообщение",
			[]string{"nosuch.stud@yandex.ru failed 5.7.1 envid"}, "550 5.7.1 No such user!"},
		{"out-of-office.eml", false, "", nil, ""},
		{"reply.eml", false, "", nil, ""},
	}
	s := sent()
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rep, err := Parse(f)
			if tt.want == nil {
				if !errors.Is(err, ErrNotReport) {
					t.Fatalf("Parse = %+v, %v; want ErrNotReport", rep, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Standard != tt.standard || rep.Subject != tt.subject || rep.MessageID == "" || rep.Date.IsZero() {
				t.Errorf("standard %v, subject %q, id %q, date %v", rep.Standard, rep.Subject, rep.MessageID, rep.Date)
			}
			matched, unmatched := s.Match(rep)
			var got []string
			for _, m := range matched {
				got = append(got, strings.Join([]string{m.Rcpt, string(m.Action), m.Status, m.By}, " "))
				if !strings.Contains(m.Diagnostic, tt.diag) {
					t.Errorf("diagnostic %q, want it to hold %q", m.Diagnostic, tt.diag)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") || len(unmatched) > 0 {
				t.Errorf("matched:\n%s\nunmatched %+v\nwant:\n%s", strings.Join(got, "\n"), unmatched, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestUnknownLetter: a report of a letter of another mailing matches
// nothing, and says so.
func TestUnknownLetter(t *testing.T) {
	f, _ := os.Open(filepath.Join("testdata", "postfix-failed.eml"))
	defer f.Close()
	rep, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	matched, unmatched := NewSent().Match(rep)
	if len(matched) != 0 || len(unmatched) != 1 || unmatched[0].Final != "ivanov.petr@example.com" {
		t.Errorf("matched %+v, unmatched %+v", matched, unmatched)
	}
}

func TestXtext(t *testing.T) {
	for in, want := range map[string]string{
		"ann+2Bcourse@example.com": "ann+course@example.com",
		"plain@example.com":        "plain@example.com",
		"bad+zz@example.com":       "bad+zz@example.com",
		"end+2":                    "end+2",
	} {
		if got := decodeXtext(in); got != want {
			t.Errorf("decodeXtext(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: any bytes give a report or an error, never a panic, and a
// report's recipients are never made up of nothing.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Parse(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		if rep.Standard && len(rep.Recipients) == 0 {
			t.Errorf("a standard report without recipients: %+v", rep)
		}
		if !rep.Standard && len(rep.Letters) == 0 {
			t.Errorf("a bounce that quotes no letter: %+v", rep)
		}
		sent().Match(rep)
	})
}

// TestNotBlamed: a bounce names the recipient that failed; the others of
// the letter, named only in the letter it quotes or as part of a longer
// address, are not blamed. A report about a test send of a letter, or
// about an address the letter was not sent to, matches no recipient.
func TestNotBlamed(t *testing.T) {
	s := NewSent()
	s.Add(&Letter{Key: "k5tq2mvxh7ngz3e4rj6wd2fy4pq3ulcs", MessageID: "<k5tq2mvxh7ngz3e4rj6wd2fy4pq3ulcs@example.org>", Rcpt: []string{"ann@example.com", "joann@example.com", "bob@example.com"}})
	s.Add(&Letter{Key: "3bq7xkz2m4n6p7r2t4v6x7z2b4d6f7hj", MessageID: "<3bq7xkz2m4n6p7r2t4v6x7z2b4d6f7hj@example.org>", Rcpt: []string{"sidorova@students.example.net"}})
	exim := strings.NewReplacer(
		"  a.smirnov@university.example\n", "  joann@example.com\n",
		"RCPT TO:<a.smirnov@university.example>", "RCPT TO:<joann@example.com>",
		"To: a.smirnov@university.example", "To: ann@example.com, joann@example.com, bob@example.com",
		"m2p4r6t7v2x4z6b7d2f4h6j7k2m4n6p7", "k5tq2mvxh7ngz3e4rj6wd2fy4pq3ulcs",
	).Replace(string(fixture(t, "exim-plain.eml")))
	rep, err := Parse(strings.NewReader(exim))
	if err != nil {
		t.Fatal(err)
	}
	matched, _ := s.Match(rep)
	if len(matched) != 1 || matched[0].Rcpt != "joann@example.com" || matched[0].Status != "5.2.1" {
		t.Errorf("matched %+v, want joann alone with 5.2.1", matched)
	}

	// A test send's report: ENVID key.test, the test's Message-ID returned.
	test := strings.NewReplacer(
		"Original-Envelope-Id: 3bq7xkz2m4n6p7r2t4v6x7z2b4d6f7hj", "Original-Envelope-Id: 3bq7xkz2m4n6p7r2t4v6x7z2b4d6f7hj.test",
		"<3bq7xkz2m4n6p7r2t4v6x7z2b4d6f7hj@example.org>", "<3bq7xkz2m4n6p7r2t4v6x7z2b4d6f7hj.test@example.org>",
		"sidorova@students.example.net", "tester@typo.example",
	).Replace(string(fixture(t, "postfix-delayed.eml")))
	// The same with the letter's own ENVID but the test's Message-ID, and
	// with the right letter but another address as ORCPT.
	envidOnly := strings.NewReplacer(
		"<3bq7xkz2m4n6p7r2t4v6x7z2b4d6f7hj@example.org>", "<3bq7xkz2m4n6p7r2t4v6x7z2b4d6f7hj.test@example.org>",
	).Replace(string(fixture(t, "postfix-delayed.eml")))
	otherRcpt := strings.NewReplacer("sidorova@students.example.net", "tester@typo.example").Replace(string(fixture(t, "postfix-delayed.eml")))
	for name, text := range map[string]string{"test send": test, "test's Message-ID": envidOnly, "another address": otherRcpt} {
		rep, err := Parse(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		if matched, _ := s.Match(rep); len(matched) != 0 {
			t.Errorf("%s: matched %+v", name, matched)
		}
	}
}

// TestReportTextIsData: a report's subject, addresses and diagnostic are
// anybody's text: what a terminal would act on comes out as escapes, so
// neither bounces nor report prints it, and the journal does not keep it.
func TestReportTextIsData(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "postfix-failed.eml"))
	if err != nil {
		t.Fatal(err)
	}
	hostile := strings.Replace(string(b), "Diagnostic-Code: X-Postfix;", "Diagnostic-Code: X-Postfix; \x1b]0;owned\x07\x1b[2J\u202e", 1)
	hostile = strings.Replace(hostile, "Subject: ", "Subject: \x1b[31m", 1)
	if hostile == string(b) {
		t.Fatal("the fixture changed: no Diagnostic-Code or Subject to make hostile")
	}
	rep, err := Parse(strings.NewReader(hostile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append([]string{rep.Subject}, rep.Recipients[0].Diagnostic, rep.Recipients[0].Final) {
		if strings.ContainsAny(s, "\x1b\x07\u202e") {
			t.Errorf("raw control characters in %q", s)
		}
	}
	if !strings.Contains(rep.Recipients[0].Diagnostic, `\x1b]0;owned\x07\x1b[2J\u202e`) || !strings.HasPrefix(rep.Subject, `\x1b[31m`) {
		t.Errorf("diagnostic %q, subject %q: want the escapes shown", rep.Recipients[0].Diagnostic, rep.Subject)
	}
}

// TestNotABounce: only a report that says a letter failed records a
// bounce. Notices of success and relay, read receipts (RFC 8098), an
// auto-reply signed "Mail Delivery System", a person's reply about
// returned mail and a forward of a bounce each name the recipient and
// quote the letter's Message-ID, and none marks anybody.
func TestNotABounce(t *testing.T) {
	for _, file := range []string{"success-plain.eml", "relay-plain.eml", "mdn.eml", "autoreply-signed.eml", "reply-returned.eml", "forward-returned.eml", "reply.eml", "out-of-office.eml"} {
		t.Run(file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Parse(strings.NewReader(string(b)))
			if errors.Is(err, ErrNotReport) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			matched, _ := sent().Match(rep)
			for _, m := range matched {
				if m.Action == Failed || m.Action == Delayed {
					t.Errorf("%s recorded as %s (%s)", m.Rcpt, m.Action, m.Diagnostic)
				}
			}
		})
	}
}

// TestForgedReport: a letter's ENVID and Message-ID carry a tag only the
// campaign's secret makes (letter.Tag). A report that names the letter by
// what anybody can compute from the campaign's name and an address (its
// key) is about no letter; one that carries the tag, as the server's own
// does, is matched.
func TestForgedReport(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "postfix-failed.eml"))
	if err != nil {
		t.Fatal(err)
	}
	const key = "k5tq2mvxh7ngz3e4rj6wd2fy4pq3ulcs"
	tagged := NewSent()
	tagged.Add(&Letter{Key: key, MessageID: "<" + key + ".tagtagtagtagtagt@example.org>", Rcpt: []string{"Ivanov.Petr@example.com", "ivanov.parent@example.com"}})

	forged, err := Parse(strings.NewReader(string(b))) // names the letter by its key alone
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := tagged.Match(forged); len(m) != 0 {
		t.Errorf("a report without the tag matched %d recipients", len(m))
	}
	genuine, err := Parse(strings.NewReader(strings.ReplaceAll(string(b), key, key+".tagtagtagtagtagt")))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := tagged.Match(genuine); len(m) != 1 || m[0].Rcpt != "Ivanov.Petr@example.com" || m[0].By != "envid" {
		t.Errorf("the report with the tag: %+v", m)
	}
}

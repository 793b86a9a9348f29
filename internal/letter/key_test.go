package letter

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/address"
)

func messageID(campaign string, recipients []string, n int, domain string) string {
	return NewKey(campaign, recipients, n).MessageID(domain)
}

func TestMessageIDDependsOnCampaignAndRecipientsOnly(t *testing.T) {
	a := messageID("c1", []string{"B@example.com", "a@example.com"}, 0, "example.org")
	if a != messageID("c1", []string{"a@example.com", "b@example.com"}, 0, "example.org") {
		t.Error("Message-ID depends on order or case")
	}
	for _, other := range []string{
		messageID("c2", []string{"a@example.com", "b@example.com"}, 0, "example.org"),
		messageID("c1", []string{"a@example.com"}, 0, "example.org"),
		messageID("c1", []string{"a@example.com", "b@example.com"}, 1, "example.org"),
	} {
		if other == a {
			t.Errorf("Message-ID %s does not change", a)
		}
	}
}

// TestKeyText: a key is written as the journal and the Message-ID have
// always written it (journals of earlier versions replay), and reads back.
func TestKeyText(t *testing.T) {
	k := NewKey("course-2026", []string{"ivan@example.com"}, 0)
	// The value earlier versions computed for this letter.
	const want = "ro35fahoznusxz6mwrful3kfh5foksqi"
	if k.String() != want {
		t.Errorf("key %s, want %s", k, want)
	}
	if got := k.MessageID("example.edu"); got != "<"+want+"@example.edu>" {
		t.Errorf("Message-ID %s", got)
	}
	var back Key
	if err := back.UnmarshalText([]byte(k.String())); err != nil || back != k {
		t.Errorf("read back %v, %v", back, err)
	}
	for _, bad := range []string{"", "key0", want + "aa", "<" + want + ">"} {
		if err := back.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q read as a key", bad)
		}
	}
}

func TestIdentify(t *testing.T) {
	l := &Letter{From: "dept@example.edu", Recipients: []string{"ivan@example.com"}}
	l.Identify(NewKey("course-2026", l.Recipients, 0))
	if l.Key != NewKey("course-2026", l.Recipients, 0) || l.MessageID != l.Key.MessageID("example.edu") {
		t.Errorf("key %s, Message-ID %s", l.Key, l.MessageID)
	}
}

// TestTag: a letter's Message-ID carries its key's tag under the
// campaign's secret: the same for the same secret, another for another,
// none without one.
func TestTag(t *testing.T) {
	k := NewKey("course", []string{"ann@example.com"}, 0)
	at := func(secret []byte) string {
		l := &Letter{From: "dept@example.edu"}
		l.Identify(k)
		l.Tag(secret)
		return l.MessageID
	}
	a, b := []byte("0123456789abcdef0123456789abcdef"), []byte("another secret of the campaign..")
	if got := at(nil); got != "<"+k.String()+"@example.edu>" {
		t.Errorf("without a secret: %s", got)
	}
	if got, want := at(a), "<"+k.String()+"."+k.Tag(a)+"@example.edu>"; got != want || len(k.Tag(a)) != 16 {
		t.Errorf("with a secret: %s, want %s", got, want)
	}
	again := slices.Clone(a)
	if at(a) != at(again) || at(a) == at(b) {
		t.Errorf("tags: %s, %s, %s", at(a), at(again), at(b))
	}
}

// TestNames: a letter's Message-ID is known by its key, tagged by any
// secret or not; a test copy's, another letter's or a longer tag is not.
func TestNames(t *testing.T) {
	k := NewKey("course", []string{"ann@example.com"}, 0)
	other := NewKey("course", []string{"bob@example.com"}, 0)
	tag := k.Tag([]byte("0123456789abcdef0123456789abcdef"))
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"<" + k.String() + "@example.edu>", true},
		{"<" + k.String() + "." + tag + "@example.edu>", true},
		{" <" + strings.ToUpper(k.String()) + "." + tag + "@Example.EDU> ", true},
		{"<" + k.String() + "." + tag + ".test@example.edu>", false},
		{"<" + k.String() + ".test@example.edu>", false},
		{"<" + k.String() + "." + tag + "x@example.edu>", false},
		{"<" + other.String() + "@example.edu>", false},
		{"<x" + k.String() + "@example.edu>", false},
		{k.String(), false},
	} {
		if got := k.Names(tt.id); got != tt.want {
			t.Errorf("Names(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

// TestRedirect: a test copy goes to the test address alone, says whom it
// stands in for, has a Message-ID of its own and the prefix before its
// subject (as its subject when it has none); the letter it copies is not
// changed.
func TestRedirect(t *testing.T) {
	l := &Letter{From: "dept@example.edu", Recipients: []string{"ivan@example.com", "boss@example.edu"},
		Fields: []Field{{Name: "From", Mailboxes: []address.Mailbox{{Addr: "dept@example.edu"}}}, {Name: "Subject", Value: "Оценки"}}}
	l.Identify(NewKey("c", l.Recipients, 0))
	before := slices.Clone(l.Fields)
	c := l.Redirect(address.Mailbox{Addr: "me@example.org"}, "[TEST] ")
	want := []Field{before[0], {Name: "Subject", Value: "[TEST] Оценки"}, {Name: OriginalTo, Value: "ivan@example.com, boss@example.edu"}}
	if !reflect.DeepEqual(c.Fields, want) || !slices.Equal(c.Recipients, []string{"me@example.org"}) || c.MessageID == l.MessageID || c.Key != l.Key {
		t.Errorf("test copy: %+v", c)
	}
	if !reflect.DeepEqual(l.Fields, before) || len(l.Recipients) != 2 {
		t.Errorf("the letter changed: %+v", l)
	}
	l.Fields = l.Fields[:1]
	if c := l.Redirect(address.Mailbox{Addr: "me@example.org"}, "[TEST] "); len(c.Fields) != 3 || !reflect.DeepEqual(c.Fields[1], Field{Name: "Subject", Value: "[TEST]"}) {
		t.Errorf("no subject: %+v", c.Fields)
	}
	if c := l.Redirect(address.Mailbox{Addr: "me@example.org"}, ""); len(c.Fields) != 2 {
		t.Errorf("no subject, no prefix: %+v", c.Fields)
	}
}

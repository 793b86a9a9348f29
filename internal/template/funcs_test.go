package template

import (
	"errors"
	"strings"
	"testing"
)

func TestPlural(t *testing.T) {
	ru := []string{"балл", "балла", "баллов"}
	en := []string{"point", "points"}
	tests := []struct {
		n     any
		forms []string
		want  string
	}{
		{"1", ru, "1 балл"}, {"2", ru, "2 балла"}, {"4", ru, "4 балла"}, {"5", ru, "5 баллов"},
		{"0", ru, "0 баллов"}, {"11", ru, "11 баллов"}, {"12", ru, "12 баллов"}, {"14", ru, "14 баллов"},
		{"21", ru, "21 балл"}, {"22", ru, "22 балла"}, {"25", ru, "25 баллов"}, {"101", ru, "101 балл"},
		{"111", ru, "111 баллов"}, {"2,5", ru, "2,5 балла"}, {"1.5", ru, "1.5 балла"}, {" 3 ", ru, "3 балла"},
		{"1 001", ru, "1 001 балл"}, {"-1", ru, "-1 балл"}, {7, ru, "7 баллов"},
		{"1", en, "1 point"}, {"0", en, "0 points"}, {"2", en, "2 points"}, {"21", en, "21 points"},
		{"1.0", en, "1.0 points"}, {"1,5", en, "1,5 points"},
	}
	for _, tt := range tests {
		got, err := pluralForm(tt.n, tt.forms...)
		if err != nil || got != tt.want {
			t.Errorf("plural %q %q = %q, %v; want %q", tt.n, tt.forms, got, err, tt.want)
		}
	}
	for _, bad := range []any{"", "  ", "abc", "1,2,3", "5.", "1e3", 2.5} {
		var he *HelperError
		if _, err := pluralForm(bad, ru...); !errors.As(err, &he) {
			t.Errorf("plural %q: err %v, want a HelperError", bad, err)
		}
	}
}

func TestDate(t *testing.T) {
	tests := []struct {
		layout, value, lang, want string
	}{
		{"2 January 2006", "2026-12-02", "ru", "2 декабря 2026"},
		{"2 January 2006", "02.12.2026", "ru", "2 декабря 2026"},
		{"2 January 2006", "2.3.2026", "ru", "2 марта 2026"},
		{"January 2006", "2026-05-01", "ru", "май 2026"},
		{"Monday, 2 January", "2026-12-02", "ru", "среда, 2 декабря"},
		{"Mon 02 Jan 15:04", "2026-09-07 09:30", "ru", "пн 07 сент. 09:30"},
		{"2 January 2006", "2026-12-02", "en", "2 December 2026"},
		{"Monday, January 2", "2026-12-02T10:00:00", "en", "Wednesday, December 2"},
		{"02.01.2006", "2026-12-02", "ru", "02.12.2026"},
	}
	for _, tt := range tests {
		got, err := formatDate(tt.layout, tt.value, tt.lang)
		if err != nil || got != tt.want {
			t.Errorf("date %q %q %q = %q, %v; want %q", tt.layout, tt.value, tt.lang, got, err, tt.want)
		}
	}
	if got, err := formatDate("2 January", "2026-12-02"); err != nil || got != "2 December" {
		t.Errorf("date without a language = %q, %v; want English", got, err)
	}
	for _, bad := range []string{"", "31.02.2026", "12/02/2026", "tomorrow"} {
		var he *HelperError
		if _, err := formatDate("2 January 2006", bad, "ru"); !errors.As(err, &he) || !strings.Contains(err.Error(), "2026-12-02 or 02.12.2026") {
			t.Errorf("date %q: err %v, want a HelperError that says how to write it", bad, err)
		}
	}
}

func TestDefault(t *testing.T) {
	for _, tt := range []struct{ value, want string }{{"", "коллега"}, {" \t", "коллега"}, {"Иван", "Иван"}} {
		if got := defaultValue("коллега", tt.value); got != tt.want {
			t.Errorf("default %q = %q, want %q", tt.value, got, tt.want)
		}
	}
}

// TestHelpersInLetters: helpers work in headers and bodies, a value a row
// gives them that they cannot use is that row's problem at the call, and
// calls that cannot work are found before any row.
func TestHelpersInLetters(t *testing.T) {
	tm := parseText(t, "From: a@example.com\nTo: {{.email}}\nSubject: {{plural .n \"балл\" \"балла\" \"баллов\"}}\n\n"+
		"{{default \"коллега\" .name}}, {{date \"2 January\" .due \"ru\"}}\n{{.name | default \"коллега\"}}\n", testOptions())
	l, err := tm.Execute(Row{Line: 2, Values: map[string]string{"email": "x@example.com", "n": "3", "name": "", "due": "2026-12-02"}})
	if err != nil {
		t.Fatal(err)
	}
	subject := ""
	for _, f := range l.Fields {
		if f.Name == "Subject" {
			subject = f.Value
		}
	}
	if subject != "3 балла" || string(l.Body) != "коллега, 2 декабря\nколлега\n" {
		t.Errorf("subject %q, body %q", subject, l.Body)
	}
	_, err = tm.Execute(Row{Line: 2, Values: map[string]string{"email": "x@example.com", "n": "3", "name": "", "due": "32.12.2026"}})
	var ve *ValueError
	if !errors.As(err, &ve) || err.Error() != `letter.txt:5:32: date: "32.12.2026" is not a date: write it as 2026-12-02 or 02.12.2026` {
		t.Errorf("bad date: %v (%T)", err, err)
	}

	for _, tt := range []struct{ src, err string }{
		{`{{plural .n "балл"}}`, `letter.txt:4:3: plural takes a number and 2 forms (English) or 3 (Russian)`},
		{`{{date .layout .due}}`, `letter.txt:4:3: date: the layout is written in quotes`},
		{`{{date "2 January" .due "de"}}`, `letter.txt:4:3: date: the language is "ru" or "en"`},
		{`{{date "2 January"}}`, `letter.txt:4:3: date takes a layout, a value and a language`},
		{`{{default .name}}`, `letter.txt:4:3: default takes the text for an empty cell, then the value`},
		{`{{plurl .n "a" "b"}}`, `letter.txt:4: function "plurl" not defined`},
		{`{{.n | plural "балл" "балла" "баллов"}}`, `letter.txt:4:8: plural takes the number first, not from a pipe`},
		{`{{.due | date "2 January 2006" "ru"}}`, `letter.txt:4:10: date takes the value second, not from a pipe, when a language follows`},
	} {
		_, err := testOptions().parse("letter.txt", []byte("From: a@example.com\nTo: x@example.com\n\n"+tt.src+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
			t.Errorf("%s: err %v, want %q", tt.src, err, tt.err)
		}
	}
}

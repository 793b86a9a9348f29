package template

import (
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/attachment"
)

func parseUnsub(t *testing.T, src string, u ListUnsubscribe) (*Template, error) {
	t.Helper()
	files, err := attachment.NewStore(".", false)
	if err != nil {
		t.Fatal(err)
	}
	return Parse("letter.txt", []byte(src), Options{Files: files, ListUnsubscribe: u})
}

// TestUnsubscribeEscapesEveryValue: no cell, the group's rows' included,
// can add a parameter to the link or point it elsewhere.
func TestUnsubscribeEscapesEveryValue(t *testing.T) {
	tm, err := parseUnsub(t, "From: a@example.com\nTo: {{.email}}\n\nHi\n", ListUnsubscribe{URL: "https://x.example/u?id={{.id}}&more={{range .Rows}}{{.id}}{{end}}", Where: "m.yaml:3: list_unsubscribe.https"})
	if err != nil {
		t.Fatal(err)
	}
	row := Row{Line: 2, Values: map[string]string{"email": "a@example.com", "id": "a&id=other"},
		Group: []map[string]string{{"email": "a@example.com", "id": "a&id=other"}, {"email": "a@example.com", "id": "b/../c d"}}}
	l, err := tm.Execute(row)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, f := range l.Fields {
		if f.Name == "List-Unsubscribe" {
			got = f.Value
		}
	}
	if want := "<https://x.example/u?id=a%26id%3Dother&more=a%26id%3Dotherb%2F..%2Fc%20d>"; got != want {
		t.Errorf("List-Unsubscribe = %q, want %q", got, want)
	}
}

func TestUnsubscribeHeadersOnce(t *testing.T) {
	for _, h := range []string{"List-Unsubscribe: <mailto:x@example.com>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"} {
		_, err := parseUnsub(t, "From: a@example.com\nTo: b@example.com\n"+h+"\n\nHi\n", ListUnsubscribe{URL: "https://x.example/u", Where: "m.yaml:3: list_unsubscribe.https"})
		if err == nil || !strings.Contains(err.Error(), "is set by list_unsubscribe in the config too") {
			t.Errorf("%s: err %v", h, err)
		}
	}
}

// TestUnsubscribeFieldName: a column name with a hyphen in the config's
// link gets the same words as in the template.
func TestUnsubscribeFieldName(t *testing.T) {
	_, err := parseUnsub(t, "From: a@example.com\nTo: {{.email}}\n\nHi\n", ListUnsubscribe{URL: "https://x.example/u?id={{.student-id}}", Where: "m.yaml:3: list_unsubscribe.https"})
	if want := `m.yaml:3: list_unsubscribe.https: a field name with "-" needs {{index . "student-id"}}`; err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

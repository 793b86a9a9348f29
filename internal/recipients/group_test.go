package recipients

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestGroups(t *testing.T) {
	r, err := NewReader(strings.NewReader("name,email\nA,a@x.org\nB,b@x.org\nA2, A@X.org \nC,\nB2,b@x.org,extra\nB3,b@x.org\n"), "p.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GroupBy(r, "mail"); err == nil || err.Error() != `p.csv:1: no column "mail" to group by (it has name, email)` {
		t.Errorf("GroupBy(mail): %v", err)
	}
	g, _ := GroupBy(r, "email")
	var got []string
	for {
		rec, group, err := g.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			got = append(got, err.Error())
			continue
		}
		var names []string
		for _, r := range group {
			names = append(names, r.Fields[0])
		}
		got = append(got, rec.Fields[0]+":"+strings.Join(names, "+"))
	}
	want := []string{
		`p.csv:5:3: field "email" is empty; recipients.group_by groups the rows by it`,
		"p.csv:6: wrong number of fields: row has 3 fields, the header has 2",
		"A:A+A2", "B:B+B3",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("groups:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

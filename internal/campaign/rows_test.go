package campaign

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// TestEachRow: every row, in file order, with the line its letter is
// known by: its own, or its group's first row's, where a walk makes the
// letter; rows that make no letter (a ragged row, an empty group value)
// stand alone, as a walk reports them.
func TestEachRow(t *testing.T) {
	const tmpl = "From: s@example.com\nTo: {{.email}}\n\n{{range .Rows}}{{.course}}\n{{end}}"
	tests := []struct {
		name, groupBy, csv string
		want               map[int]int // row line → letter line
	}{
		{"one by one", "", "email;course\na@example.com;x\nb@example.com;y\nbroken\n\nc@example.com;z\n",
			map[int]int{2: 2, 3: 3, 4: 4, 6: 6}},
		{"grouped", "email", "email;course\na@example.com;x\nb@example.com;y\n A@example.com ;z\nragged\n;w\nb@example.com;v\n",
			map[int]int{2: 2, 3: 3, 4: 2, 5: 5, 6: 6, 7: 3}},
		{"a ragged first row joins no group", "email", "email;course\na@example.com\na@example.com;x\na@example.com;y\n",
			map[int]int{2: 2, 3: 3, 4: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := setup(t, tmpl, tt.csv)
			cfg.Recipients.GroupBy = tt.groupBy
			c := New(cfg, Options{})
			got := map[int]int{}
			var order []int
			err := c.EachRow(context.Background(), func(rec *recipients.Record, line int) error {
				got[rec.Line] = line
				order = append(order, rec.Line)
				return nil
			})
			if err != nil || !maps.Equal(got, tt.want) || !slices.IsSorted(order) {
				t.Fatalf("EachRow: %v, %v in order %v; want %v", err, got, order, tt.want)
			}
			// The lines EachRow gives are those the walk's letters have.
			made := map[int]bool{}
			c.Envelopes(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
				made[l.Line] = true
				return nil
			})
			for row, line := range got {
				if len(made) > 0 && !made[line] && line != row {
					t.Errorf("row %d: line %d makes no letter (letters on %v)", row, line, fmt.Sprint(slices.Sorted(maps.Keys(made))))
				}
			}
		})
	}
}

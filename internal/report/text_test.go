package report

import "testing"

// TestPlace: a row's place as the list is now, and as it was sent.
func TestPlace(t *testing.T) {
	tests := []struct {
		now, sent int
		problem   string
		place     string
		loc, rest string
	}{
		{5, 5, "p.csv:5:9: field x", "p.csv:5", "p.csv:5:9", "field x"},
		{5, 0, "p.csv:5: row has 2 fields", "p.csv:5", "p.csv:5", "row has 2 fields"},
		{5, 3, "p.csv:3:9: field x", "p.csv:5 (line 3 when sent)", "p.csv:5:9 (line 3 when sent)", "field x"},
		{5, 3, "attachment gone", "p.csv:5 (line 3 when sent)", "p.csv:5 (line 3 when sent)", "attachment gone"},
		{0, 3, "", "p.csv, line 3 when sent", "p.csv, line 3 when sent", ""},
	}
	for _, tt := range tests {
		if got := Place("p.csv", tt.now, tt.sent); got != tt.place {
			t.Errorf("Place(%d, %d) = %q, want %q", tt.now, tt.sent, got, tt.place)
		}
		if loc, rest := locate("p.csv", tt.now, tt.sent, tt.problem); loc != tt.loc || rest != tt.rest {
			t.Errorf("locate(%d, %d, %q) = %q, %q; want %q, %q", tt.now, tt.sent, tt.problem, loc, rest, tt.loc, tt.rest)
		}
	}
}

package located

import (
	"errors"
	"testing"
)

func TestError(t *testing.T) {
	cause := errors.New("wrong number of fields")
	for _, tt := range []struct {
		e    Error
		want string
	}{
		{Error{File: "people.csv", Err: cause}, "people.csv: wrong number of fields"},
		{Error{File: "people.csv", Line: 7, Err: cause}, "people.csv:7: wrong number of fields"},
		{Error{File: "people.csv", Line: 7, Column: 3, Err: cause}, "people.csv:7:3: wrong number of fields"},
		{Error{File: "list.xlsx", Sheet: "Sheet1", Line: 17, Column: 3, Err: cause}, "list.xlsx:Sheet1!C17: wrong number of fields"},
		{Error{File: "list.xlsx", Sheet: "Sheet1", Line: 17, Err: cause}, "list.xlsx:Sheet1: row 17: wrong number of fields"},
		{Error{File: "list.xlsx", Sheet: "Sheet1", Err: cause}, "list.xlsx:Sheet1: wrong number of fields"},
		{Error{File: "list.ods", Sheet: "Лист 2", Line: 3, Column: 28, Err: cause}, "list.ods:'Лист 2'!AB3: wrong number of fields"},
		{Error{File: "list.ods", Sheet: "Группа_11А", Line: 3, Column: 1, Err: cause}, "list.ods:Группа_11А!A3: wrong number of fields"},
		{Error{File: "list.ods", Sheet: "O'Brien", Line: 3, Column: 1, Err: cause}, "list.ods:'O''Brien'!A3: wrong number of fields"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.e, got, tt.want)
		}
		if !errors.Is(&tt.e, cause) {
			t.Errorf("%+v does not unwrap to its cause", tt.e)
		}
	}
}

func TestColumnName(t *testing.T) {
	for n, want := range map[int]string{1: "A", 3: "C", 26: "Z", 27: "AA", 28: "AB", 52: "AZ", 53: "BA", 702: "ZZ", 703: "AAA", 16384: "XFD", 0: "?"} {
		if got := ColumnName(n); got != want {
			t.Errorf("ColumnName(%d) = %q, want %q", n, got, want)
		}
	}
}

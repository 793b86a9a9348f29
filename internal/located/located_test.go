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
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.e, got, tt.want)
		}
		if !errors.Is(&tt.e, cause) {
			t.Errorf("%+v does not unwrap to its cause", tt.e)
		}
	}
}

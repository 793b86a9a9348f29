package template

import (
	"regexp"
	"strings"
	"testing"
	texttemplate "text/template"
)

// suggestion is the way to write the field that fieldNameFix proposes.
var suggestion = regexp.MustCompile(`needs (\{\{index .*\}\}|\(index .*\)) ?`)

// FuzzFieldNameFix: whatever the text, an explained parse error points
// at a field ($ or .) of the text, and the way it proposes to write the
// field parses.
func FuzzFieldNameFix(f *testing.F) {
	f.Add("{{.E-mail}}")
	f.Add("Ваш адрес: {{ .Электронная почта }}.")
	f.Add("{{if $.Год-рождения}}x{{end}}")
	f.Add(`{{"{{.a-b}}"}}{{/* .c-d */}}{{.e-f | printf "%s"}}`)
	f.Add("{{.name-}}")
	f.Add("{{$x := 1}}{{$x.a-b}}")
	f.Add("{{.a.b-c}}{{.d e}}")
	f.Fuzz(func(t *testing.T, src string) {
		_, err := texttemplate.New("t").Funcs(helpers).Funcs(builtins).Parse(src)
		if err == nil {
			return
		}
		m := templateErr.FindStringSubmatch(err.Error())
		if m == nil {
			return
		}
		fix, ok := fieldNameFix(src, m[3])
		if !ok {
			return
		}
		lines := strings.Split(src, "\n")
		if fix.line < 1 || fix.line > len(lines) || fix.col < 1 || fix.col > len(lines[fix.line-1]) {
			t.Fatalf("%q: fix at %d:%d, outside the text", src, fix.line, fix.col)
		}
		if c := lines[fix.line-1][fix.col-1]; c != '.' && c != '$' {
			t.Fatalf("%q: fix at %d:%d, on %q, not a field", src, fix.line, fix.col, c)
		}
		s := suggestion.FindStringSubmatch(fix.msg)
		if s == nil {
			t.Fatalf("%q: %q proposes nothing", src, fix.msg)
		}
		want := s[1]
		if strings.HasPrefix(want, "(") {
			want = "{{" + want + "}}"
		}
		if _, err := texttemplate.New("t").Funcs(helpers).Funcs(builtins).Parse("{{$x := 1}}" + want); err != nil {
			t.Fatalf("%q: the proposed %s does not parse: %v", src, s[1], err)
		}
	})
}

func TestFieldNameFix(t *testing.T) {
	for _, tt := range []struct {
		src, msg  string
		line, col int
		says      string
	}{
		{"{{.E-mail}}", "bad character U+002D '-'", 1, 3, `a field name with "-" needs {{index . "E-mail"}}`},
		{`{{"{{.a-b}}"}}{{/* .c-d */}}{{.e-f | printf "%s"}}`, "bad character U+002D '-'", 1, 31, `a field name with "-" needs (index . "e-f") in place of .e-f`},
		{"{{$x := 1}}{{$x.a-b}}", "bad character U+002D '-'", 1, 14, `a field name with "-" needs {{index $x "a-b"}}`},
		{"{{.a.b-c}}", "bad character U+002D '-'", 1, 3, `a field name with "-" needs {{index .a "b-c"}}`},
		{"{{.a}}\n{{.d e}}", `function "e" not defined`, 2, 3, `a field name with a space needs {{index . "d e"}}`},
		{"{{.a}}\n{{ .Фамилия  Имя -}}", `function "Имя" not defined`, 2, 4, `a field name with a space needs {{index . "Фамилия  Имя"}}`},
		{"{{.E+mail}}", "bad character U+002B '+'", 1, 3, `a field name with "+" needs {{index . "E+mail"}}`},
	} {
		f, ok := fieldNameFix(tt.src, tt.msg)
		if !ok || f.line != tt.line || f.col != tt.col || f.msg != tt.says {
			t.Errorf("%q: %d:%d %q (%v); want %d:%d %q", tt.src, f.line, f.col, f.msg, ok, tt.line, tt.col, tt.says)
		}
	}
}

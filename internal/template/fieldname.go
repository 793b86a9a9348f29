package template

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A column name with a character Go's templates do not allow in a field
// ({{.E-mail}}, {{.Электронная почта}}) stops the parse with "bad
// character U+002D '-'" or `function "почта" not defined`, at no column.
// fieldNameFix finds the field the parser stopped at and says how to
// write it: {{index . "E-mail"}}.

var (
	badCharErr    = regexp.MustCompile(`^bad character U\+[0-9A-F]+ '(.+)'$`)
	notDefinedErr = regexp.MustCompile(`^function "(.+)" not defined$`)
)

// nameFix is where a field name the parser could not read starts in the
// parsed text (line from 1, col a byte column from 1), and the words
// that say how to write it.
type nameFix struct {
	line, col int
	msg       string
}

// fieldNameFix explains the parse error msg (text/template's message,
// without its position) of src, when it is a field name with a space or
// another character a field cannot have.
func fieldNameFix(src, msg string) (nameFix, bool) {
	var char, word string
	if m := badCharErr.FindStringSubmatch(msg); m != nil {
		char = m[1]
	} else if m := notDefinedErr.FindStringSubmatch(msg); m != nil {
		word = m[1]
	} else {
		return nameFix{}, false
	}
	for i := 0; i < len(src); {
		open := strings.Index(src[i:], "{{")
		if open < 0 {
			break
		}
		start := i + open + 2
		end := actionEnd(src, start)
		if f, ok := scanAction(src, start, end, char, word); ok {
			return f, true
		}
		i = end
	}
	return nameFix{}, false
}

// actionEnd is the index of the "}}" that closes the action starting at
// start, past quoted text and comments, or len(src).
func actionEnd(src string, start int) int {
	for p := start; p < len(src); p++ {
		switch {
		case strings.HasPrefix(src[p:], "}}"):
			return p
		case strings.HasPrefix(src[p:], "/*"):
			if e := strings.Index(src[p+2:], "*/"); e >= 0 {
				p += e + 3
				continue
			}
			return len(src)
		case src[p] == '"' || src[p] == '`' || src[p] == '\'':
			p = quoteEnd(src, p)
		}
	}
	return len(src)
}

// quoteEnd is the index of the quote that closes the one at p.
func quoteEnd(src string, p int) int {
	q := src[p]
	for i := p + 1; i < len(src); i++ {
		switch {
		case src[i] == '\\' && q != '`':
			i++
		case src[i] == q:
			return i
		case src[i] == '\n' && q != '`':
			return i
		}
	}
	return len(src)
}

// scanAction looks in the action src[start:end] for a field followed by
// char (a character a name cannot have) or by a space and word (taken
// for a function's name).
func scanAction(src string, start, end int, char, word string) (nameFix, bool) {
	// The action without its trim markers and spaces, to tell whether the
	// field is all of it.
	inner := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(src[start:end]), "- "), " -"))
	for p := start; p < end; p++ {
		c := src[p]
		if c == '"' || c == '`' || c == '\'' {
			p = quoteEnd(src, p)
			continue
		}
		if strings.HasPrefix(src[p:end], "/*") {
			break // a comment is all of its action
		}
		if (c != '.' && c != '$') || (p > start && !separator(src[p-1])) {
			continue
		}
		chain := chainEnd(src, p, end)
		last := strings.LastIndexByte(src[p:chain], '.')
		if last < 0 || p+last+1 == chain {
			continue // a variable, or a lone dot: no field
		}
		var rest string
		switch {
		case char != "" && strings.HasPrefix(src[chain:end], char):
			rest = nameRun(src[chain:end])
			if r, _ := utf8.DecodeLastRuneInString(rest); !isNameRune(r) {
				continue // {{.name-}}: a trim marker without its space
			}
		case word != "" && followedBy(src[chain:end], word):
			rest = src[chain:end]
			if i := strings.IndexAny(rest, "|()\"`'"); i >= 0 {
				rest = rest[:i]
			}
			rest = strings.TrimSuffix(strings.TrimRight(rest, " \t\n"), " -")
		default:
			p = chain - 1
			continue
		}
		field := src[p:chain] + rest
		name := src[p+last+1:chain] + rest
		of := src[p : p+last]
		if of == "" {
			of = "."
		}
		index := fmt.Sprintf("index %s %s", of, strconv.Quote(name))
		what := strconv.Quote(char)
		if word != "" {
			what = "a space"
		}
		msg := fmt.Sprintf("a field name with %s needs {{%s}}", what, index)
		if inner != field {
			msg = fmt.Sprintf("a field name with %s needs (%s) in place of %s", what, index, field)
		}
		line := 1 + strings.Count(src[:p], "\n")
		col := p - strings.LastIndexByte(src[:p], '\n')
		return nameFix{line: line, col: col, msg: msg}, true
	}
	return nameFix{}, false
}

// separator reports whether c can stand before a field in an action.
func separator(c byte) bool {
	return strings.IndexByte(" \t\n{(|=,", c) >= 0
}

// chainEnd is the end of the field chain ($x.a.b, .a.b) at p.
func chainEnd(src string, p, end int) int {
	q := p
	if src[q] == '$' {
		q++
		for q < end {
			r, n := utf8.DecodeRuneInString(src[q:end])
			if !isNameRune(r) {
				break
			}
			q += n
		}
	}
	for q < end && src[q] == '.' {
		e := q + 1
		for e < end {
			r, n := utf8.DecodeRuneInString(src[e:end])
			if !isNameRune(r) {
				break
			}
			e += n
		}
		if e == q+1 {
			break
		}
		q = e
	}
	return q
}

// nameRun is the start of s up to the first character that ends a name
// in an action.
func nameRun(s string) string {
	if i := strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune("{}()|\"`',", r)
	}); i >= 0 {
		return s[:i]
	}
	return s
}

// followedBy reports whether s is spaces, then word, then the end of
// the word.
func followedBy(s, word string) bool {
	t := strings.TrimLeft(s, " \t\n")
	if len(t) == len(s) || !strings.HasPrefix(t, word) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(t[len(word):])
	return len(t) == len(word) || !isNameRune(r)
}

func isNameRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

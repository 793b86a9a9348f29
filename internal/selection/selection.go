// Package selection chooses rows of a recipients file: by CSV line
// (--rows 2-50,75, the lines check reports) and by value (--where
// 'group=ИВТ-21', repeatable, all must hold). Choosing rows never changes
// a letter's identity: sending one group today and another tomorrow is
// one mailing.
package selection

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/recipients"
)

// Selection is a set of rows; the zero value and nil hold every row.
type Selection struct {
	spans []span // empty: every line
	conds []*cond
}

type span struct{ from, to int }

type cond struct {
	expr   string // as given, for errors
	column string
	op     string // "=", "!=", "~"
	value  string
	re     *regexp.Regexp
	index  int // of column in the header (Bind)
}

// Parse reads a --rows list and --where expressions.
func Parse(rows string, where []string) (*Selection, error) {
	s := &Selection{}
	if strings.TrimSpace(rows) != "" {
		for _, part := range strings.Split(rows, ",") {
			sp, err := parseSpan(strings.TrimSpace(part))
			if err != nil {
				return nil, fmt.Errorf("--rows %s: %w", rows, err)
			}
			s.spans = append(s.spans, sp)
		}
	}
	for _, expr := range where {
		c, err := parseCond(expr)
		if err != nil {
			return nil, fmt.Errorf("--where %s: %w", expr, err)
		}
		s.conds = append(s.conds, c)
	}
	return s, nil
}

func parseSpan(part string) (span, error) {
	from, to, isRange := strings.Cut(part, "-")
	a, errA := strconv.Atoi(strings.TrimSpace(from))
	b := a
	var errB error
	if isRange {
		b, errB = strconv.Atoi(strings.TrimSpace(to))
	}
	switch {
	case errA != nil || errB != nil:
		return span{}, fmt.Errorf("%q: want line numbers as check reports them, like 2-50,75", part)
	case a < 2:
		return span{}, fmt.Errorf("%q: line 1 is the header; rows start at line 2", part)
	case b < a:
		return span{}, fmt.Errorf("%q: the range ends before it starts", part)
	}
	return span{a, b}, nil
}

func parseCond(expr string) (*cond, error) {
	c := &cond{expr: expr}
	i := strings.IndexAny(expr, "=~!")
	if i < 0 {
		return nil, errors.New("want column=value, column!=value or column~regex")
	}
	switch {
	case strings.HasPrefix(expr[i:], "!="):
		c.op, c.value = "!=", expr[i+2:]
	case expr[i] == '=':
		c.op, c.value = "=", expr[i+1:]
	case expr[i] == '~':
		c.op, c.value = "~", expr[i+1:]
	default:
		return nil, errors.New("want column=value, column!=value or column~regex")
	}
	if strings.HasPrefix(c.value, "=") {
		return nil, fmt.Errorf("one %s is enough: %s%s%s", c.op, strings.TrimSpace(expr[:i]), c.op, strings.TrimPrefix(c.value, "="))
	}
	c.column = strings.TrimSpace(expr[:i])
	if c.column == "" {
		return nil, errors.New("no column before " + c.op)
	}
	if c.op == "~" {
		re, err := regexp.Compile(c.value)
		if err != nil {
			return nil, fmt.Errorf("the regular expression: %w", err)
		}
		c.re = re
	}
	return c, nil
}

// All reports whether the selection holds every row.
func (s *Selection) All() bool { return s == nil || len(s.spans) == 0 && len(s.conds) == 0 }

// Bind finds the columns the selection names in a CSV header.
func (s *Selection) Bind(file string, header []string) error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, c := range s.conds {
		c.index = slices.Index(header, c.column)
		if c.index < 0 {
			errs = append(errs, fmt.Errorf("--where %s: %s has no column %q (it has %s)", c.expr, file, c.column, strings.Join(header, ", ")))
		}
	}
	return errors.Join(errs...)
}

// Match reports whether the row is selected. Values are compared as the
// cell holds them, spaces around it aside.
func (s *Selection) Match(rec *recipients.Record) bool {
	if s.All() {
		return true
	}
	if len(s.spans) > 0 && !slices.ContainsFunc(s.spans, func(sp span) bool { return rec.Line >= sp.from && rec.Line <= sp.to }) {
		return false
	}
	for _, c := range s.conds {
		v := ""
		if c.index >= 0 && c.index < len(rec.Fields) {
			v = strings.TrimSpace(rec.Fields[c.index])
		}
		var ok bool
		switch c.op {
		case "=":
			ok = v == strings.TrimSpace(c.value)
		case "!=":
			ok = v != strings.TrimSpace(c.value)
		case "~":
			ok = c.re.MatchString(v)
		}
		if !ok {
			return false
		}
	}
	return true
}

// String says the selection as it was given.
func (s *Selection) String() string {
	if s.All() {
		return "every row"
	}
	var parts []string
	if len(s.spans) > 0 {
		var sp []string
		for _, r := range s.spans {
			if r.from == r.to {
				sp = append(sp, strconv.Itoa(r.from))
			} else {
				sp = append(sp, fmt.Sprintf("%d-%d", r.from, r.to))
			}
		}
		parts = append(parts, "--rows "+strings.Join(sp, ","))
	}
	for _, c := range s.conds {
		parts = append(parts, "--where "+c.expr)
	}
	return strings.Join(parts, " ")
}

package campaign

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/template"
)

// rowReader hands out rows one by one (with a nil group), or in the
// groups recipients.group_by makes: each group as its first row and all
// its rows. Close frees what it holds (the groups' temporary file), not
// the list's reader.
type rowReader interface {
	Read() (*recipients.Record, []*recipients.Record, error)
	Close() error
}

// group has the walk read the rows one by one, or in the groups
// recipients.group_by makes, and warns when the template shows only the
// first row of each group. It reports whether the rows could be grouped.
func (w *walker) group(ctx context.Context) bool {
	c := w.c
	src, err := c.rowSource(ctx, w.rr)
	if err != nil {
		w.reportAll(c.cfg.KeyErr("recipients.group_by", err))
		return false
	}
	w.src = src
	if c.cfg.Recipients.GroupBy != "" && !w.tmpl.Uses(template.RowsField) && w.loud() {
		w.warn(c.cfg.KeyErr("recipients.group_by", fmt.Errorf("%s does not use {{range .Rows}}: each letter shows only the first row of its group", filepath.Base(c.cfg.Template))))
	}
	return true
}

// rowSource hands out the rows of rr one by one, or in the groups
// recipients.group_by makes.
func (c *Campaign) rowSource(ctx context.Context, rr *recipients.Reader) (rowReader, error) {
	if c.cfg.Recipients.GroupBy == "" {
		return singleRows{rr}, nil
	}
	return recipients.GroupBy(ctx, rr, c.cfg.Recipients.GroupBy)
}

type singleRows struct{ r *recipients.Reader }

func (s singleRows) Read() (*recipients.Record, []*recipients.Record, error) {
	rec, err := s.r.Read()
	return rec, nil, err
}

func (s singleRows) Close() error { return nil }

// agree checks that the rows of a group agree on who gets the letter and
// who answers it. A group's letter goes to the recipients of its first
// row with every row's data: a row that names someone else would have its
// data sent to the first row's person, and nothing to its own. Rows that
// disagree are a problem of the group, named with their lines and what
// each names; the group makes no letter.
func (c *Campaign) agree(ctx context.Context, tmpl *template.Template, rec *recipients.Record, group []*recipients.Record, header []string) error {
	if len(group) < 2 {
		return nil
	}
	first, err := tmpl.Addressees(ctx, rowOf(rec, nil))
	if err != nil {
		return nil // the group's letter fails on it, and says so
	}
	var lines []int
	var names []string
	for _, r := range group[1:] {
		got, err := tmpl.Addressees(ctx, rowOf(r, nil))
		if err != nil {
			var ve *template.ValueError
			if errors.As(err, &ve) {
				return c.locate(r, header, ve)
			}
			return err
		}
		if !slices.Equal(first, got) {
			lines = append(lines, r.Line)
			names = append(names, fmt.Sprintf("line %d: %s", r.Line, strings.Join(got, ", ")))
		}
	}
	if lines == nil {
		return nil
	}
	col := slices.Index(header, c.cfg.Recipients.GroupBy)
	return rec.Locate(-1, fmt.Errorf(
		"the rows of one group are for different people (recipients.group_by: %s %q): line %d: %s; %s. "+
			"Their letter would carry the rows of %s %s to someone else, so the group makes no letter: group by a column that names one person (such as the address), or make the rows agree",
		c.cfg.Recipients.GroupBy, rec.Fields[col], rec.Line, strings.Join(first, ", "), strings.Join(names, "; "),
		map[bool]string{true: "line", false: "lines"}[len(lines) == 1], joinInts(lines)))
}

// rowOf is what the template executes for a row, or for a group of rows:
// its first row's values, and all its rows.
func rowOf(rec *recipients.Record, group []*recipients.Record) template.Row {
	row := template.Row{Line: rec.Line, Values: rec.Map()}
	if group != nil {
		row.Group = make([]map[string]string, len(group))
		for i, r := range group {
			row.Group[i] = r.Map()
		}
	}
	return row
}

// selected reports whether Options.Select chooses a row, or a group with
// any of its rows.
func (c *Campaign) selected(rec *recipients.Record, group []*recipients.Record) bool {
	if group == nil {
		return c.opts.Select.Match(rec)
	}
	return slices.ContainsFunc(group, c.opts.Select.Match)
}

type duplicate struct {
	addr  string
	lines []int
}

// addTo notes that addrs are the To recipients on line.
func (e *earlier) addTo(addrs []string, line int) {
	for _, addr := range addrs {
		addr = strings.ToLower(addr)
		k := hashAddrs([]string{addr})
		s, _ := e.addrs.Get(k)
		switch first := int(s.first); {
		case first == 0:
			s.first = int32(line)
			e.addrs.Put(k, s)
		case first == line:
		default:
			lines, ok := e.again[addr]
			if !ok {
				lines = []int{first}
				e.order = append(e.order, addr)
			}
			if lines[len(lines)-1] != line {
				lines = append(lines, line)
			}
			e.again[addr] = lines
		}
	}
}

// warnDuplicates warns of each address that is a To recipient in more
// than one row (or group).
func (w *walker) warnDuplicates() {
	for _, d := range w.earlier.duplicates() {
		w.warn(w.rr.Locate(d.lines[0], fmt.Errorf("address %s is in %d rows (lines %s): each row gets its own letter; recipients.group_by with its column makes one letter of them", d.addr, len(d.lines), joinInts(d.lines))))
	}
}

// duplicates lists the To addresses of more than one row (or group),
// each with its lines, in the order they first repeated.
func (e *earlier) duplicates() []duplicate {
	out := make([]duplicate, 0, len(e.order))
	for _, a := range e.order {
		out = append(out, duplicate{a, e.again[a]})
	}
	return out
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

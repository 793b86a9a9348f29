package recipients

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Groups reads the rows of a Reader in groups: the rows with the same
// value in one column (recipients.group_by: email), wherever they are in
// the file, in the order of their first rows. Grouping needs every row
// before the first group, so Groups holds the file's rows in memory.
type Groups struct {
	r      *Reader
	column int
	loaded bool
	// problems are the rows that could not be grouped, handed out first;
	// fatal ends the reading after them.
	problems []problem
	fatal    error
	groups   [][]*Record
}

type problem struct {
	rec *Record
	err error
}

// GroupBy groups the rows of r by column.
func GroupBy(r *Reader, column string) (*Groups, error) {
	i := slices.Index(r.Header(), column)
	if i < 0 {
		return nil, r.Locate(r.headerLine, fmt.Errorf("no column %q to group by (it has %s)", column, strings.Join(r.Header(), ", ")))
	}
	return &Groups{r: r, column: i}, nil
}

// Read returns the next group: its first row and all its rows, that one
// included. Rows the reader could not use come first, each alone with its
// error, as Reader.Read returns them; io.EOF ends the groups.
func (g *Groups) Read() (*Record, []*Record, error) {
	if !g.loaded {
		g.load()
	}
	if len(g.problems) > 0 {
		p := g.problems[0]
		g.problems = g.problems[1:]
		return p.rec, nil, p.err
	}
	if g.fatal != nil {
		err := g.fatal
		g.fatal = nil
		return nil, nil, err
	}
	if len(g.groups) == 0 {
		return nil, nil, io.EOF
	}
	group := g.groups[0]
	g.groups = g.groups[1:]
	return group[0], group, nil
}

// GroupKey is what rows are grouped by: the value of their group_by
// field, in any case, without surrounding spaces. "" groups no row.
func GroupKey(value string) string { return strings.ToLower(strings.TrimSpace(value)) }

func (g *Groups) load() {
	g.loaded = true
	index := map[string]int{}
	for {
		rec, err := g.r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			if rec == nil {
				g.fatal = err
				return
			}
			g.problems = append(g.problems, problem{rec, err})
			continue
		}
		key := GroupKey(rec.Fields[g.column])
		if key == "" {
			g.problems = append(g.problems, problem{rec, rec.Locate(g.column,
				fmt.Errorf("field %q is empty; recipients.group_by groups the rows by it", g.r.header[g.column]))})
			continue
		}
		if i, ok := index[key]; ok {
			g.groups[i] = append(g.groups[i], rec)
			continue
		}
		index[key] = len(g.groups)
		g.groups = append(g.groups, []*Record{rec})
	}
}

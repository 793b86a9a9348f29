package recipients

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/mailmerge/mailmerge/internal/flatmap"
	"github.com/mailmerge/mailmerge/internal/located"
)

// Groups reads the rows of a Reader in groups: the rows with the same
// value in one column (recipients.group_by: email), wherever they are in
// the file, in the order of their first rows.
//
// Grouping needs every row before the first group. Groups reads the
// list once, front to back, writing each row to a temporary file (see
// spill) and keeping in memory only where each row ends there and which
// row of its group follows it (12 bytes a row), a bit for each group's
// first row, and, while it reads, a 32-bit hash of each group's value
// with its last row so far (about 11 bytes a group). Values that hash
// alike are told apart when their rows are read back (a million groups
// have about a hundred such pairs). A group's rows are read back from
// the file when it is handed out, so memory holds the largest group, not
// the list. Close removes the file.
type Groups struct {
	ctx    context.Context
	r      *Reader
	column int
	loaded bool
	hash   func(string) uint32 // of a group's value; never 0

	spill *spill
	// ends[i] is where row i ends in the spill file; it starts where row
	// i-1 ends. Rows count from 0 in the order read, problems included.
	ends []int64
	// next[i] is the row after row i in its group; 0 ends the group (row
	// 0 is always a group's first).
	next []int32
	// heads has a bit set for the first row of each group still to hand
	// out; cursor is the row to look for the next one from.
	heads  []uint64
	cursor int32
	// problems are the rows that could not be grouped, handed out first;
	// fatal ends the reading after them.
	problems []problem
	fatal    error
}

type problem struct {
	row int32
	err error
}

// GroupBy groups the rows of r by column. ctx ends the pass that reads
// every row before the first group.
func GroupBy(ctx context.Context, r *Reader, column string) (*Groups, error) {
	i := slices.Index(r.Header(), column)
	if i < 0 {
		return nil, r.Locate(r.headerLine, fmt.Errorf("no column %q to group by (it has %s)", column, strings.Join(r.Header(), ", ")))
	}
	seed := maphash.MakeSeed()
	return &Groups{ctx: ctx, r: r, column: i, hash: func(key string) uint32 { return max(uint32(maphash.String(seed, key)), 1) }}, nil
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
		rec, err := g.row(p.row)
		if err != nil {
			return g.fail(err)
		}
		return rec, nil, p.err
	}
	if g.fatal != nil {
		err := g.fatal
		g.fatal = nil
		return nil, nil, err
	}
	head, ok := g.nextHead()
	if !ok {
		return nil, nil, io.EOF
	}
	group, err := g.group(head)
	if err != nil {
		return g.fail(err)
	}
	return group[0], group, nil
}

// GroupKey is what rows are grouped by: the value of their group_by
// field, in any case, without surrounding spaces. "" groups no row.
func GroupKey(value string) string { return strings.ToLower(strings.TrimSpace(value)) }

// Close removes the temporary file. Groups read after it end.
func (g *Groups) Close() error {
	g.loaded = true
	g.problems, g.heads, g.fatal = nil, nil, nil
	if g.spill == nil {
		return nil
	}
	err := g.spill.close()
	g.spill = nil
	return err
}

// fail ends the groups with err, a problem of the temporary file.
func (g *Groups) fail(err error) (*Record, []*Record, error) {
	g.problems, g.heads, g.fatal = nil, nil, nil
	return nil, nil, &located.Error{File: g.r.file, Err: err}
}

func (g *Groups) load() {
	g.loaded = true
	s, err := newSpill()
	if err != nil {
		g.fatal = &located.Error{File: g.r.file, Err: err}
		return
	}
	g.spill = s
	tails := flatmap.New[uint32, int32](0, func(h uint32) uint64 { return uint64(h) })
	for {
		if len(g.ends)%4096 == 0 {
			if err := g.ctx.Err(); err != nil {
				g.problems, g.heads, g.fatal = nil, nil, err // nothing more: stopped
				break
			}
		}
		rec, err := g.r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && rec == nil {
			g.fatal = err
			break
		}
		row, werr := g.add(rec)
		if werr != nil { // the file cannot be trusted: nothing from it
			g.problems, g.heads, g.fatal = nil, nil, &located.Error{File: g.r.file, Err: werr}
			break
		}
		if err != nil {
			g.problems = append(g.problems, problem{row, err})
			continue
		}
		key := g.key(rec)
		if key == "" {
			g.problems = append(g.problems, problem{row, rec.Locate(g.column,
				fmt.Errorf("field %q is empty; recipients.group_by groups the rows by it", g.r.header[g.column]))})
			continue
		}
		h := g.hash(key)
		if tail, ok := tails.Get(h); ok {
			g.next[tail] = row
		} else {
			g.setHead(row)
		}
		tails.Put(h, row)
	}
	if err := g.spill.done(); err != nil && g.fatal == nil {
		g.problems, g.heads, g.fatal = nil, nil, &located.Error{File: g.r.file, Err: err}
	}
}

// add writes rec to the spill file and returns its row number.
func (g *Groups) add(rec *Record) (int32, error) {
	if len(g.ends) == math.MaxInt32 {
		return 0, fmt.Errorf("recipients.group_by groups at most %d rows", math.MaxInt32)
	}
	end, err := g.spill.add(rec)
	if err != nil {
		return 0, err
	}
	g.ends = append(g.ends, end)
	g.next = append(g.next, 0)
	return int32(len(g.ends) - 1), nil
}

// start is where row i starts in the spill file.
func (g *Groups) start(i int32) int64 {
	if i == 0 {
		return 0
	}
	return g.ends[i-1]
}

// row reads row i back.
func (g *Groups) row(i int32) (*Record, error) {
	b, err := g.spill.read(g.start(i), g.ends[i])
	if err != nil {
		return nil, err
	}
	return g.decode(b)
}

// setHead marks row as the first of a group still to hand out.
func (g *Groups) setHead(row int32) {
	for int(row)/64 >= len(g.heads) {
		g.heads = append(g.heads, 0)
	}
	g.heads[row/64] |= 1 << (row % 64)
}

// nextHead takes the first row of the next group to hand out.
func (g *Groups) nextHead() (int32, bool) {
	for w := int(g.cursor) / 64; w < len(g.heads); w++ {
		word := g.heads[w]
		if w == int(g.cursor)/64 {
			word &^= 1<<(g.cursor%64) - 1 // the rows before cursor
		}
		if word != 0 {
			row := int32(w*64 + bits.TrailingZeros64(word))
			g.heads[w] &^= 1 << (row % 64)
			g.cursor = row + 1
			return row, true
		}
	}
	return 0, false
}

// group reads back the rows of the group whose first row is head. Rows
// that follow each other in the list are read together. Rows whose value
// only hashes like the group's are made a group of their own, handed out
// in its place (by the order of first rows).
func (g *Groups) group(head int32) ([]*Record, error) {
	var rows []*Record
	var others []int32 // rows of other values, in order
	var key string
	for i := head; ; {
		// A run of rows i..j, each the next in the list and in the group.
		j := i
		for g.next[j] == j+1 {
			j++
		}
		b, err := g.spill.read(g.start(i), g.ends[j])
		if err != nil {
			return nil, err
		}
		base := g.start(i)
		for k := i; k <= j; k++ {
			rec, err := g.decode(b[g.start(k)-base : g.ends[k]-base])
			if err != nil {
				return nil, err
			}
			switch v := g.key(rec); {
			case k == head:
				key = v
			case v != key:
				others = append(others, k)
				continue
			}
			rows = append(rows, rec)
		}
		if i = g.next[j]; i == 0 {
			break
		}
	}
	if len(others) > 0 {
		for n, row := range others {
			g.next[row] = 0
			if n > 0 {
				g.next[others[n-1]] = row
			}
		}
		g.setHead(others[0])
	}
	return rows, nil
}

// key is what groups rec: the value of the column, whatever its case and
// the spaces around it.
func (g *Groups) key(rec *Record) string {
	if g.column >= len(rec.Fields) {
		return ""
	}
	return GroupKey(rec.Fields[g.column])
}

// decode reads a row back from the temporary file, as a record of the
// list's reader: placed in its file (and sheet), its columns known.
func (g *Groups) decode(b []byte) (*Record, error) {
	rec, err := decodeRecord(b, g.r.header)
	if rec != nil {
		rec.r = g.r
	}
	return rec, err
}

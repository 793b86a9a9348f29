package template

import (
	"fmt"
	"slices"
	"strings"
	"text/template/parse"
	"unicode"
	"unicode/utf8"
)

// walkFields lists the fields a template reads from the row ({{.name}} and
// {{$.name}}) with their positions in the parsed text, and rejects what
// could run for hours: ranges over a number or a function's result
// ({{range 1000000000}} renders nothing for hours), templates that call
// themselves, and {{template}} calls that multiply (see checkCalls).
// defined are the templates the text defines ({{define}}), walked for the
// same problems; their fields are not the row's.
func walkFields(tree *parse.Tree, src string, defined ...*parse.Tree) ([]fieldRef, error) {
	w := &walker{src: src}
	w.list(tree.Root, true)
	refs := w.refs
	for _, d := range defined {
		if d != nil && d != tree && w.err == nil {
			w.list(d.Root, false)
		}
	}
	if w.err == nil {
		w.err = checkCalls(tree, defined, w)
	}
	return refs, w.err
}

// maxCalls caps the {{template}} calls one letter can make: a letter
// needs a handful, and calls that each call others twice make 2^40 of
// them from a few lines.
const maxCalls = 10_000

// checkCalls rejects a template that calls itself, through others or not
// (a letter needs no recursion, and it is how a template builds values
// without end), and calls that multiply to more than maxCalls.
func checkCalls(root *parse.Tree, defined []*parse.Tree, w *walker) error {
	trees := map[string]*parse.Tree{}
	for _, d := range defined {
		if d != nil {
			trees[d.Name] = d
		}
	}
	type call struct {
		name string
		node parse.Node
	}
	callsIn := func(t *parse.Tree) []call {
		var out []call
		var visit func(n parse.Node)
		visit = func(n parse.Node) {
			switch n := n.(type) {
			case *parse.ListNode:
				if n != nil {
					for _, c := range n.Nodes {
						visit(c)
					}
				}
			case *parse.IfNode:
				visit(n.List)
				visit(n.ElseList)
			case *parse.RangeNode:
				visit(n.List)
				visit(n.ElseList)
			case *parse.WithNode:
				visit(n.List)
				visit(n.ElseList)
			case *parse.TemplateNode:
				out = append(out, call{n.Name, n})
			}
		}
		if t.Root != nil {
			visit(t.Root)
		}
		return out
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	count := map[string]int{} // calls a template makes, all the way down
	var err error
	var expand func(name string, t *parse.Tree) int
	expand = func(name string, t *parse.Tree) int {
		if err != nil {
			return 0
		}
		switch state[name] {
		case done:
			return count[name]
		case active:
			return -1
		}
		state[name] = active
		n := 0
		for _, c := range callsIn(t) {
			callee := trees[c.name]
			if callee == nil {
				n++ // text/template says so when it runs
				continue
			}
			k := expand(c.name, callee)
			if err != nil {
				return 0
			}
			if k < 0 {
				line, col := w.pos(c.node)
				err = &nodeError{line, col, fmt.Sprintf("{{template %q}} calls itself, through other templates or not: a letter cannot use recursion", c.name)}
				return 0
			}
			n += 1 + k
			if n > maxCalls {
				line, col := w.pos(c.node)
				err = &nodeError{line, col, fmt.Sprintf("{{template}} calls multiply to more than %d for one letter: each call of %q makes %d more", maxCalls, c.name, k)}
				return 0
			}
		}
		state[name], count[name] = done, n
		return n
	}
	expand(root.Name, root)
	for _, d := range defined {
		if d != nil && err == nil {
			expand(d.Name, d)
		}
	}
	return err
}

type walker struct {
	src  string
	refs []fieldRef
	err  error
}

// pos returns the line and character column, both from 1, of a node.
func (w *walker) pos(n parse.Node) (line, col int) {
	p := min(int(n.Position()), len(w.src))
	before := w.src[:p]
	start := strings.LastIndexByte(before, '\n') + 1
	return 1 + strings.Count(before, "\n"), utf8.RuneCountInString(before[start:]) + 1
}

// list walks nodes; top says whether dot is still the row.
func (w *walker) list(l *parse.ListNode, top bool) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		w.node(n, top)
	}
}

func (w *walker) node(n parse.Node, top bool) {
	switch n := n.(type) {
	case *parse.ActionNode:
		w.pipe(n.Pipe, top)
	case *parse.IfNode:
		w.branch(&n.BranchNode, top, top)
	case *parse.RangeNode:
		overRows := false // {{range .Rows}}: dot is a row of the group inside
		if n.Pipe != nil && len(n.Pipe.Cmds) == 1 && len(n.Pipe.Cmds[0].Args) == 1 {
			// Only data can be ranged over, never a count: a number, a
			// variable or dot (which may hold one) or a function's result
			// ({{range len .x}}) could make a loop of billions that
			// writes nothing.
			switch a := n.Pipe.Cmds[0].Args[0].(type) {
			case *parse.NumberNode:
				w.fail(n, "range over a number is not allowed in a letter")
			case *parse.FieldNode:
				overRows = top && len(a.Ident) == 1 && a.Ident[0] == RowsField
			case *parse.VariableNode:
				if len(a.Ident) < 2 { // $x; $.Rows is a field
					w.fail(n, notData)
				}
			default:
				w.fail(n, notData)
			}
		} else if n.Pipe != nil {
			w.fail(n, notData)
		}
		w.branch(&n.BranchNode, top, overRows)
	case *parse.WithNode:
		w.branch(&n.BranchNode, top, false)
	case *parse.TemplateNode:
		w.pipe(n.Pipe, top)
	case *parse.PipeNode:
		w.pipe(n, top)
	case *parse.CommandNode:
		// {{index . "First Name"}} reads a field too; index gives "" for
		// a missing key, so it must be checked like {{.name}}.
		if len(n.Args) == 3 && w.isRow(n.Args[1], top) {
			id, isIdent := n.Args[0].(*parse.IdentifierNode)
			key, isString := n.Args[2].(*parse.StringNode)
			if isIdent && id.Ident == "index" && isString {
				w.add(key, key.Text)
			}
		}
		for _, a := range n.Args {
			w.node(a, top)
		}
	case *parse.ChainNode:
		w.node(n.Node, top)
	case *parse.FieldNode:
		if top {
			w.add(n, n.Ident[0])
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			w.add(n, n.Ident[1])
		}
	}
}

// branch walks an if, range or with: inner says whether dot is still the
// row inside it (the else part keeps the outer dot).
func (w *walker) branch(b *parse.BranchNode, top, inner bool) {
	w.pipe(b.Pipe, top)
	w.list(b.List, inner)
	w.list(b.ElseList, top)
}

// isRow says whether n is the row: dot where dot is the row, or $.
func (w *walker) isRow(n parse.Node, top bool) bool {
	switch n := n.(type) {
	case *parse.DotNode:
		return top
	case *parse.VariableNode:
		return len(n.Ident) == 1 && n.Ident[0] == "$"
	}
	return false
}

func (w *walker) pipe(p *parse.PipeNode, top bool) {
	if p == nil {
		return
	}
	for i, c := range p.Cmds {
		w.helperCall(c, i > 0)
		w.node(c, top)
	}
}

// helperCall checks a call of a helper (funcs.go) for what can be checked
// before any row: the number of arguments, and those that must be
// constants. piped says the pipeline gives it one more, last.
func (w *walker) helperCall(c *parse.CommandNode, piped bool) {
	id, ok := c.Args[0].(*parse.IdentifierNode)
	if !ok || helpers[id.Ident] == nil || w.err != nil {
		return
	}
	args := c.Args[1:]
	n := len(args)
	if piped {
		n++
	}
	fail := func(msg string) {
		line, col := w.pos(c)
		w.err = &nodeError{line, col, msg}
	}
	switch id.Ident {
	case "plural":
		if piped {
			fail(`plural takes the number first, not from a pipe: {{plural .n "балл" "балла" "баллов"}}`)
			return
		}
		if n != 3 && n != 4 {
			fail(`plural takes a number and 2 forms (English) or 3 (Russian): {{plural .n "балл" "балла" "баллов"}}`)
			return
		}
		if n == 3 && slices.ContainsFunc(args, func(a parse.Node) bool {
			s, ok := a.(*parse.StringNode)
			return ok && strings.ContainsFunc(s.Text, func(r rune) bool { return unicode.Is(unicode.Cyrillic, r) })
		}) {
			fail(`plural with 2 forms follows English rules; Russian words take 3 forms: {{plural .n "балл" "балла" "баллов"}}`)
		}
	case "date":
		if piped && n == 3 {
			fail(`date takes the value second, not from a pipe, when a language follows: {{date "2 January 2006" .due "ru"}}`)
			return
		}
		if n != 2 && n != 3 {
			fail(`date takes a layout, a value and a language: {{date "2 January 2006" .due "ru"}}`)
			return
		}
		if _, ok := args[0].(*parse.StringNode); !ok {
			fail(`date: the layout is written in quotes, as Go writes 2 January 2006: {{date "2 January 2006" .due "ru"}}`)
			return
		}
		if n == 3 && !piped {
			lang, ok := args[2].(*parse.StringNode)
			if !ok || dateNames[lang.Text] == (localNames{}) {
				fail(`date: the language is "ru" or "en"`)
			}
		}
	case "default":
		if n != 2 {
			fail(`default takes the text for an empty cell, then the value: {{default "коллега" .name}}`)
		}
	}
}

// notData is the problem of a range over anything but a field.
const notData = "range goes over the rows of a group ({{range .Rows}}), not over a number, a variable or a function's result"

// fail records the first problem, at n.
func (w *walker) fail(n parse.Node, msg string) {
	if w.err == nil {
		line, col := w.pos(n)
		w.err = &nodeError{line, col, msg}
	}
}

func (w *walker) add(n parse.Node, name string) {
	line, col := w.pos(n)
	w.refs = append(w.refs, fieldRef{name: name, line: line, col: col})
}

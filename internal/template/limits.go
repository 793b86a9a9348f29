package template

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	texttemplate "text/template"
	"time"
)

// A letter's template is the user's, its values are the list's: neither
// may keep check or send busy for long. What is bounded, and where:
//   - loops: range goes only over data ({{range .Rows}}), never over a
//     number or a function's result (walk.go);
//   - {{template}} calls: no recursion, at most maxCalls a letter
//     (checkCalls);
//   - values a template builds: printf, print, println, html, js and
//     urlquery take and give at most maxBuilt bytes, and printf takes no
//     width over maxWidth;
//   - output: MaxLetter bytes a letter (limitWriter);
//   - time: RenderTimeout a letter, and the run's context, checked at
//     every write (budget).

// ErrRenderTimeout is wrapped when a letter takes longer than
// Options.RenderTimeout to fill in.
var ErrRenderTimeout = errors.New("the letter took too long to fill in")

// ErrValueTooLarge is wrapped when a template builds a value over maxBuilt
// bytes.
var ErrValueTooLarge = errors.New("a value the template builds is too large")

const (
	maxBuilt = 1 << 20 // bytes of a value printf, print or println make
	maxWidth = 1000    // a width or precision in a printf verb
)

// budget is what one letter may spend: it ends with the run (ctx) or at
// its deadline.
type budget struct {
	ctx      context.Context
	now      func() time.Time
	deadline time.Time
	timeout  time.Duration
}

func (t *Template) budget(ctx context.Context) *budget {
	now := t.opts.Now
	return &budget{ctx: ctx, now: now, deadline: now().Add(t.opts.RenderTimeout), timeout: t.opts.RenderTimeout}
}

// check says why the letter must stop, if it must.
func (b *budget) check() error {
	if b == nil {
		return nil
	}
	if err := b.ctx.Err(); err != nil {
		return err
	}
	if b.now().After(b.deadline) {
		return fmt.Errorf("%w: over %v (send.render_timeout); look for {{range}} or {{template}} calls that repeat more than the letter needs", ErrRenderTimeout, b.timeout)
	}
	return nil
}

// builtins replace text/template's functions that join their arguments
// into a new value (print, printf, println, html, js, urlquery) with ones
// whose values are bounded: each escapes or joins at most maxBuilt bytes
// (an escape makes up to 6 bytes of one, still bounded).
var builtins = map[string]any{
	"print":    boundedPrint("print", fmt.Sprint),
	"println":  boundedPrint("println", fmt.Sprintln),
	"printf":   boundedPrintf,
	"html":     boundedPrint("html", texttemplate.HTMLEscaper),
	"js":       boundedPrint("js", texttemplate.JSEscaper),
	"urlquery": boundedPrint("urlquery", texttemplate.URLQueryEscaper),
}

// Their errors are HelperErrors: problems of the row whose values grew
// too large.

func boundedPrint(name string, f func(...any) string) func(...any) (string, error) {
	return func(args ...any) (string, error) {
		if err := checkArgs(0, args); err != nil {
			return "", &HelperError{Helper: name, Err: err}
		}
		s, err := checkBuilt(f(args...))
		if err != nil {
			return "", &HelperError{Helper: name, Err: err}
		}
		return s, nil
	}
}

func boundedPrintf(format string, args ...any) (string, error) {
	err := checkFormat(format)
	if err == nil {
		err = checkArgs(len(format), args)
	}
	var s string
	if err == nil {
		s, err = checkBuilt(fmt.Sprintf(format, args...))
	}
	if err != nil {
		return "", &HelperError{Helper: "printf", Err: err}
	}
	return s, nil
}

// checkArgs refuses text arguments that together make more than maxBuilt
// bytes before they are copied into one.
func checkArgs(n int, args []any) error {
	for _, a := range args {
		switch a := a.(type) {
		case string:
			n += len(a)
		case []byte:
			n += len(a)
		}
	}
	if n > maxBuilt {
		return fmt.Errorf("%w: over %d bytes", ErrValueTooLarge, maxBuilt)
	}
	return nil
}

func checkBuilt(s string) (string, error) {
	if len(s) > maxBuilt {
		return "", fmt.Errorf("%w: over %d bytes", ErrValueTooLarge, maxBuilt)
	}
	return s, nil
}

// checkFormat refuses widths and precisions over maxWidth, and widths
// taken from arguments (*): %01000000000d would make a gigabyte of zeros.
func checkFormat(format string) error {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		for i++; i < len(format); i++ {
			c := format[i]
			if c == '*' {
				return errors.New("a width from an argument (*) is not allowed in a letter")
			}
			if c >= '0' && c <= '9' {
				j := i
				for j < len(format) && format[j] >= '0' && format[j] <= '9' {
					j++
				}
				if n, err := strconv.Atoi(format[i:j]); err != nil || n > maxWidth {
					return fmt.Errorf("width or precision %s is over %d", format[i:j], maxWidth)
				}
				i = j - 1
				continue
			}
			if c == '+' || c == '-' || c == '#' || c == ' ' || c == '.' || c == '[' || c == ']' {
				continue
			}
			break // the verb, or %%
		}
	}
	return nil
}

// limitWriter fails once more than n bytes are written, or once the
// letter's budget is spent.
type limitWriter struct {
	w io.Writer
	n int
	b *budget
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if err := l.b.check(); err != nil {
		return 0, err
	}
	if len(p) > l.n {
		return 0, ErrTooLarge
	}
	l.n -= len(p)
	return l.w.Write(p)
}

// stopped is the error of a letter given up: the run's end as it is
// (context.Canceled), a timeout as a problem of the row.
func stopped(err error) error {
	if errors.Is(err, ErrRenderTimeout) {
		return &ValueError{Err: err}
	}
	return err
}

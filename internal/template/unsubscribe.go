package template

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	texttemplate "text/template"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/located"
)

// ListUnsubscribe is how a recipient leaves a bulk mailing, as large
// mailbox providers require of bulk senders: List-Unsubscribe (RFC 2369)
// with an https URL and/or a mailto address, and List-Unsubscribe-Post
// (RFC 8058) for one-click unsubscribing when there is a URL.
type ListUnsubscribe struct {
	// URL is a template of an https URL with the row's fields, each
	// escaped for a URL: https://example.edu/unsubscribe?id={{.id}}.
	URL string
	// Mailto is an address to write to, to unsubscribe.
	Mailto string
	// Where names the setting, for errors: "mailmerge.yaml:9: list_unsubscribe.https".
	Where string
}

func (t *Template) parseUnsubscribe() error {
	u := t.opts.ListUnsubscribe
	if u.URL == "" && u.Mailto == "" {
		return nil
	}
	for _, h := range []string{"List-Unsubscribe", "List-Unsubscribe-Post"} {
		if slices.Contains(t.names, h) {
			return &located.Error{File: t.file, Err: fmt.Errorf("header %s is set by list_unsubscribe in the config too: keep one", h)}
		}
	}
	if u.URL == "" {
		return nil
	}
	tmpl, err := texttemplate.New("t").Option("missingkey=error").Funcs(helpers).Funcs(builtins).Parse(u.URL)
	if err != nil {
		if m := templateErr.FindStringSubmatch(err.Error()); m != nil {
			if f, ok := fieldNameFix(u.URL, m[3]); ok {
				return fmt.Errorf("%s: %s", u.Where, f.msg)
			}
		}
		return fmt.Errorf("%s: %w", u.Where, err)
	}
	refs, err := walkFields(tmpl.Tree, u.URL, treesOf(tmpl)...)
	if err != nil {
		return fmt.Errorf("%s: %w", u.Where, err)
	}
	for _, r := range refs {
		t.fields = append(t.fields, fieldRef{name: r.name, config: u.Where})
	}
	t.unsub = tmpl
	return nil
}

// unsubscribeFields are the List-Unsubscribe fields of a row's letter.
func (t *Template) unsubscribeFields(b *budget, row Row) ([]letter.Field, error) {
	u := t.opts.ListUnsubscribe
	var links []string
	if t.unsub != nil {
		// Every value a row gives, its group's rows too, escaped: a cell
		// can never add a parameter or point the link elsewhere.
		escaped := Row{Line: row.Line, Values: urlEscaped(row.Values)}
		for _, g := range row.Group {
			escaped.Group = append(escaped.Group, urlEscaped(g))
		}
		var out strings.Builder
		if err := t.unsub.Execute(&limitWriter{w: &out, n: maxValue, b: b}, escaped.data(escaped.Values)); err != nil {
			var he *HelperError
			if errors.As(err, &he) {
				return nil, &ValueError{Header: "List-Unsubscribe", Err: fmt.Errorf("%s: %w", u.Where, he)}
			}
			return nil, fmt.Errorf("%s: %w", u.Where, err)
		}
		link, err := url.Parse(out.String())
		if err != nil || link.Scheme != "https" || link.Host == "" || strings.ContainsAny(out.String(), " <>\"") {
			return nil, &ValueError{Header: "List-Unsubscribe", Err: fmt.Errorf("%q is not an https URL (%s)", out.String(), u.Where)}
		}
		links = append(links, "<"+out.String()+">")
	}
	if u.Mailto != "" {
		links = append(links, "<mailto:"+u.Mailto+">")
	}
	if len(links) == 0 {
		return nil, nil
	}
	fields := []letter.Field{{Name: "List-Unsubscribe", Value: strings.Join(links, ", ")}}
	if t.unsub != nil {
		fields = append(fields, letter.Field{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"})
	}
	return fields, nil
}

func urlEscaped(values map[string]string) map[string]string {
	out := make(map[string]string, len(values))
	for k, v := range values {
		out[k] = strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
	}
	return out
}

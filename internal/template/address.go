package template

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/letter"
)

// cleanFields cleans the values of the fields an address header uses, as
// address.Clean does (spreadsheets leave no-break and zero-width spaces in
// cells), whatever the template's shape: once per field and letter, with
// a warning when a field that holds the address changed. Values with
// control characters are left for renderHeader to refuse. row is the
// original, cleaned what the headers before made of it.
func (t *Template) cleanFields(h *headerTemplate, row, cleaned Row, l *letter.Letter, warned map[string]bool) Row {
	copied := false
	for _, f := range h.fields {
		v := row.Values[f]
		if _, _, bad := controlChar(v); bad {
			continue
		}
		c, changed := address.Clean(v)
		if c == cleaned.Values[f] {
			continue
		}
		if !copied {
			cleaned.Values = maps.Clone(cleaned.Values)
			copied = true
		}
		cleaned.Values[f] = c
		if changed && slices.Contains(h.addrFields, f) && !warned[f] {
			warned[f] = true
			l.Warnings = append(l.Warnings, &ValueError{Header: h.name, Field: f, Err: errors.New("invisible characters or special spaces removed from the address")})
		}
	}
	return cleaned
}

// blamed is the field to blame for a bad address in h: the one that
// stands where the address goes.
func blamed(h *headerTemplate) string {
	if len(h.addrFields) > 0 {
		return h.addrFields[0]
	}
	return firstField(h)
}

// checkAddressFields stops CSV values from adding recipients: a field used
// in an address header holds either exactly one address, with nothing
// around it (no list comma, no group), or a name without any of the
// characters that delimit addresses.
func checkAddressFields(h *headerTemplate, row Row) error {
	for _, f := range h.fields {
		v, _ := address.Clean(row.Values[f])
		if !strings.ContainsAny(v, "@<>") {
			continue
		}
		if err := address.One(v); err != nil {
			return &ValueError{Header: h.name, Field: f, Err: err}
		}
	}
	return nil
}

// checkAddressCount is the backstop of checkAddressFields: every address
// has an @, so a header cannot hold more addresses than the @ signs of the
// template's text plus the fields that hold one address each.
func checkAddressCount(h *headerTemplate, row Row, n int) error {
	most := h.ats + len(addressFields(h, row))
	if n > most {
		return &ValueError{Header: h.name, Field: firstField(h), Err: fmt.Errorf("renders %d addresses where the template and its fields give at most %d", n, most)}
	}
	return nil
}

// addressError blames a header that does not parse on the field that holds
// the address rather than on the name before it, and names the usual
// cause: a whole address put where the template already has <...>.
func addressError(h *headerTemplate, row Row, err error) error {
	field := ""
	for _, f := range h.addrFields { // the first whose cell is not an address
		if address.One(row.Values[f]) != nil {
			field = f
			break
		}
	}
	if field == "" { // else a cell with an @ where a name goes
		for _, f := range addressFields(h, row) {
			if !slices.Contains(h.addrFields, f) {
				field = f
				break
			}
		}
	}
	if field == "" {
		field = blamed(h)
	}
	if field != "" && row.Values[field] == "" {
		err = errors.New("no address (is the cell empty?)")
	}
	if v := row.Values[field]; strings.ContainsAny(v, "<>") {
		err = fmt.Errorf("%w (the field holds %q, a whole address, and the template adds its own <...>: use either)", err, v)
	}
	return &ValueError{Header: h.name, Field: field, Err: err}
}

// addressFields lists the fields of an address header whose values hold an
// address (an @), in template order.
func addressFields(h *headerTemplate, row Row) []string {
	var out []string
	for _, f := range h.fields {
		if strings.Contains(row.Values[f], "@") {
			out = append(out, f)
		}
	}
	return out
}

// sourceField names the field of an address header whose value is addr;
// "" when the template's own text wrote it (an instructor's copy).
func sourceField(h *headerTemplate, row Row, addr string) string {
	for _, f := range addressFields(h, row) {
		v, _ := address.Clean(row.Values[f])
		if strings.EqualFold(v, addr) {
			return f // the usual cell: the address alone
		}
		if list, err := address.ParseList(v); err == nil && len(list) == 1 && strings.EqualFold(list[0].Addr, addr) {
			return f
		}
	}
	return ""
}

// envelope lists each recipient address once, in header order.
func envelope(lists ...[]address.Mailbox) []string {
	var out []string
	seen := map[string]bool{}
	for _, list := range lists {
		for _, a := range list {
			k := strings.ToLower(a.Addr)
			if !seen[k] {
				seen[k] = true
				out = append(out, a.Addr)
			}
		}
	}
	return out
}

package template

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// helpers are the functions a letter can call besides text/template's
// own, for the languages our users write in. Their arguments are checked
// when the template is parsed (checkHelper); a value a row gives them
// that they cannot use is a *HelperError.
var helpers = map[string]any{
	"plural":  pluralForm,
	"date":    formatDate,
	"default": defaultValue,
}

// HelperError is a value from a row that a helper cannot use: an empty
// cell where a number belongs, a date that does not parse.
type HelperError struct {
	Helper string
	Err    error
}

func (e *HelperError) Error() string { return e.Helper + ": " + e.Err.Error() }
func (e *HelperError) Unwrap() error { return e.Err }

// pluralForm is {{plural .n "балл" "балла" "баллов"}}: the number and the
// word in the form the number wants. Three forms follow Russian rules
// (one, few, many: 1 балл, 3 балла, 5 баллов, 21 балл, 2,5 балла), two
// forms English (1 point, 2 points).
func pluralForm(n any, forms ...string) (string, error) {
	num, digits, exp, scale, err := parseNumber(n)
	if err != nil {
		return "", &HelperError{"plural", err}
	}
	var word string
	switch len(forms) {
	case 2:
		form := plural.Cardinal.MatchDigits(language.English, digits, exp, scale)
		word = forms[1]
		if form == plural.One {
			word = forms[0]
		}
	case 3:
		switch plural.Cardinal.MatchDigits(language.Russian, digits, exp, scale) {
		case plural.One:
			word = forms[0]
		case plural.Many:
			word = forms[2]
		default: // few, and fractions: 2,5 балла
			word = forms[1]
		}
	default:
		return "", &HelperError{"plural", fmt.Errorf("give 2 forms (English) or 3 (Russian), not %d", len(forms))}
	}
	return num + " " + word, nil
}

// parseNumber reads a number as a spreadsheet writes it ("5", "2,5",
// "1 000", "-3") into the digits plural.MatchDigits takes. num is the
// number as the letter shows it: as written, trimmed.
func parseNumber(n any) (num string, digits []byte, exp, scale int, err error) {
	switch n := n.(type) {
	case int:
		num = strconv.Itoa(n)
	case string:
		num = strings.TrimSpace(n)
	default:
		return "", nil, 0, 0, fmt.Errorf("want a number, got %v (%T)", n, n)
	}
	s := strings.TrimPrefix(strings.TrimPrefix(num, "-"), "+")
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '\u202f' { // 1 000, 1 000 (NBSP, narrow NBSP)
			return -1
		}
		return r
	}, s)
	intPart, frac, hasFrac := strings.Cut(strings.Replace(s, ",", ".", 1), ".")
	if intPart == "" || hasFrac && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		if num == "" {
			return "", nil, 0, 0, errors.New("the cell is empty; want a number")
		}
		return "", nil, 0, 0, fmt.Errorf("%q is not a number", num)
	}
	for _, r := range intPart + frac {
		digits = append(digits, byte(r-'0'))
	}
	return num, digits, len(intPart), len(frac), nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// inputLayouts are the ways spreadsheets write a date, tried in order.
// Slashes are left out: 02/12/2026 is 2 December in Moscow and
// 12 February in Chicago.
var inputLayouts = []string{
	"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05", time.RFC3339,
	"2.1.2006", "2.1.2006 15:04", "2.1.2006 15:04:05",
}

// parseDate reads a date from a cell.
func parseDate(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v, nil
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return time.Time{}, errors.New("the cell is empty; want a date like 2026-12-02 or 02.12.2026")
		}
		for _, layout := range inputLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("%q is not a date: write it as 2026-12-02 or 02.12.2026", s)
	}
	return time.Time{}, fmt.Errorf("want a date, got %v (%T)", v, v)
}

// formatDate is {{date "2 January 2006" .due "ru"}}: a date from a cell in
// Go's layout, with month and weekday names in Russian ("ru": 2 декабря
// 2026; a month without a day before it is named as such: декабрь 2026)
// or English ("en", the default).
func formatDate(layout string, value any, lang ...string) (string, error) {
	t, err := parseDate(value)
	if err != nil {
		return "", &HelperError{"date", err}
	}
	l := "en"
	if len(lang) > 0 {
		l = lang[0]
	}
	names, ok := dateNames[l]
	if !ok || len(lang) > 1 {
		return "", &HelperError{"date", fmt.Errorf("language %q: want \"ru\" or \"en\"", strings.Join(lang, " "))}
	}
	var b strings.Builder
	afterDay := false // a day number came before: Russian wants the genitive month
	for layout != "" {
		tok, rest, ok := nameToken(layout)
		if !ok {
			// Everything up to the next name is Go's to format.
			i := len(layout)
			for j := 1; j < len(layout); j++ {
				if _, _, ok := nameToken(layout[j:]); ok {
					i = j
					break
				}
			}
			chunk := layout[:i]
			b.WriteString(t.Format(chunk))
			afterDay = afterDay || strings.Contains(strings.ReplaceAll(chunk, "2006", ""), "2")
			layout = layout[i:]
			continue
		}
		b.WriteString(names.name(tok, t, afterDay))
		layout = rest
	}
	return b.String(), nil
}

// nameToken finds a month or weekday name at the start of a Go layout,
// the longest first.
func nameToken(layout string) (tok, rest string, ok bool) {
	for _, tok := range []string{"January", "Jan", "Monday", "Mon"} {
		if r, ok := strings.CutPrefix(layout, tok); ok {
			return tok, r, true
		}
	}
	return "", layout, false
}

type localNames struct {
	months, monthsOf, shortMonths [12]string // monthsOf: after a day (Russian genitive)
	days, shortDays               [7]string
}

func (n localNames) name(tok string, t time.Time, afterDay bool) string {
	switch tok {
	case "January":
		if afterDay {
			return n.monthsOf[t.Month()-1]
		}
		return n.months[t.Month()-1]
	case "Jan":
		return n.shortMonths[t.Month()-1]
	case "Monday":
		return n.days[t.Weekday()]
	default:
		return n.shortDays[t.Weekday()]
	}
}

var dateNames = map[string]localNames{
	"ru": {
		months:      [12]string{"январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь"},
		monthsOf:    [12]string{"января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября", "декабря"},
		shortMonths: [12]string{"янв.", "февр.", "мар.", "апр.", "мая", "июн.", "июл.", "авг.", "сент.", "окт.", "нояб.", "дек."},
		days:        [7]string{"воскресенье", "понедельник", "вторник", "среда", "четверг", "пятница", "суббота"},
		shortDays:   [7]string{"вс", "пн", "вт", "ср", "чт", "пт", "сб"},
	},
	"en": {
		months:      [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		monthsOf:    [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		shortMonths: [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
		days:        [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
		shortDays:   [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"},
	},
}

// defaultValue is {{default "коллега" .name}}: the value, or def when the
// cell is empty or blank.
func defaultValue(def string, value any) string {
	s, ok := value.(string)
	if !ok {
		if value == nil {
			return def
		}
		return fmt.Sprint(value)
	}
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

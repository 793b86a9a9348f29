package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a sending rate: N letters per Per. The zero Rate is unlimited.
type Rate struct {
	N   int
	Per time.Duration
}

// ParseRate reads "N/s", "N/min" or "N/h"; empty or "0" is unlimited.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" || s == "unlimited" {
		return Rate{}, nil
	}
	num, unit, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if !ok || err != nil || n < 1 {
		return Rate{}, fmt.Errorf("want a rate like 10/s, 100/min or 1000/h, got %q", s)
	}
	per := map[string]time.Duration{"s": time.Second, "sec": time.Second, "m": time.Minute, "min": time.Minute, "h": time.Hour, "hour": time.Hour}[strings.TrimSpace(unit)]
	if per == 0 {
		return Rate{}, fmt.Errorf("unknown unit %q in rate %q (want s, min or h)", unit, s)
	}
	return Rate{N: n, Per: per}, nil
}

// UnmarshalText reads a rate as ParseRate does.
func (r *Rate) UnmarshalText(text []byte) error {
	v, err := ParseRate(string(text))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// String writes the rate as ParseRate reads it.
func (r Rate) String() string {
	switch r.Per {
	case 0:
		return "unlimited"
	case time.Second:
		return fmt.Sprintf("%d/s", r.N)
	case time.Minute:
		return fmt.Sprintf("%d/min", r.N)
	case time.Hour:
		return fmt.Sprintf("%d/h", r.N)
	}
	return fmt.Sprintf("%d/%v", r.N, r.Per)
}

// Time is how long n letters take at the rate; 0 when it is unlimited.
func (r Rate) Time(n int) time.Duration {
	if r.N <= 0 || n <= 0 {
		return 0
	}
	return time.Duration(n) * r.Per / time.Duration(r.N)
}

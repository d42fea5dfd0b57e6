package tollfraud

import (
	"fmt"
	"strings"
	"time"
)

// Hours are the office's working hours in a week, to the minute: a bitmap
// of the week's 10,080 minutes, Sunday 00:00 first (time.Weekday's order).
// The zero value sets no office hours: every minute counts as office time.
type Hours struct {
	set  bool // false: no office hours given
	bits [weekMinutes / 64]uint64
}

const weekMinutes = 7 * 24 * 60 // a multiple of 64

// ParseHours reads office hours written as days and a time span, several
// joined by commas: "Mon-Fri 08:00-18:00", "Mon-Fri 08:00-12:00, Mon-Fri
// 13:30-18:00, Sat 09:00-12:00". Days are three-letter English names, a
// range may wrap (Fri-Mon); a span ends after it starts, within the day
// (24:00 is the day's end). An empty string sets no office hours (the
// zero Hours): no call is outside them.
func ParseHours(s string) (Hours, error) {
	var h Hours
	if strings.TrimSpace(s) == "" {
		return h, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		days, span, ok := strings.Cut(strings.TrimSpace(part), " ")
		if !ok {
			return Hours{}, fmt.Errorf("%q: want days and hours like \"Mon-Fri 08:00-18:00\"", strings.TrimSpace(part))
		}
		first, last, err := parseDays(days)
		if err != nil {
			return Hours{}, err
		}
		from, to, err := parseSpan(strings.TrimSpace(span))
		if err != nil {
			return Hours{}, err
		}
		for d := first; ; d = (d + 1) % 7 {
			for m := from; m < to; m++ {
				i := d*24*60 + m
				h.bits[i/64] |= 1 << (i % 64)
			}
			if d == last {
				break
			}
		}
	}
	h.set = true
	return h, nil
}

// parseDays reads "Mon" or "Mon-Fri" as weekday numbers (Sunday 0).
func parseDays(s string) (first, last int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if first, err = dayOf(a); err != nil {
		return 0, 0, err
	}
	last = first
	if isRange {
		if last, err = dayOf(b); err != nil {
			return 0, 0, err
		}
	}
	return first, last, nil
}

func dayOf(s string) (int, error) {
	for i, n := range [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"} {
		if strings.EqualFold(s, n) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", s)
}

// parseSpan reads "08:00-18:00" as minutes of the day, [from, to).
func parseSpan(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want a time span like 08:00-18:00", s)
	}
	if from, err = minuteOf(a); err != nil {
		return 0, 0, err
	}
	if to, err = minuteOf(b); err != nil {
		return 0, 0, err
	}
	if to <= from {
		return 0, 0, fmt.Errorf("%q: the span must end after it starts, on the same day", s)
	}
	return from, to, nil
}

// minuteOf reads HH:MM (00:00-24:00) as minutes since midnight.
func minuteOf(s string) (int, error) {
	var hh, mm int
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not a time like 08:00", s)
	}
	for _, c := range []byte{s[0], s[1], s[3], s[4]} {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a time like 08:00", s)
		}
	}
	hh, mm = int(s[0]-'0')*10+int(s[1]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	if mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time of day (00:00-24:00)", s)
	}
	return hh*60 + mm, nil
}

// Contains reports whether t, read in its own location, falls in office
// hours. It does not allocate.
func (h *Hours) Contains(t time.Time) bool {
	if !h.set {
		return true
	}
	hh, mm, _ := t.Clock()
	i := int(t.Weekday())*24*60 + hh*60 + mm
	return h.bits[i/64]&(1<<(i%64)) != 0
}

package cronjob

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule computes the activation times of a cron schedule.
type Schedule interface {
	// Next returns the first activation strictly after t (the zero time if
	// there is none within five years).
	Next(t time.Time) time.Time
}

// starBit marks a field written "*" or "?" (with no step above 1): when
// either day field is starred, a day must match both; otherwise either.
const starBit = 1 << 63

type field struct {
	min, max uint
	names    map[string]uint
}

var (
	minuteField = field{0, 59, nil}
	hourField   = field{0, 23, nil}
	domField    = field{1, 31, nil}
	monthField  = field{1, 12, map[string]uint{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}}
	dowField = field{0, 6, map[string]uint{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}}
)

// specSchedule is a five-field schedule: bit sets of the minutes, hours,
// days of month, months and days of week that match (second 0 always).
type specSchedule struct {
	minute, hour, dom, month, dow uint64
	// loc is the zone the fields are read in; nil means that of the time
	// passed to Next.
	loc *time.Location
}

// everySchedule is "@every <duration>": a fixed delay from the previous
// activation.
type everySchedule struct{ delay time.Duration }

// Parse reads a schedule as Kubernetes does (robfig/cron's ParseStandard):
// an optional "TZ=zone " or "CRON_TZ=zone " prefix, then a macro (@yearly,
// @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every
// <duration>) or five fields — minute, hour, day of month, month, day of
// week — each a comma-separated list of *, ?, n or n-m with an optional
// /step; months and days of week may be named (jan, mon). Without a zone,
// the schedule is read in the zone of the times given to Next.
func Parse(spec string) (Schedule, error) {
	if spec == "" {
		return nil, fmt.Errorf("empty spec string")
	}
	var loc *time.Location
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		eq, sp := strings.Index(spec, "="), strings.Index(spec, " ")
		if sp < 0 {
			return nil, fmt.Errorf("provided bad location %s: missing schedule after time zone", spec[eq+1:])
		}
		var err error
		if loc, err = time.LoadLocation(spec[eq+1 : sp]); err != nil {
			return nil, fmt.Errorf("provided bad location %s: %v", spec[eq+1:sp], err)
		}
		spec = strings.TrimSpace(spec[sp:])
	}
	if strings.HasPrefix(spec, "@") {
		return parseMacro(spec, loc)
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, fmt.Errorf("expected exactly 5 fields, found %d: %s", len(fields), fields)
	}
	s := &specSchedule{loc: loc}
	var err error
	for i, dst := range []struct {
		bits *uint64
		f    field
	}{{&s.minute, minuteField}, {&s.hour, hourField}, {&s.dom, domField}, {&s.month, monthField}, {&s.dow, dowField}} {
		if *dst.bits, err = parseField(fields[i], dst.f); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func parseMacro(spec string, loc *time.Location) (Schedule, error) {
	all := func(f field) uint64 { return bits(f.min, f.max, 1) | starBit }
	s := &specSchedule{minute: 1 << 0, hour: 1 << 0, dom: all(domField), month: all(monthField), dow: all(dowField), loc: loc}
	switch spec {
	case "@yearly", "@annually":
		s.dom, s.month = 1<<1, 1<<1
	case "@monthly":
		s.dom = 1 << 1
	case "@weekly":
		s.dow = 1 << 0
	case "@daily", "@midnight":
	case "@hourly":
		s.hour = all(hourField)
	default:
		const every = "@every "
		if !strings.HasPrefix(spec, every) {
			return nil, fmt.Errorf("unrecognized descriptor: %s", spec)
		}
		d, err := time.ParseDuration(spec[len(every):])
		if err != nil {
			return nil, fmt.Errorf("failed to parse duration %s: %s", spec, err)
		}
		if d < time.Second {
			d = time.Second
		}
		return everySchedule{delay: d - d%time.Second}, nil
	}
	return s, nil
}

// parseField reads a comma-separated list of ranges into a bit set.
func parseField(s string, f field) (uint64, error) {
	var out uint64
	for _, expr := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' }) {
		b, err := parseRange(expr, f)
		if err != nil {
			return 0, err
		}
		out |= b
	}
	return out, nil
}

// parseRange reads one of *, ?, n, n-m, each with an optional /step.
func parseRange(expr string, f field) (uint64, error) {
	rangeAndStep := strings.Split(expr, "/")
	lowAndHigh := strings.Split(rangeAndStep[0], "-")
	var start, end uint
	var extra uint64
	if lowAndHigh[0] == "*" || lowAndHigh[0] == "?" {
		start, end, extra = f.min, f.max, starBit
	} else {
		var err error
		if start, err = parseValue(lowAndHigh[0], f.names); err != nil {
			return 0, err
		}
		switch len(lowAndHigh) {
		case 1:
			end = start
		case 2:
			if end, err = parseValue(lowAndHigh[1], f.names); err != nil {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("too many hyphens: %s", expr)
		}
	}
	step := uint(1)
	switch len(rangeAndStep) {
	case 1:
	case 2:
		var err error
		if step, err = parseValue(rangeAndStep[1], nil); err != nil {
			return 0, err
		}
		if len(lowAndHigh) == 1 {
			end = f.max // "n/step" means "n-max/step"
		}
		if step > 1 {
			extra = 0
		}
	default:
		return 0, fmt.Errorf("too many slashes: %s", expr)
	}
	switch {
	case start < f.min:
		return 0, fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, f.min, expr)
	case end > f.max:
		return 0, fmt.Errorf("end of range (%d) above maximum (%d): %s", end, f.max, expr)
	case start > end:
		return 0, fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	case step == 0:
		return 0, fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	return bits(start, end, step) | extra, nil
}

func parseValue(s string, names map[string]uint) (uint, error) {
	if n, ok := names[strings.ToLower(s)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %s", s, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, s)
	}
	return uint(n), nil
}

func bits(min, max, step uint) uint64 {
	var b uint64
	for i := min; i <= max; i += step {
		b |= 1 << i
	}
	return b
}

// Next finds the next matching minute by walking the fields from month
// down to minute, as robfig/cron does, so that daylight-saving changes
// behave the same: a wall time skipped by a jump forward does not run that
// day.
func (s *specSchedule) Next(t time.Time) time.Time {
	orig := t.Location()
	loc := s.loc
	if loc == nil {
		loc = orig
	}
	t = t.In(loc)
	// Start at the next whole second.
	t = t.Add(time.Second - time.Duration(t.Nanosecond()))
	added := false
	yearLimit := t.Year() + 5

wrap:
	if t.Year() > yearLimit {
		return time.Time{}
	}
	for 1<<uint(t.Month())&s.month == 0 {
		if !added {
			added = true
			t = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
		}
		t = t.AddDate(0, 1, 0)
		if t.Month() == time.January {
			goto wrap
		}
	}
	for !s.dayMatches(t) {
		if !added {
			added = true
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		}
		t = t.AddDate(0, 0, 1)
		// A daylight-saving change may have moved midnight.
		if h := t.Hour(); h != 0 {
			if h > 12 {
				t = t.Add(time.Duration(24-h) * time.Hour)
			} else {
				t = t.Add(-time.Duration(h) * time.Hour)
			}
		}
		if t.Day() == 1 {
			goto wrap
		}
	}
	for 1<<uint(t.Hour())&s.hour == 0 {
		if !added {
			added = true
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, loc)
		}
		t = t.Add(time.Hour)
		if t.Hour() == 0 {
			goto wrap
		}
	}
	for 1<<uint(t.Minute())&s.minute == 0 {
		if !added {
			added = true
			t = t.Truncate(time.Minute)
		}
		t = t.Add(time.Minute)
		if t.Minute() == 0 {
			goto wrap
		}
	}
	for t.Second() != 0 {
		if !added {
			added = true
			t = t.Truncate(time.Second)
		}
		t = t.Add(time.Second)
		if t.Second() == 0 {
			goto wrap
		}
	}
	return t.In(orig)
}

// dayMatches applies cron's rule: if either day field is "*", both must
// match; otherwise either may.
func (s *specSchedule) dayMatches(t time.Time) bool {
	dom := 1<<uint(t.Day())&s.dom > 0
	dow := 1<<uint(t.Weekday())&s.dow > 0
	if s.dom&starBit > 0 || s.dow&starBit > 0 {
		return dom && dow
	}
	return dom || dow
}

// Next rounds t down to the second and adds the delay.
func (e everySchedule) Next(t time.Time) time.Time {
	return t.Add(e.delay - time.Duration(t.Nanosecond()))
}

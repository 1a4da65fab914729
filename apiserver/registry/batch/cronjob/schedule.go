package cronjob

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// bounds is the range of one cron field and its names, if any.
type bounds struct {
	min, max uint
	names    map[string]uint
}

// The five fields of a standard cron spec.
var fieldBounds = [5]bounds{
	{0, 59, nil}, // minute
	{0, 23, nil}, // hour
	{1, 31, nil}, // day of month
	{1, 12, map[string]uint{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}},
	{0, 6, map[string]uint{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}},
}

// ParseSchedule checks a schedule as Kubernetes does (robfig/cron's
// ParseStandard): an optional TZ=zone or CRON_TZ=zone prefix, then either a
// macro (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly,
// @every <duration>) or five fields — minute, hour, day of month, month,
// day of week — each a comma-separated list of *, ?, n, n-m, with an
// optional /step; months and days of week may be named (jan, mon). The
// error messages are those of the library, which Kubernetes returns.
func ParseSchedule(spec string) error {
	if len(spec) == 0 {
		return fmt.Errorf("empty spec string")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		eq := strings.Index(spec, "=")
		i := strings.Index(spec, " ")
		if i < 0 {
			// The library would slice out of range here; answer as for a
			// zone that does not load.
			return fmt.Errorf("provided bad location %s: missing schedule after time zone", spec[eq+1:])
		}
		zone := spec[eq+1 : i]
		if _, err := time.LoadLocation(zone); err != nil {
			return fmt.Errorf("provided bad location %s: %v", zone, err)
		}
		spec = strings.TrimSpace(spec[i:])
	}
	if strings.HasPrefix(spec, "@") {
		return parseDescriptor(spec)
	}
	fields := strings.Fields(spec)
	if len(fields) != len(fieldBounds) {
		return fmt.Errorf("expected exactly %d fields, found %d: %s", len(fieldBounds), len(fields), fields)
	}
	for i, f := range fields {
		if err := parseField(f, fieldBounds[i]); err != nil {
			return err
		}
	}
	return nil
}

func parseDescriptor(descriptor string) error {
	switch descriptor {
	case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
		return nil
	}
	const every = "@every "
	if strings.HasPrefix(descriptor, every) {
		if _, err := time.ParseDuration(descriptor[len(every):]); err != nil {
			return fmt.Errorf("failed to parse duration %s: %s", descriptor, err)
		}
		return nil
	}
	return fmt.Errorf("unrecognized descriptor: %s", descriptor)
}

// parseField checks a comma-separated list of ranges.
func parseField(f string, b bounds) error {
	for _, expr := range strings.FieldsFunc(f, func(r rune) bool { return r == ',' }) {
		if err := parseRange(expr, b); err != nil {
			return err
		}
	}
	return nil
}

// parseRange checks one of *, ?, n, n-m, each with an optional /step.
func parseRange(expr string, b bounds) error {
	rangeAndStep := strings.Split(expr, "/")
	lowAndHigh := strings.Split(rangeAndStep[0], "-")
	var start, end uint
	if lowAndHigh[0] == "*" || lowAndHigh[0] == "?" {
		start, end = b.min, b.max
	} else {
		var err error
		if start, err = parseIntOrName(lowAndHigh[0], b.names); err != nil {
			return err
		}
		switch len(lowAndHigh) {
		case 1:
			end = start
		case 2:
			if end, err = parseIntOrName(lowAndHigh[1], b.names); err != nil {
				return err
			}
		default:
			return fmt.Errorf("too many hyphens: %s", expr)
		}
	}

	step := uint(1)
	switch len(rangeAndStep) {
	case 1:
	case 2:
		var err error
		if step, err = parseUint(rangeAndStep[1]); err != nil {
			return err
		}
		// "n/step" means "n-max/step".
		if len(lowAndHigh) == 1 {
			end = b.max
		}
	default:
		return fmt.Errorf("too many slashes: %s", expr)
	}

	switch {
	case start < b.min:
		return fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, b.min, expr)
	case end > b.max:
		return fmt.Errorf("end of range (%d) above maximum (%d): %s", end, b.max, expr)
	case start > end:
		return fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	case step == 0:
		return fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	return nil
}

func parseIntOrName(expr string, names map[string]uint) (uint, error) {
	if n, ok := names[strings.ToLower(expr)]; ok {
		return n, nil
	}
	return parseUint(expr)
}

func parseUint(expr string) (uint, error) {
	n, err := strconv.Atoi(expr)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %s", expr, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, expr)
	}
	return uint(n), nil
}

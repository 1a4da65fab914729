package cronjob

import (
	"testing"
	_ "time/tzdata" // time zones for tests on machines without zoneinfo
)

func TestParseSchedule(t *testing.T) {
	valid := []string{
		"* * * * *",
		"*/5 * * * *",
		"0 0 1 1 *",
		"0 9-17 * * mon-fri",
		"30 2 * * SUN",
		"0 0 * JAN,jul ?",
		"5/15 0 1-31/2 * 0,6",
		"  0   0 * * *  ",
		"59 23 31 12 6",
		"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually",
		"@every 1h30m",
		"TZ=UTC 0 * * * *",
		"CRON_TZ=Europe/Paris @daily",
	}
	for _, s := range valid {
		if err := ParseSchedule(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}

	invalid := map[string]string{
		"":                       "empty spec string",
		"error":                  "expected exactly 5 fields, found 1: [error]",
		"* * * *":                "expected exactly 5 fields, found 4: [* * * *]",
		"0 0 * * * *":            "expected exactly 5 fields, found 6: [0 0 * * * *]",
		"60 * * * *":             "end of range (60) above maximum (59): 60",
		"* 24 * * *":             "end of range (24) above maximum (23): 24",
		"* * 0 * *":              "beginning of range (0) below minimum (1): 0",
		"* * * 13 *":             "end of range (13) above maximum (12): 13",
		"* * * * 7":              "end of range (7) above maximum (6): 7",
		"5-1 * * * *":            "beginning of range (5) beyond end of range (1): 5-1",
		"*/0 * * * *":            "step of range should be a positive number: */0",
		"1-2-3 * * * *":          "too many hyphens: 1-2-3",
		"*/2/3 * * * *":          "too many slashes: */2/3",
		"x * * * *":              `failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax`,
		"* * * * funday":         `failed to parse int from funday: strconv.Atoi: parsing "funday": invalid syntax`,
		"@often":                 "unrecognized descriptor: @often",
		"@every soon":            `failed to parse duration @every soon: time: invalid duration "soon"`,
		"TZ=Mars/Base * * * * *": "provided bad location Mars/Base: unknown time zone Mars/Base",
	}
	for s, want := range invalid {
		err := ParseSchedule(s)
		if err == nil {
			t.Errorf("%q: no error, want %q", s, want)
			continue
		}
		if err.Error() != want {
			t.Errorf("%q: %q, want %q", s, err, want)
		}
	}
	if err := ParseSchedule("TZ=UTC"); err == nil {
		t.Error("TZ without schedule accepted")
	}
}

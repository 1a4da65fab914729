package cronjob

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s: %v", name, err)
	}
	return loc
}

func TestScheduleNext(t *testing.T) {
	utc := time.UTC
	ny := mustLoad(t, "America/New_York")
	at := func(loc *time.Location, s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		spec string
		from time.Time
		want time.Time
	}{
		{"* * * * *", at(utc, "2025-01-06 12:00:30"), at(utc, "2025-01-06 12:01:00")},
		{"* * * * *", at(utc, "2025-01-06 12:01:00"), at(utc, "2025-01-06 12:02:00")},
		{"*/15 * * * *", at(utc, "2025-01-06 12:07:00"), at(utc, "2025-01-06 12:15:00")},
		{"5-10/2 * * * *", at(utc, "2025-01-06 12:07:00"), at(utc, "2025-01-06 12:09:00")},
		{"0 9 * * mon-fri", at(utc, "2025-01-04 10:00:00"), at(utc, "2025-01-06 09:00:00")}, // Saturday to Monday
		{"0 0 * * 5", at(utc, "2025-01-01 00:00:00"), at(utc, "2025-01-03 00:00:00")},       // a star day-of-month: Fridays only
		{"0 0 15 * 5", at(utc, "2025-01-01 00:00:00"), at(utc, "2025-01-03 00:00:00")},      // neither starred: 15th or Friday
		{"0 0 31 * *", at(utc, "2025-02-01 00:00:00"), at(utc, "2025-03-31 00:00:00")},
		{"0 12 1 jan,jul ?", at(utc, "2025-02-01 00:00:00"), at(utc, "2025-07-01 12:00:00")},
		{"@hourly", at(utc, "2025-01-06 12:00:00"), at(utc, "2025-01-06 13:00:00")},
		{"@daily", at(utc, "2025-01-06 12:00:00"), at(utc, "2025-01-07 00:00:00")},
		{"@midnight", at(utc, "2025-01-06 00:00:00"), at(utc, "2025-01-07 00:00:00")},
		{"@weekly", at(utc, "2025-01-06 12:00:00"), at(utc, "2025-01-12 00:00:00")}, // next Sunday
		{"@monthly", at(utc, "2025-01-06 12:00:00"), at(utc, "2025-02-01 00:00:00")},
		{"@yearly", at(utc, "2025-01-06 12:00:00"), at(utc, "2026-01-01 00:00:00")},
		{"@annually", at(utc, "2025-01-01 00:00:00"), at(utc, "2026-01-01 00:00:00")},
		{"@every 90s", at(utc, "2025-01-06 12:00:00").Add(500 * time.Millisecond), at(utc, "2025-01-06 12:01:30")},
		{"@every 1h30m", at(utc, "2025-01-06 12:00:00"), at(utc, "2025-01-06 13:30:00")},
		// A zone in the spec: 9:00 in New York is 14:00 UTC in winter.
		{"TZ=America/New_York 0 9 * * *", at(utc, "2025-01-06 13:00:00"), at(utc, "2025-01-06 14:00:00")},
		{"CRON_TZ=America/New_York 0 9 * * *", at(utc, "2025-01-06 15:00:00"), at(utc, "2025-01-07 14:00:00")},
		// Without one, the zone of the time given.
		{"0 9 * * *", at(ny, "2025-01-06 08:00:00"), at(ny, "2025-01-06 09:00:00")},
		// 2:30 does not exist on 2025-03-09 in New York: that day is skipped.
		{"30 2 * * *", at(ny, "2025-03-09 00:00:00"), at(ny, "2025-03-10 02:30:00")},
		{"0 * * * *", at(ny, "2025-03-09 01:30:00"), at(ny, "2025-03-09 03:00:00")},
	} {
		s, err := Parse(tc.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.spec, err)
			continue
		}
		got := s.Next(tc.from)
		if !got.Equal(tc.want) {
			t.Errorf("%q after %s = %s, want %s", tc.spec, tc.from, got, tc.want)
		}
		if got.Location() != tc.from.Location() {
			t.Errorf("%q: result in %s, want the zone of the input %s", tc.spec, got.Location(), tc.from.Location())
		}
	}
}

func TestParseErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"":                        "empty spec string",
		"* * * *":                 "expected exactly 5 fields, found 4",
		"61 * * * *":              "end of range (61) above maximum (59): 61",
		"* * 0 * *":               "beginning of range (0) below minimum (1): 0",
		"5-1 * * * *":             "beginning of range (5) beyond end of range (1): 5-1",
		"*/0 * * * *":             "step of range should be a positive number: */0",
		"* * * foo *":             `failed to parse int from foo`,
		"1-2-3 * * * *":           "too many hyphens: 1-2-3",
		"@fortnightly":            "unrecognized descriptor: @fortnightly",
		"@every x":                "failed to parse duration @every x",
		"TZ=Nowhere/Land * * * *": "provided bad location Nowhere/Land",
	} {
		_, err := Parse(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", spec, err, want)
		}
	}
}

func TestMostRecentScheduleTime(t *testing.T) {
	base := time.Date(2025, 1, 6, 10, 0, 0, 0, time.UTC)
	min := func(m float64) time.Time { return base.Add(time.Duration(m * float64(time.Minute))) }
	everyMinute, err := Parse("* * * * *")
	if err != nil {
		t.Fatal(err)
	}
	impossible, err := Parse("0 0 31 2 *")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		sched     Schedule
		created   time.Time
		last      *time.Time
		deadline  *int64
		now       time.Time
		want      *time.Time
		wantDelay time.Duration
		missed    missed
		wantErr   bool
	}{
		{name: "nothing due yet", sched: everyMinute, created: min(0.5), now: min(0.8),
			wantDelay: 12*time.Second + nextScheduleDelta},
		{name: "one due", sched: everyMinute, created: min(0.5), now: min(1.2), want: ptr.To(min(1)),
			wantDelay: 48*time.Second + nextScheduleDelta},
		{name: "last one done", sched: everyMinute, created: min(-10), last: ptr.To(min(1)), now: min(1.5),
			wantDelay: 30*time.Second + nextScheduleDelta},
		{name: "several missed: the latest", sched: everyMinute, created: min(-10), last: ptr.To(min(0)), now: min(5.2),
			want: ptr.To(min(5)), missed: fewMissed, wantDelay: 48*time.Second + nextScheduleDelta},
		{name: "past the starting deadline", sched: everyMinute, created: min(-10), last: ptr.To(min(0)), deadline: ptr.To[int64](20),
			now: min(5.5), wantDelay: 30*time.Second + nextScheduleDelta},
		{name: "within the starting deadline", sched: everyMinute, created: min(-10), last: ptr.To(min(0)), deadline: ptr.To[int64](40),
			now: min(5.5), want: ptr.To(min(5)), wantDelay: 30*time.Second + nextScheduleDelta},
		{name: "too many missed", sched: everyMinute, created: min(-300), now: min(0.25), want: ptr.To(min(0)),
			missed: manyMissed, wantDelay: 45*time.Second + nextScheduleDelta},
		{name: "impossible schedule", sched: impossible, created: min(0), now: min(60 * 24 * 800), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(tc.created)}}
			cj.Spec.StartingDeadlineSeconds = tc.deadline
			if tc.last != nil {
				cj.Status.LastScheduleTime = &metav1.Time{Time: *tc.last}
			}
			_, got, m, err := mostRecentScheduleTime(cj, tc.now, tc.sched, true)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if !ptr.Equal(got, tc.want) {
				t.Errorf("most recent %v, want %v", got, tc.want)
			}
			if m != tc.missed {
				t.Errorf("missed %d, want %d", m, tc.missed)
			}
			if d := nextScheduleDelay(cj, tc.now, tc.sched); !tc.wantErr && d != tc.wantDelay {
				t.Errorf("next delay %s, want %s", d, tc.wantDelay)
			}
		})
	}
}

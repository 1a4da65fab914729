package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A log of two streams with a line split in two parts.
const sampleLog = `2024-05-01T10:00:00.000000001Z stdout F one
2024-05-01T10:00:01.5Z stderr F two (stderr)
2024-05-01T10:00:02Z stdout P three, 
2024-05-01T10:00:02.1Z stdout P in 
2024-05-01T10:00:02.2Z stdout F parts
not a CRI line
2024-05-01T12:00:03+02:00 stdout F four
2024-05-01T10:00:04Z stderr F 
2024-05-01T10:00:05Z stdout F five
`

func writeLog(t *testing.T, content string) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestCopyLog(t *testing.T) {
	all := logOptions{tail: -1, limitBytes: -1}
	with := func(fn func(*logOptions)) logOptions { o := all; fn(&o); return o }
	tests := []struct {
		name string
		opts logOptions
		want string
	}{
		{"everything", all, "one\ntwo (stderr)\nthree, in parts\nfour\n\nfive\n"},
		{"tail 2", with(func(o *logOptions) { o.tail = 2 }), "\nfive\n"},
		{"tail counts joined lines once", with(func(o *logOptions) { o.tail = 4 }), "three, in parts\nfour\n\nfive\n"},
		{"tail more than there is", with(func(o *logOptions) { o.tail = 100 }), "one\ntwo (stderr)\nthree, in parts\nfour\n\nfive\n"},
		{"tail 0", with(func(o *logOptions) { o.tail = 0 }), ""},
		{"since", with(func(o *logOptions) { o.since = time.Date(2024, 5, 1, 10, 0, 1, 0, time.UTC) }), "two (stderr)\nthree, in parts\nfour\n\nfive\n"},
		{"since a time in another zone", with(func(o *logOptions) { o.since = time.Date(2024, 5, 1, 10, 0, 3, 0, time.UTC) }), "four\n\nfive\n"},
		{"limit bytes", with(func(o *logOptions) { o.limitBytes = 6 }), "one\ntw"},
		{"timestamps", with(func(o *logOptions) { o.timestamps = true; o.tail = 4 }),
			"2024-05-01T10:00:02.000000000Z three, in parts\n2024-05-01T12:00:03.000000000+02:00 four\n" +
				"2024-05-01T10:00:04.000000000Z \n2024-05-01T10:00:05.000000000Z five\n"},
		{"timestamps with a limit", with(func(o *logOptions) { o.timestamps = true; o.limitBytes = 38 }), "2024-05-01T10:00:00.000000001Z one\n202"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := copyLog(context.Background(), writeLog(t, sampleLog), tc.opts, &out, logFollower{}); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", out.String(), tc.want)
			}
		})
	}
}

func TestTailStartAcrossBlocks(t *testing.T) {
	// Lines longer than the 32 KiB blocks tailStart reads backwards.
	long := strings.Repeat("x", 40<<10)
	var b strings.Builder
	for i := range 5 {
		b.WriteString("2024-05-01T10:00:00Z stdout F " + string(rune('a'+i)) + long + "\n")
	}
	f := writeLog(t, b.String())
	for n := range int64(7) {
		st, _ := f.Stat()
		start, err := tailStart(f, st.Size(), n)
		if err != nil {
			t.Fatal(err)
		}
		line := int64(len("2024-05-01T10:00:00Z stdout F a") + len(long) + 1)
		want := max(0, 5-n) * line
		if start != want {
			t.Errorf("tail %d: start %d, want %d", n, start, want)
		}
	}
}

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		in      string
		stream  string
		partial bool
		content string
		bad     bool
	}{
		{in: "2024-05-01T10:00:00Z stdout F hi\n", stream: "stdout", content: "hi\n"},
		{in: "2024-05-01T10:00:00Z stderr P hi\n", stream: "stderr", partial: true, content: "hi"},
		{in: "2024-05-01T10:00:00Z stdout F:x hi there\n", stream: "stdout", content: "hi there\n"},
		{in: "2024-05-01T10:00:00Z stdout F no newline", stream: "stdout", content: "no newline\n"},
		{in: "2024-05-01T10:00:00Z stdout P\n", stream: "stdout", partial: true, content: ""},
		{in: "2024-05-01T10:00:00Z stdin F hi\n", bad: true},
		{in: "yesterday stdout F hi\n", bad: true},
		{in: "garbage\n", bad: true},
	}
	for _, tc := range tests {
		l, err := parseLogLine([]byte(tc.in))
		if tc.bad {
			if err == nil {
				t.Errorf("%q parsed", tc.in)
			}
			continue
		}
		if err != nil || l.stream != tc.stream || l.partial != tc.partial || string(l.content) != tc.content {
			t.Errorf("%q: %+v %v", tc.in, l, err)
		}
	}
}

// A followed log shows lines as they are written, a line written in two
// goes out once complete, and the stream ends once the container has
// stopped and the rest is read.
func TestCopyLogFollow(t *testing.T) {
	f := writeLog(t, "2024-05-01T10:00:00Z stdout F first\n")
	w, err := os.OpenFile(f.Name(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var running atomic.Bool
	running.Store(true)
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- copyLog(context.Background(), f, logOptions{tail: -1, limitBytes: -1, follow: true}, out, logFollower{
			running: func(context.Context) bool { return running.Load() },
			poll:    10 * time.Millisecond,
			check:   10 * time.Millisecond,
		})
	}()
	waitFor(t, func() bool { return out.String() == "first\n" })
	w.WriteString("2024-05-01T10:00:01Z stdout F sec")
	time.Sleep(50 * time.Millisecond) // the reader sees half a line
	w.WriteString("ond\n")
	waitFor(t, func() bool { return out.String() == "first\nsecond\n" })
	running.Store(false)
	w.WriteString("2024-05-01T10:00:02Z stdout F last words\n")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after the container stopped")
	}
	if out.String() != "first\nsecond\nlast words\n" {
		t.Errorf("got %q", out.String())
	}
}

// Following ends when the request does.
func TestCopyLogFollowCancel(t *testing.T) {
	f := writeLog(t, "2024-05-01T10:00:00Z stdout F first\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- copyLog(ctx, f, logOptions{tail: 0, limitBytes: -1, follow: true}, &syncBuffer{}, logFollower{
			running: func(context.Context) bool { return true }, poll: 10 * time.Millisecond})
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end with its context")
	}
}

func TestParseLogQuery(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		query    string
		want     logOptions
		previous bool
		code     int
	}{
		{query: "", want: logOptions{tail: -1, limitBytes: -1}},
		{query: "follow=true&timestamps=1&previous=true", want: logOptions{tail: -1, limitBytes: -1, follow: true, timestamps: true}, previous: true},
		{query: "follow=false&previous=0", want: logOptions{tail: -1, limitBytes: -1}},
		{query: "tailLines=10&limitBytes=100", want: logOptions{tail: 10, limitBytes: 100}},
		{query: "tail=5", want: logOptions{tail: 5, limitBytes: -1}},
		{query: "tail=all", want: logOptions{tail: -1, limitBytes: -1}},
		{query: "sinceSeconds=60", want: logOptions{tail: -1, limitBytes: -1, since: now.Add(-time.Minute)}},
		{query: "sinceTime=2024-05-01T11:00:00Z", want: logOptions{tail: -1, limitBytes: -1, since: now.Add(-time.Hour)}},
		{query: "tailLines=-1", code: 422},
		{query: "limitBytes=0", code: 422},
		{query: "sinceSeconds=0", code: 422},
		{query: "sinceSeconds=5&sinceTime=2024-05-01T11:00:00Z", code: 422},
		{query: "tailLines=x", code: 400},
		{query: "sinceTime=yesterday", code: 400},
	}
	for _, tc := range tests {
		q, _ := urlQuery(tc.query)
		got, previous, err := parseLogQuery(q, now)
		if tc.code != 0 {
			he, ok := err.(*httpError)
			if !ok || he.code != tc.code {
				t.Errorf("%q: error %v, want code %d", tc.query, err, tc.code)
			}
			continue
		}
		if err != nil || got != tc.want || previous != tc.previous {
			t.Errorf("%q: %+v previous=%v %v, want %+v previous=%v", tc.query, got, previous, err, tc.want, tc.previous)
		}
	}
}

package server

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// timeFormatOut is how --timestamps prints times: RFC 3339 with nine
// fractional digits, as the kubelet does (RFC3339NanoFixed).
const timeFormatOut = "2006-01-02T15:04:05.000000000Z07:00"

// logOptions are the PodLogOptions that apply to reading one log file.
type logOptions struct {
	tail       int64 // lines from the end; -1 for all
	limitBytes int64 // -1 for no limit
	since      time.Time
	follow     bool
	timestamps bool
}

// logLine is one line of a CRI log file:
// "2016-10-06T00:17:09.669794202Z stdout F log content\n"; tag P marks a
// partial line, continued by the stream's next line.
type logLine struct {
	at      time.Time
	stream  string
	partial bool
	content []byte // with its newline, unless partial
}

var errBadLine = errors.New("not a CRI log line")

func parseLogLine(b []byte) (logLine, error) {
	var l logLine
	ts, rest, ok := bytes.Cut(b, []byte{' '})
	if !ok {
		return l, errBadLine
	}
	at, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return l, errBadLine
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return l, errBadLine
	}
	tags, content, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		// An empty partial line may end right after the tag.
		tags, content = bytes.TrimSuffix(rest, []byte{'\n'}), nil
	}
	tag, _, _ := bytes.Cut(tags, []byte{':'})
	l = logLine{at: at, stream: string(stream), partial: string(tag) == "P", content: content}
	if l.partial {
		l.content = bytes.TrimSuffix(l.content, []byte{'\n'})
	} else if len(l.content) == 0 || l.content[len(l.content)-1] != '\n' {
		l.content = append(l.content, '\n')
	}
	return l, nil
}

// endsLine reports whether a raw file line ends a log line (lines not in
// the CRI format are not shown, so they do not count).
func endsLine(b []byte) bool {
	l, err := parseLogLine(b)
	return err == nil && !l.partial
}

// tailStart returns the offset of the first of the last n log lines of f
// (partial lines joined count as one), or 0 when there are fewer.
func tailStart(f io.ReaderAt, size, n int64) (int64, error) {
	if n < 0 {
		return 0, nil
	}
	const block = 32 << 10
	var (
		carry []byte // the start of data is at offset pos
		pos   = size
		count int64
	)
	for pos > 0 {
		read := min(block, pos)
		pos -= read
		data := make([]byte, read, read+int64(len(carry)))
		if _, err := f.ReadAt(data, pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		data = append(data, carry...)
		end := len(data)
		for end > 0 {
			i := bytes.LastIndexByte(data[:end-1], '\n')
			if i < 0 && pos > 0 {
				break // the line starts in an earlier block
			}
			line := data[i+1 : end]
			// A last line without its newline is still being written: it
			// is shown but not counted.
			if line[len(line)-1] == '\n' && endsLine(line) {
				count++
				if count > n {
					return pos + int64(end), nil
				}
			}
			end = i + 1
		}
		carry = data[:end]
	}
	return 0, nil
}

// logWriter writes log lines as `kubectl logs` shows them: both streams
// interleaved, partial lines joined, optionally prefixed with their
// timestamp, cut at a byte limit.
type logWriter struct {
	w      io.Writer
	opts   logOptions
	remain int64
	// inLine is set for a stream whose last line was partial: the next
	// one continues it and gets no timestamp.
	inLine map[string]bool
}

// errLimit ends a log once limitBytes have been written.
var errLimit = errors.New("byte limit reached")

func newLogWriter(w io.Writer, opts logOptions) *logWriter {
	lw := &logWriter{w: w, opts: opts, remain: -1, inLine: map[string]bool{}}
	if opts.limitBytes >= 0 {
		lw.remain = opts.limitBytes
	}
	return lw
}

func (lw *logWriter) write(l logLine) error {
	continued := lw.inLine[l.stream]
	lw.inLine[l.stream] = l.partial
	if l.at.Before(lw.opts.since) {
		return nil
	}
	out := l.content
	if lw.opts.timestamps && !continued {
		out = append(append([]byte(l.at.Format(timeFormatOut)), ' '), out...)
	}
	if lw.remain >= 0 && int64(len(out)) > lw.remain {
		out = out[:lw.remain]
	}
	n, err := lw.w.Write(out)
	if lw.remain >= 0 {
		lw.remain -= int64(n)
	}
	if err != nil {
		return err
	}
	if lw.remain == 0 {
		return errLimit
	}
	return nil
}

// logFollower tells a followed log whether its container still runs and
// when to look for more lines.
type logFollower struct {
	running func(context.Context) bool
	flush   func()
	// poll is how often the file is read for new lines; check how often
	// the container is asked whether it still runs (default 1s).
	poll, check time.Duration
}

// copyLog writes the log file f to w. With follow, it keeps waiting for
// new lines until ctx ends or the container has stopped and every line is
// read.
func copyLog(ctx context.Context, f *os.File, opts logOptions, w io.Writer, fl logFollower) error {
	path := f.Name()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	start, err := tailStart(f, st.Size(), opts.tail)
	if err != nil {
		return fmt.Errorf("tail %d lines of %s: %w", opts.tail, path, err)
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("seek in %s: %w", path, err)
	}
	r := bufio.NewReaderSize(f, 64<<10)
	lw := newLogWriter(w, opts)
	left := opts.tail // lines still to show when not following
	var (
		pending   []byte // a line read only in part at the end of the file
		stopped   bool   // the container no longer runs
		lastCheck time.Time
	)
	for {
		if !opts.follow && opts.tail >= 0 && left <= 0 {
			return nil
		}
		b, err := r.ReadBytes('\n')
		if len(pending) > 0 {
			b, pending = append(pending, b...), nil
		}
		if errors.Is(err, io.EOF) {
			if !opts.follow {
				if len(b) == 0 {
					return nil
				}
				// Show a last line that is still being written.
			} else {
				pending = b
				if stopped {
					return nil
				}
				if fl.flush != nil {
					fl.flush()
				}
				if check := cmp.Or(fl.check, time.Second); time.Since(lastCheck) >= check {
					lastCheck = time.Now()
					if !fl.running(ctx) {
						stopped = true // read what is left, then end
						continue
					}
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(fl.poll):
				}
				continue
			}
		} else if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		l, perr := parseLogLine(b)
		if perr != nil {
			continue
		}
		if err := lw.write(l); err != nil {
			if errors.Is(err, errLimit) {
				return nil
			}
			return err
		}
		if !l.partial {
			left--
		}
	}
}

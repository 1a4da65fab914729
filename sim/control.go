package sim

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// controlHelp describes the commands Control understands.
const controlHelp = `commands:
  stop NAME     stop NAME's heartbeat (its Lease goes stale, its pods are left alone)
  resume NAME   resume NAME's heartbeat
  add N         add N nodes
  nodes         list the nodes (a * marks a stopped heartbeat)
  help          this text`

// Control reads commands, one a line, from r and answers on w, until r
// ends or ctx is done: "stop NAME", "resume NAME", "add N", "nodes",
// "help". It is how `berth sim` is steered from its standard input.
func (s *Sim) Control(ctx context.Context, r io.Reader, w io.Writer) error {
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		errc <- sc.Err()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("read commands: %w", err)
			}
			return nil
		case line := <-lines:
			if out := s.command(line); out != "" {
				fmt.Fprintln(w, out)
			}
		}
	}
}

// command runs one command line and returns the answer.
func (s *Sim) command(line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		return ""
	}
	switch {
	case f[0] == "stop" && len(f) == 2:
		if err := s.StopHeartbeat(f[1]); err != nil {
			return "error: " + err.Error()
		}
		return "stopped " + f[1]
	case f[0] == "resume" && len(f) == 2:
		if err := s.ResumeHeartbeat(f[1]); err != nil {
			return "error: " + err.Error()
		}
		return "resumed " + f[1]
	case f[0] == "add" && len(f) == 2:
		count, err := strconv.Atoi(f[1])
		if err != nil || count < 1 {
			return fmt.Sprintf("error: add %q: not a positive number", f[1])
		}
		names, err := s.AddNodes(count)
		if err != nil {
			return "error: " + err.Error()
		}
		return "added " + strings.Join(names, " ")
	case f[0] == "nodes" && len(f) == 1:
		var b strings.Builder
		for i, name := range s.NodeNames() {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(name)
			if n := s.node(name); n != nil && n.isStopped() {
				b.WriteByte('*')
			}
		}
		return b.String()
	case f[0] == "help":
		return controlHelp
	}
	return fmt.Sprintf("error: unknown command %q\n%s", line, controlHelp)
}

package pod

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Limits of termination messages (the kubelet's).
const (
	maxTerminationMessage         = 4096 // bytes of the message file
	maxTerminationMessageLogLines = 80
	maxTerminationMessageLogBytes = 2048
)

// terminationMessage is what an exited container left as its message:
// the file at its terminationMessagePath, or with FallbackToLogsOnError
// and a failure, the end of its log.
func terminationMessage(_ context.Context, st *runtimeapi.ContainerStatus) string {
	fallback := st.Annotations[annotationTermMessagePolicy] == string(corev1.TerminationMessageFallbackToLogsOnError) &&
		st.ExitCode != 0 && st.Reason != "ContainerCannotRun"
	if p := st.Annotations[annotationTermMessagePath]; p != "" {
		for _, mnt := range st.Mounts {
			if mnt.ContainerPath != p {
				continue
			}
			data, err := readTail(mnt.HostPath, maxTerminationMessage)
			if os.IsNotExist(err) {
				break
			}
			if err != nil {
				return fmt.Sprintf("Error on reading termination log %s: %v", mnt.HostPath, err)
			}
			if len(data) > 0 || !fallback {
				return string(data)
			}
		}
	}
	if !fallback || st.LogPath == "" {
		return ""
	}
	data, err := readTail(st.LogPath, 64<<10)
	if err != nil {
		return fmt.Sprintf("Error on reading termination message from logs: %v", err)
	}
	msg := lastLogLines(data, maxTerminationMessageLogLines)
	if len(msg) > maxTerminationMessageLogBytes {
		msg = msg[len(msg)-maxTerminationMessageLogBytes:]
	}
	return string(msg)
}

// readTail reads at most the last n bytes of a file.
func readTail(file string, n int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > n {
		if _, err := f.Seek(fi.Size()-n, io.SeekStart); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(f)
}

// lastLogLines returns the content of the last n lines of a CRI log
// ("<time> <stream> <P|F> <content>" per line; P marks a partial line
// continued on the next).
func lastLogLines(data []byte, n int) []byte {
	var lines [][]byte
	var cur []byte
	for _, raw := range bytes.Split(data, []byte("\n")) {
		f := bytes.SplitN(raw, []byte(" "), 4)
		if len(f) < 3 {
			continue
		}
		var content []byte
		if len(f) == 4 {
			content = f[3]
		}
		cur = append(cur, content...)
		if string(f[2]) != "P" {
			lines = append(lines, append(cur, '\n'))
			cur = nil
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, nil)
}

package bench

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBerth builds the binary once per benchmark run.
func buildBerth(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "berth")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/berth")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs `berth server` (with extra flags) and returns the process
// and the time until /readyz answers ok.
func startServer(b *testing.B, bin, dataDir string, flags ...string) (*exec.Cmd, time.Duration) {
	port := freePort(b)
	cmd := exec.Command(bin, append([]string{"server", "--data-dir", dataDir, "--port", strconv.Itoa(port), "--bind-address", "127.0.0.1"}, flags...)...)
	// BERTH_BENCH_SERVER_GOGC sets the server's GOGC alone (not the
	// benchmark's own).
	if g := os.Getenv("BERTH_BENCH_SERVER_GOGC"); g != "" {
		cmd.Env = append(os.Environ(), "GOGC="+g)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", port)
	for time.Since(start) < 30*time.Second {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, time.Since(start)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	b.Fatal("server not ready after 30s")
	return nil, 0
}

func stopServer(b *testing.B, cmd *exec.Cmd) time.Duration {
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("server exit: %v", err)
	}
	return time.Since(start)
}

func rssMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// memory is a process's resident memory split the way smaps_rollup does:
// all of it (RSS), its proportional share (PSS: pages shared with other
// processes, such as the text of the berth binary that a server and an
// agent on one host both map, count by share) and what is its own alone
// (private: its heap, stacks and the pages of the binary only it touched).
type memory struct{ rss, pss, private float64 }

func memoryOf(pid int) memory {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return memory{}
	}
	var m memory
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Rss:":
			m.rss = kb / 1024
		case "Pss:":
			m.pss = kb / 1024
		case "Private_Clean:", "Private_Dirty:":
			m.private += kb / 1024
		}
	}
	return m
}

// BenchmarkServerStartup measures `berth server` from exec to /readyz ok,
// on a fresh data dir and on a restart, and its idle resident memory.
func BenchmarkServerStartup(b *testing.B) {
	bin := buildBerth(b)
	const runs = 5
	var fresh, restart, stop []time.Duration
	var rss []float64
	for i := 0; i < runs; i++ {
		dir := b.TempDir()
		cmd, d := startServer(b, bin, dir)
		fresh = append(fresh, d)
		if i == 0 {
			time.Sleep(5 * time.Second)
			rss = append(rss, rssMiB(cmd.Process.Pid))
		}
		stop = append(stop, stopServer(b, cmd))
		cmd, d = startServer(b, bin, dir)
		restart = append(restart, d)
		stopServer(b, cmd)
	}
	med := func(d []time.Duration) float64 { slices.Sort(d); return ms(d[len(d)/2]) }
	fmt.Printf("server ready, fresh data dir   median %6.0f ms  (max %.0f ms, %d runs)\n", med(fresh), ms(slices.Max(fresh)), runs)
	fmt.Printf("server ready, restart          median %6.0f ms  (max %.0f ms)\n", med(restart), ms(slices.Max(restart)))
	fmt.Printf("server stop on SIGTERM         median %6.0f ms\n", med(stop))
	fmt.Printf("idle RSS after 5 s             %6.1f MiB\n", rss[0])
	b.ReportMetric(med(fresh), "ready-ms")
	b.ReportMetric(rss[0], "idle-rss-MiB")
}

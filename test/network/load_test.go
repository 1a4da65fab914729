package network

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"berth/internal/testhosts"
)

// loadTarget is where a load loop sends its GETs, and from where.
type loadTarget struct {
	from *testhosts.Host
	url  string
	host string // Host header ("": the URL's)
}

// loadStats counts a group of loops' requests.
type loadStats struct {
	requests, failures int
	versions           map[string]int // demo answers by version
	errors             []string       // the first failures
}

// load is continuous HTTP load: for each named group of targets, loops
// that go round the group's targets, one GET (and one connection) after
// another.
type load struct {
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	// stats by group
	stats map[string]*loadStats
}

// loadPause is the pause between two requests of a loop: enough load to
// see a dropped connection, little enough to leave the rollout its CPU.
const loadPause = 10 * time.Millisecond

// startLoad starts loops loops per group of targets until stop.
// A request fails when it errs, times out (5s), answers other than 200 or
// with something that is not a demo answer.
func startLoad(targets map[string][]loadTarget, loops int) *load {
	l := &load{done: make(chan struct{}), stats: map[string]*loadStats{}}
	for name, list := range targets {
		l.stats[name] = &loadStats{versions: map[string]int{}}
		for i := range loops {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				clients := map[*testhosts.Host]*http.Client{}
				for k := i; ; k++ {
					select {
					case <-l.done:
						return
					default:
					}
					tg := list[k%len(list)]
					if clients[tg.from] == nil {
						clients[tg.from] = hostClient(tg.from, 5*time.Second)
					}
					start := time.Now()
					body, err := getOK(clients[tg.from], tg.url, tg.host)
					version, _, ok := parseDemo(body)
					if err == nil && !ok {
						err = fmt.Errorf("not a demo answer: %q", body)
					}
					l.record(name, version, err, tg, start)
					time.Sleep(loadPause)
				}
			}()
		}
	}
	return l
}

func (l *load) record(group, version string, err error, tg loadTarget, start time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats[group]
	s.requests++
	if err != nil {
		s.failures++
		if len(s.errors) < 10 {
			s.errors = append(s.errors, fmt.Sprintf("%s from %s: %s (Host %q) after %v: %v", start.Format("15:04:05.000"), tg.from.Name, tg.url, tg.host, time.Since(start).Round(time.Millisecond), err))
		}
		return
	}
	s.versions[version]++
}

// stop ends the loops and returns the counts by group.
func (l *load) stop() map[string]loadStats {
	close(l.done)
	l.wg.Wait()
	out := map[string]loadStats{}
	for name, s := range l.stats {
		out[name] = *s
	}
	return out
}

// waitHTTP waits until url (with Host host) answers 200.
func waitHTTP(t *testing.T, client *http.Client, url, host string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("GET %s (Host %q) to answer 200", url, host), func() (bool, string) {
		body, err := getOK(client, url, host)
		return err == nil, fmt.Sprintf("%v %q", err, strings.TrimSpace(body))
	})
}

// x509Pool is a pool of the given certificates.
func x509Pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

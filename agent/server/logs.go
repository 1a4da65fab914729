package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// queryBool reads a boolean query parameter as the API's parameter codec
// does: present and not "0" or "false" is true.
func queryBool(q url.Values, name string) bool {
	v, ok := q[name]
	if !ok || len(v) == 0 {
		return false
	}
	return v[0] != "0" && v[0] != "false" && v[0] != "False" && v[0] != "FALSE"
}

// parseLogQuery reads the kubelet's container log parameters (those of
// PodLogOptions, and the old "tail") at time now.
func parseLogQuery(q url.Values, now time.Time) (logOptions, bool, error) {
	opts := logOptions{tail: -1, limitBytes: -1, follow: queryBool(q, "follow"), timestamps: queryBool(q, "timestamps")}
	previous := queryBool(q, "previous")
	intParam := func(name string, min int64) (int64, bool, error) {
		v := q.Get(name)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false, errorf(http.StatusBadRequest, `{"message": "Unable to decode query."}`)
		}
		if n < min {
			return 0, false, errorf(http.StatusUnprocessableEntity, `{"message": "Invalid request."}`)
		}
		return n, true, nil
	}
	if t := q.Get("tail"); t != "" && t != "all" && q.Get("tailLines") == "" {
		q = cloneWith(q, "tailLines", t)
	}
	var err error
	var ok bool
	if opts.tail, ok, err = intParam("tailLines", 0); err != nil {
		return opts, false, err
	} else if !ok {
		opts.tail = -1
	}
	if opts.limitBytes, ok, err = intParam("limitBytes", 1); err != nil {
		return opts, false, err
	} else if !ok {
		opts.limitBytes = -1
	}
	secs, haveSecs, err := intParam("sinceSeconds", 1)
	if err != nil {
		return opts, false, err
	}
	if haveSecs {
		opts.since = now.Add(-time.Duration(secs) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		if haveSecs {
			return opts, false, errorf(http.StatusUnprocessableEntity, `{"message": "Invalid request."}`)
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return opts, false, errorf(http.StatusBadRequest, `{"message": "Unable to decode query."}`)
		}
		opts.since = t
	}
	return opts, previous, nil
}

func cloneWith(q url.Values, k, v string) url.Values {
	out := url.Values{}
	for key, vals := range q {
		out[key] = vals
	}
	out.Set(k, v)
	return out
}

// serveLogs serves /containerLogs/NAMESPACE/POD/CONTAINER: the current (or,
// with previous, the last terminated) instance's log.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	ref := refOf(r)
	opts, previous, err := parseLogQuery(r.URL.Query(), time.Now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	cs, err := s.containers(ctx, ref)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var c *runtimeapi.Container
	switch {
	case previous && len(cs) > 1:
		c = cs[1]
	case previous:
		s.writeError(w, r, errorf(http.StatusBadRequest, "previous terminated container %q in pod %q not found", ref.container, ref.pod))
		return
	case len(cs) > 0:
		c = cs[0]
	default:
		// Not created yet (or gone): the API server, which knows the pod's
		// status, may say why.
		s.writeError(w, r, errorf(http.StatusNotFound, "container %q in pod %q is not available", ref.container, ref.pod))
		return
	}
	st, err := s.cfg.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if previous || st.Status.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		opts.follow = false // nothing more will come
	}
	f, err := os.Open(st.Status.LogPath)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("open log of container %q in pod %q: %w", ref.container, ref.pod, err))
		return
	}
	defer f.Close()
	fw := &flushWriter{w: w, rc: http.NewResponseController(w)}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if opts.follow {
		// The client sees the stream open before the first line comes.
		w.WriteHeader(http.StatusOK)
		fw.wrote = true
		fw.flush()
	}
	fl := logFollower{
		running: func(ctx context.Context) bool {
			st, err := s.cfg.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
			return err == nil && st.Status.State == runtimeapi.ContainerState_CONTAINER_RUNNING
		},
		flush: fw.flush,
		poll:  s.cfg.LogPollInterval,
	}
	err = copyLog(ctx, f, opts, fw, fl)
	if err != nil && !fw.wrote {
		s.writeError(w, r, err)
		return
	}
	if err != nil {
		s.cfg.Logger.Debug("log stream ended", "pod", ref.namespace+"/"+ref.pod, "container", ref.container, "err", err)
	}
	fw.flush()
}

// flushWriter buffers nothing itself; flush pushes what the response
// writer holds to the client.
type flushWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	wrote bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.wrote = true
	return f.w.Write(p)
}

func (f *flushWriter) flush() {
	if f.wrote {
		f.rc.Flush()
	}
}

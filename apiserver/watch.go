package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// minWatchTimeout is the shortest server-side watch timeout; each watch
// without timeoutSeconds ends after between one and two times it, as
// Kubernetes spreads reconnections.
const minWatchTimeout = 30 * time.Minute

// serveWatch streams watch events until the client goes, the timeout
// passes or the server stops.
func (h *handler) serveWatch(w http.ResponseWriter, r *http.Request) error {
	out, err := h.s.codecs.negotiate(r, true)
	if err != nil {
		return err
	}
	opts := &metav1.ListOptions{}
	if err := h.decodeQuery(r, opts); err != nil {
		return err
	}
	timeout := minWatchTimeout + time.Duration(rand.Int64N(int64(minWatchTimeout)))
	if opts.TimeoutSeconds != nil {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	wi, err := h.st.Watch(ctx, h.ns, opts)
	var status apierrors.APIStatus
	if err != nil && errors.As(err, &status) && status.Status().Code == http.StatusGone {
		// As Kubernetes' watch cache: a watch from a resourceVersion that
		// is gone gets one ERROR event rather than an HTTP error.
		wi = errorWatch(statusOf(err))
	} else if err != nil {
		return err
	}
	defer wi.Stop()

	enc := newEventEncoder(h, r, out, w)
	w.Header().Set("Content-Type", enc.contentType())
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return nil
			}
			if err := enc.write(ev); err != nil {
				h.s.cfg.Logger.Debug("watch write", "err", err)
				return nil
			}
			if len(wi.ResultChan()) == 0 && flusher != nil {
				flusher.Flush()
			}
		}
	}
}

// eventEncoder writes watch events in the negotiated form.
type eventEncoder struct {
	h       *handler
	r       *http.Request
	out     output
	w       io.Writer
	frames  io.Writer // protobuf frame writer
	table   bool
	headers bool // column definitions already sent
	buf     bytes.Buffer
}

func newEventEncoder(h *handler, r *http.Request, out output, w io.Writer) *eventEncoder {
	e := &eventEncoder{h: h, r: r, out: out, w: w, table: out.as == "Table"}
	if out.mediaType == mediaProtobuf && out.info.StreamSerializer != nil {
		e.frames = out.info.StreamSerializer.Framer.NewFrameWriter(w)
	}
	return e
}

func (e *eventEncoder) contentType() string {
	if e.frames != nil {
		return mediaProtobuf + ";stream=watch"
	}
	ct := e.out.mediaType
	if e.out.as != "" {
		ct += ";as=" + e.out.as + ";g=meta.k8s.io;v=v1"
	}
	return ct
}

func (e *eventEncoder) write(ev watch.Event) error {
	obj, err := e.transform(ev)
	if err != nil {
		obj = statusOf(err)
		ev.Type = watch.Error
	}
	if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.Kind == "" {
		if kinds, _, err := e.h.s.cfg.Scheme.ObjectKinds(obj); err == nil && len(kinds) > 0 {
			obj.GetObjectKind().SetGroupVersionKind(kinds[0])
		}
	}
	e.buf.Reset()
	if err := e.out.info.Serializer.Encode(obj, &e.buf); err != nil {
		return err
	}
	if e.frames != nil {
		we := &metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: e.buf.Bytes()}}
		return e.out.info.StreamSerializer.Serializer.Encode(we, e.frames)
	}
	typ, _ := json.Marshal(string(ev.Type))
	line := make([]byte, 0, e.buf.Len()+40)
	line = append(line, `{"type":`...)
	line = append(line, typ...)
	line = append(line, `,"object":`...)
	line = append(line, bytes.TrimRight(e.buf.Bytes(), "\n")...)
	line = append(line, "}\n"...)
	_, err = e.w.Write(line)
	return err
}

// transform turns an event's object into what the client asked for.
func (e *eventEncoder) transform(ev watch.Event) (runtime.Object, error) {
	if ev.Type == watch.Error {
		return ev.Object, nil
	}
	switch e.out.as {
	case "Table":
		if ev.Type == watch.Bookmark {
			t := &metav1.Table{}
			t.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("Table"))
			if m, ok := ev.Object.(metav1.Object); ok {
				t.ResourceVersion = m.GetResourceVersion()
			}
			return t, nil
		}
		opts, err := tableOptionsFrom(e.r)
		if err != nil {
			return nil, err
		}
		opts.noHeaders = e.headers
		t, err := toTable(e.h.res, ev.Object, opts)
		if err != nil {
			return nil, err
		}
		e.headers = true
		return t, nil
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		return partial(ev.Object)
	}
	return ev.Object, nil
}

// errorWatch is a watch that sends one ERROR event and ends.
func errorWatch(status *metav1.Status) watch.Interface {
	ch := make(chan watch.Event, 1)
	ch <- watch.Event{Type: watch.Error, Object: status}
	close(ch)
	return watch.NewProxyWatcher(ch)
}

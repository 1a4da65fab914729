package apiserver

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"berth/apiserver/registry"
)

var groupResourceNone = schema.GroupResource{}

// tableOptions are the query parameters of Table output.
type tableOptions struct {
	noHeaders     bool
	includeObject metav1.IncludeObjectPolicy
}

func tableOptionsFrom(r *http.Request) (tableOptions, error) {
	opts := tableOptions{includeObject: metav1.IncludeMetadata}
	if v := r.URL.Query().Get("includeObject"); v != "" {
		switch p := metav1.IncludeObjectPolicy(v); p {
		case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
			opts.includeObject = p
		default:
			return opts, apierrors.NewBadRequest(fmt.Sprintf("includeObject must be one of None, Metadata, Object, got %q", v))
		}
	}
	return opts, nil
}

// writeObject encodes obj as negotiated, turning it into a Table or
// metadata when asked.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, res *registry.Resource, out output, obj runtime.Object) {
	switch out.as {
	case "Table":
		opts, err := tableOptionsFrom(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		t, err := toTable(res, obj, opts)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		obj = t
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		pom, err := toPartialMetadata(obj, out.as == "PartialObjectMetadataList")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		obj = pom
	}
	s.encode(w, r, code, out, obj)
}

// encode writes obj with the negotiated serializer.
func (s *Server) encode(w http.ResponseWriter, r *http.Request, code int, out output, obj runtime.Object) {
	if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.Kind == "" {
		if kinds, _, err := s.cfg.Scheme.ObjectKinds(obj); err == nil && len(kinds) > 0 {
			obj.GetObjectKind().SetGroupVersionKind(kinds[0])
		}
	}
	ser := out.info.Serializer
	if r.URL.Query().Get("pretty") == "true" && out.info.PrettySerializer != nil {
		ser = out.info.PrettySerializer
	}
	buf := buffers.Get().(*bytes.Buffer)
	defer putBuffer(buf)
	if err := ser.Encode(obj, buf); err != nil {
		s.cfg.Logger.Error("encode response", "err", err, "type", fmt.Sprintf("%T", obj))
		if code < 400 {
			s.writeError(w, r, apierrors.NewInternalError(err))
		}
		return
	}
	ct := out.mediaType
	if out.as != "" {
		ct += ";as=" + out.as + ";g=meta.k8s.io;v=v1"
	}
	s.writeBytes(w, r, code, ct, buf.Bytes())
}

func (s *Server) writeBytes(w http.ResponseWriter, r *http.Request, code int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// buffers recycles response buffers: every answer is encoded into one.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 1<<20 {
		return // keep only ordinary sizes
	}
	b.Reset()
	buffers.Put(b)
}

// writeError answers with a metav1.Status.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status.Code >= 500 && status.Code != http.StatusGatewayTimeout && status.Code != http.StatusServiceUnavailable {
		s.cfg.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	out, nerr := s.codecs.negotiate(r, false)
	if nerr != nil {
		out = output{mediaType: mediaJSON, info: s.codecs.byType[mediaJSON]}
	}
	s.encode(w, r, int(status.Code), out, status)
}

// statusOf returns the Status an error is answered with.
func statusOf(err error) *metav1.Status {
	var apiStatus apierrors.APIStatus
	if errors.As(err, &apiStatus) {
		st := apiStatus.Status()
		if st.Code == 0 {
			st.Code = http.StatusInternalServerError
		}
		st.Kind, st.APIVersion = "Status", "v1"
		return &st
	}
	st := apierrors.NewInternalError(err).ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	return &st
}

// toPartialMetadata keeps only the metadata of an object or list.
func toPartialMetadata(obj runtime.Object, asList bool) (runtime.Object, error) {
	if meta.IsListType(obj) {
		if !asList {
			return nil, apierrors.NewBadRequest("a list was requested as PartialObjectMetadata; ask for PartialObjectMetadataList")
		}
		items, err := meta.ExtractList(obj)
		if err != nil {
			return nil, err
		}
		lm, err := meta.ListAccessor(obj)
		if err != nil {
			return nil, err
		}
		out := &metav1.PartialObjectMetadataList{ListMeta: metav1.ListMeta{
			ResourceVersion: lm.GetResourceVersion(), Continue: lm.GetContinue(), RemainingItemCount: lm.GetRemainingItemCount(),
		}}
		out.Items = make([]metav1.PartialObjectMetadata, 0, len(items))
		for _, it := range items {
			p, err := partial(it)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, *p)
		}
		out.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadataList"))
		return out, nil
	}
	if asList {
		return nil, apierrors.NewBadRequest("an object was requested as PartialObjectMetadataList; ask for PartialObjectMetadata")
	}
	return partial(obj)
}

func partial(obj runtime.Object) (*metav1.PartialObjectMetadata, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	p := &metav1.PartialObjectMetadata{}
	p.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
	p.ObjectMeta = metav1.ObjectMeta{
		Name: m.GetName(), GenerateName: m.GetGenerateName(), Namespace: m.GetNamespace(),
		UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(), Generation: m.GetGeneration(),
		CreationTimestamp: m.GetCreationTimestamp(), DeletionTimestamp: m.GetDeletionTimestamp(),
		DeletionGracePeriodSeconds: m.GetDeletionGracePeriodSeconds(), Labels: m.GetLabels(),
		Annotations: m.GetAnnotations(), OwnerReferences: m.GetOwnerReferences(),
		Finalizers: m.GetFinalizers(), ManagedFields: m.GetManagedFields(),
	}
	return p, nil
}

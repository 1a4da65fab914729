package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"berth/apiserver/registry"
	"berth/apiserver/registry/generic"
	"berth/apiserver/request"
)

// requestTimeout bounds requests other than watches, as Kubernetes' 60s.
const requestTimeout = 60 * time.Second

// serveResource serves a request for a resource or one of its subresources.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info *request.Info) {
	gvr := schema.GroupVersionResource{Group: info.APIGroup, Version: info.APIVersion, Resource: info.Resource}
	st := s.cfg.Resources.Get(gvr)
	if st == nil {
		s.writeError(w, r, notFound())
		return
	}
	res := st.Resource()
	connect := connectSubresource(res, info.Subresource)
	// Only proxying subresources have paths below them
	// (nodes/NAME/proxy/stats/summary).
	if len(info.Parts) > 3 && !connect {
		s.writeError(w, r, notFound())
		return
	}
	if res.Namespaced && info.Namespace == "" && info.Name != "" {
		s.writeError(w, r, notFound())
		return
	}
	if !res.Namespaced && info.Resource != "namespaces" && info.Namespace != "" {
		s.writeError(w, r, notFound())
		return
	}
	ns := info.Namespace
	if !res.Namespaced {
		ns = ""
	}
	// Watches and streams (logs -f, exec, port-forward) run as long as the
	// client keeps them.
	if info.Verb != "watch" && !connect {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	h := &handler{s: s, st: st, res: res, ns: ns, info: info}
	var err error
	switch info.Subresource {
	case "":
		err = h.serveMain(w, r)
	case "status":
		if res.Status == nil {
			err = notFound()
			break
		}
		err = h.serveStatus(w, r)
	case "scale":
		if res.Scale == nil {
			err = notFound()
			break
		}
		err = h.serveScale(w, r)
	default:
		err = h.serveExtra(w, r)
	}
	if err != nil {
		s.writeError(w, r, err)
	}
}

// connectSubresource reports whether a subresource proxies its requests.
func connectSubresource(res *registry.Resource, name string) bool {
	for _, x := range res.Extra {
		if x.Name == name {
			return x.Connect != nil
		}
	}
	return false
}

// handler serves one request for a resource.
type handler struct {
	s    *Server
	st   *generic.Store
	res  *registry.Resource
	ns   string
	info *request.Info
}

func (h *handler) serveMain(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	switch h.info.Verb {
	case "create":
		if h.info.Name != "" {
			return methodNotSupported(h.info.Verb)
		}
	case "update", "patch":
		if h.info.Name == "" {
			return methodNotSupported(h.info.Verb)
		}
	case "deletecollection":
		if h.res.NoDeleteCollection {
			return methodNotSupported(h.info.Verb)
		}
	}
	switch h.info.Verb {
	case "get":
		out, err := h.s.codecs.negotiate(r, true)
		if err != nil {
			return err
		}
		obj, err := h.st.Get(ctx, h.ns, h.info.Name)
		if err != nil {
			return err
		}
		h.s.writeObject(w, r, http.StatusOK, h.res, out, obj)
	case "list":
		out, err := h.s.codecs.negotiate(r, true)
		if err != nil {
			return err
		}
		opts := &metav1.ListOptions{}
		if err := h.decodeQuery(r, opts); err != nil {
			return err
		}
		list, err := h.st.List(ctx, h.ns, opts)
		if err != nil {
			return err
		}
		list.GetObjectKind().SetGroupVersionKind(h.res.GroupVersion().WithKind(h.res.ListKind))
		h.s.writeObject(w, r, http.StatusOK, h.res, out, list)
	case "watch":
		return h.serveWatch(w, r)
	case "create":
		out, err := h.s.codecs.negotiate(r, true)
		if err != nil {
			return err
		}
		opts := &metav1.CreateOptions{}
		if err := h.decodeQuery(r, opts); err != nil {
			return err
		}
		opts.FieldManager = fieldManager(opts.FieldManager, r)
		if errs := validateWriteOptions(opts.DryRun, opts.FieldManager, opts.FieldValidation); len(errs) > 0 {
			return apierrors.NewInvalid(optionsKind("CreateOptions"), "", errs)
		}
		obj, err := h.decodeBody(r, h.st, opts.FieldValidation)
		if err != nil {
			return err
		}
		created, err := h.st.Create(ctx, h.ns, obj, opts)
		if err != nil {
			return err
		}
		h.s.writeObject(w, r, http.StatusCreated, h.res, out, created)
	case "update":
		return h.update(w, r, "")
	case "patch":
		return h.patch(w, r, "")
	case "delete":
		out, err := h.s.codecs.negotiate(r, false)
		if err != nil {
			return err
		}
		opts, err := h.deleteOptions(r)
		if err != nil {
			return err
		}
		obj, gone, err := h.st.Delete(ctx, h.ns, h.info.Name, opts)
		if err != nil {
			return err
		}
		if !gone {
			// Kubernetes answers 202 only when the client asked for
			// cascading deletion with orphanDependents=false.
			code := http.StatusOK
			if opts.OrphanDependents != nil && !*opts.OrphanDependents {
				code = http.StatusAccepted
			}
			h.s.writeObject(w, r, code, h.res, out, obj)
			return nil
		}
		h.s.writeObject(w, r, http.StatusOK, h.res, out, h.deleted(obj))
	case "deletecollection":
		out, err := h.s.codecs.negotiate(r, false)
		if err != nil {
			return err
		}
		listOpts := &metav1.ListOptions{}
		if err := h.decodeQuery(r, listOpts); err != nil {
			return err
		}
		opts, err := h.deleteOptions(r)
		if err != nil {
			return err
		}
		list, err := h.st.DeleteCollection(ctx, h.ns, listOpts, opts)
		if err != nil {
			return err
		}
		list.GetObjectKind().SetGroupVersionKind(h.res.GroupVersion().WithKind(h.res.ListKind))
		h.s.writeObject(w, r, http.StatusOK, h.res, out, list)
	default:
		return methodNotSupported(h.info.Verb)
	}
	return nil
}

// deleted is the answer to a delete that removed an object: the object
// for resources that return it, else a Status.
func (h *handler) deleted(obj runtime.Object) runtime.Object {
	if h.res.ReturnDeletedObject {
		return obj
	}
	details := &metav1.StatusDetails{Name: h.info.Name, Group: h.res.Group, Kind: h.res.Resource}
	if m, ok := obj.(metav1.Object); ok {
		details.UID = m.GetUID()
	}
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details:  details,
	}
}

func (h *handler) update(w http.ResponseWriter, r *http.Request, sub string) error {
	out, err := h.s.codecs.negotiate(r, true)
	if err != nil {
		return err
	}
	opts := &metav1.UpdateOptions{}
	if err := h.decodeQuery(r, opts); err != nil {
		return err
	}
	opts.FieldManager = fieldManager(opts.FieldManager, r)
	if errs := validateWriteOptions(opts.DryRun, opts.FieldManager, opts.FieldValidation); len(errs) > 0 {
		return apierrors.NewInvalid(optionsKind("UpdateOptions"), "", errs)
	}
	obj, err := h.decodeBody(r, h.st, opts.FieldValidation)
	if err != nil {
		return err
	}
	updated, created, err := h.st.Update(r.Context(), h.ns, h.info.Name, sub, obj, opts)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	h.s.writeObject(w, r, code, h.res, out, updated)
	return nil
}

func (h *handler) patch(w http.ResponseWriter, r *http.Request, sub string) error {
	out, err := h.s.codecs.negotiate(r, true)
	if err != nil {
		return err
	}
	opts := &metav1.PatchOptions{}
	if err := h.decodeQuery(r, opts); err != nil {
		return err
	}
	pt, err := patchType(r)
	if err != nil {
		return err
	}
	if pt != types.ApplyPatchType {
		opts.FieldManager = fieldManager(opts.FieldManager, r)
	} else if opts.Force != nil && !*opts.Force {
		opts.Force = nil
	}
	errs := validateWriteOptions(opts.DryRun, opts.FieldManager, opts.FieldValidation)
	if opts.Force != nil && pt != types.ApplyPatchType {
		errs = append(errs, field.Forbidden(field.NewPath("force"), "may not be specified for non-apply patch"))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(optionsKind("PatchOptions"), "", errs)
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	obj, created, err := h.st.Patch(r.Context(), h.ns, h.info.Name, sub, pt, data, opts)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	h.s.writeObject(w, r, code, h.res, out, obj)
	return nil
}

func (h *handler) serveStatus(w http.ResponseWriter, r *http.Request) error {
	switch h.info.Verb {
	case "get":
		out, err := h.s.codecs.negotiate(r, true)
		if err != nil {
			return err
		}
		obj, err := h.st.Get(r.Context(), h.ns, h.info.Name)
		if err != nil {
			return err
		}
		h.s.writeObject(w, r, http.StatusOK, h.res, out, obj)
		return nil
	case "update":
		return h.update(w, r, "status")
	case "patch":
		return h.patch(w, r, "status")
	}
	return methodNotSupported(h.info.Verb)
}

func (h *handler) serveScale(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	out, err := h.s.codecs.negotiate(r, false)
	if err != nil {
		return err
	}
	var sc *autoscalingv1.Scale
	switch h.info.Verb {
	case "get":
		sc, err = h.st.GetScale(ctx, h.ns, h.info.Name)
	case "update":
		opts := &metav1.UpdateOptions{}
		if err := h.decodeQuery(r, opts); err != nil {
			return err
		}
		opts.FieldManager = fieldManager(opts.FieldManager, r)
		body := &autoscalingv1.Scale{}
		if err := h.decodeInto(r, body); err != nil {
			return err
		}
		sc, err = h.st.UpdateScale(ctx, h.ns, h.info.Name, body, opts)
	case "patch":
		opts := &metav1.PatchOptions{}
		if err := h.decodeQuery(r, opts); err != nil {
			return err
		}
		opts.FieldManager = fieldManager(opts.FieldManager, r)
		pt, err := patchType(r)
		if err != nil {
			return err
		}
		data, err := readBody(r)
		if err != nil {
			return err
		}
		sc, err = h.st.PatchScale(ctx, h.ns, h.info.Name, pt, data, opts)
		if err != nil {
			return err
		}
	default:
		return methodNotSupported(h.info.Verb)
	}
	if err != nil {
		return err
	}
	h.s.encode(w, r, http.StatusOK, out, sc)
	return nil
}

func (h *handler) serveExtra(w http.ResponseWriter, r *http.Request) error {
	var sub *registry.Subresource
	for i := range h.res.Extra {
		if h.res.Extra[i].Name == h.info.Subresource {
			sub = &h.res.Extra[i]
		}
	}
	if sub == nil {
		return notFound()
	}
	if sub.Connect != nil {
		return sub.Connect(r.Context(), h.st, h.ns, h.info.Name, w, r)
	}
	out, err := h.s.codecs.negotiate(r, false)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var obj runtime.Object
	switch {
	case h.info.Verb == "get" && sub.Get != nil:
		obj, err = sub.Get(ctx, h.st, h.ns, h.info.Name)
	case h.info.Verb == "create" && sub.Create != nil:
		opts := &metav1.CreateOptions{}
		if err := h.decodeQuery(r, opts); err != nil {
			return err
		}
		body := sub.New()
		if err := h.decodeInto(r, body); err != nil {
			return err
		}
		obj, err = sub.Create(ctx, h.st, h.ns, h.info.Name, body, opts)
		if err == nil {
			h.s.encode(w, r, http.StatusCreated, out, obj)
			return nil
		}
	case h.info.Verb == "update" && sub.Update != nil:
		opts := &metav1.UpdateOptions{}
		if err := h.decodeQuery(r, opts); err != nil {
			return err
		}
		body := sub.New()
		if err := h.decodeInto(r, body); err != nil {
			return err
		}
		obj, err = sub.Update(ctx, h.st, h.ns, h.info.Name, body, opts)
	default:
		return methodNotSupported(h.info.Verb)
	}
	if err != nil {
		return err
	}
	h.s.encode(w, r, http.StatusOK, out, obj)
	return nil
}

// decodeBody decodes a JSON, YAML or protobuf request body into a new object
// of the resource, checking fields as fieldValidation asks.
func (h *handler) decodeBody(r *http.Request, st *generic.Store, fieldValidation string) (runtime.Object, error) {
	typ, info, err := h.s.codecs.bodyType(r)
	if err != nil {
		return nil, err
	}
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, apierrors.NewBadRequest("the body of the request was empty")
	}
	switch typ {
	case mediaProtobuf:
		obj := h.res.New()
		gvk := h.res.GroupVersionKind()
		dec, _, err := info.Serializer.Decode(data, &gvk, obj)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if h.res.Default != nil {
			h.res.Default(dec)
		}
		return dec, nil
	case mediaYAML:
		if data, err = yaml.YAMLToJSON(data); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error converting YAML to JSON: %v", err))
		}
	}
	return st.Decode(r.Context(), data, fieldValidation)
}

// decodeInto decodes a request body into obj (subresource bodies).
func (h *handler) decodeInto(r *http.Request, obj runtime.Object) error {
	_, info, err := h.s.codecs.bodyType(r)
	if err != nil {
		return err
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	if _, _, err := info.Serializer.Decode(data, nil, obj); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	return nil
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, tooLarge()
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return data, nil
}

// decodeQuery reads options from the query string.
func (h *handler) decodeQuery(r *http.Request, into runtime.Object) error {
	if err := h.s.params.DecodeParameters(r.URL.Query(), schema.GroupVersion{Version: "v1"}, into); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	return nil
}

// deleteOptions reads DeleteOptions from the query and the body.
func (h *handler) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	if err := h.decodeQuery(r, opts); err != nil {
		return nil, err
	}
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) > 0 {
		typ, info, err := h.s.codecs.bodyType(r)
		if err != nil {
			return nil, err
		}
		switch typ {
		case mediaProtobuf:
			// Clients send DeleteOptions of the resource's group version
			// (client-go's typed clients do); every one is the same type.
			gvk := h.res.GroupVersion().WithKind("DeleteOptions")
			if _, _, err := info.Serializer.Decode(data, &gvk, opts); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		default:
			if data, err = yaml.YAMLToJSON(data); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			if err := json.Unmarshal(data, opts); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		}
	}
	if errs := validateDeleteOptions(opts); len(errs) > 0 {
		return nil, apierrors.NewInvalid(optionsKind("DeleteOptions"), "", errs)
	}
	return opts, nil
}

// patchType returns the patch type of a request's Content-Type.
func patchType(r *http.Request) (types.PatchType, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil {
		for _, t := range generic.PatchTypes {
			if ct == t {
				return types.PatchType(ct), nil
			}
		}
	}
	return "", apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", groupResourceNone, "",
		fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s", strings.Join(generic.PatchTypes, ", ")), 0, false)
}

// fieldManager returns the manager a write is recorded under: the one asked
// for, or the client's user agent up to the first "/", as Kubernetes does.
func fieldManager(manager string, r *http.Request) string {
	if manager != "" {
		return manager
	}
	ua := strings.Split(r.UserAgent(), "/")[0]
	out := strings.Map(func(c rune) rune {
		if unicode.IsPrint(c) {
			return c
		}
		return -1
	}, ua)
	if len(out) > 128 {
		out = out[:128]
	}
	return out
}

func methodNotSupported(verb string) error {
	return apierrors.NewMethodNotSupported(schema.GroupResource{}, verb)
}

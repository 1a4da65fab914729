package generic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"berth/apiserver/request"
)

// Patch changes an object (or its status when sub is "status") with a JSON
// patch, a merge patch, a strategic merge patch or server-side apply. Only
// apply creates a missing object; it reports whether it did.
func (s *Store) Patch(ctx context.Context, namespace, name, sub string, pt types.PatchType, data []byte, opts *metav1.PatchOptions) (runtime.Object, bool, error) {
	w := write{sub: sub, manager: opts.FieldManager, dryRun: len(opts.DryRun) > 0}
	var desired desiredFunc
	switch pt {
	case types.ApplyPatchType:
		var err error
		if desired, err = s.applyPatch(namespace, name, sub, data, opts); err != nil {
			return nil, false, err
		}
		w.applied, w.createOK = true, sub == ""
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
		if pt == types.JSONPatchType {
			if _, err := jsonpatch.DecodePatch(data); err != nil {
				return nil, false, apierrors.NewBadRequest(err.Error())
			}
		} else if !json.Valid(data) {
			return nil, false, apierrors.NewBadRequest("error decoding patch: invalid JSON")
		}
		desired = func(cur runtime.Object) (runtime.Object, error) {
			curJSON, err := json.Marshal(cur)
			if err != nil {
				return nil, err
			}
			patched, err := patchJSON(pt, curJSON, data, s.res.New())
			if err != nil {
				return nil, err
			}
			obj, err := s.decode(ctx, patched, opts.FieldValidation, false)
			if err != nil {
				return nil, err
			}
			if m, err := meta.Accessor(obj); err == nil && m.GetName() != name {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), name))
			}
			return obj, nil
		}
	default:
		return nil, false, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", s.qualifiedResource(), name,
			fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s", strings.Join(PatchTypes, ", ")), 0, false)
	}
	return s.update(ctx, namespace, name, w, desired)
}

// PatchTypes are the patch media types every resource accepts.
var PatchTypes = []string{
	string(types.JSONPatchType), string(types.MergePatchType),
	string(types.StrategicMergePatchType), string(types.ApplyPatchType),
}

// patchJSON applies a JSON, merge or strategic merge patch to a document.
func patchJSON(pt types.PatchType, doc, patch []byte, schemaObj runtime.Object) ([]byte, error) {
	var out []byte
	var err error
	switch pt {
	case types.JSONPatchType:
		var p jsonpatch.Patch
		if p, err = jsonpatch.DecodePatch(patch); err == nil {
			out, err = p.Apply(doc)
		}
	case types.MergePatchType:
		out, err = jsonpatch.MergePatch(doc, patch)
	case types.StrategicMergePatchType:
		out, err = strategicpatch.StrategicMergePatch(doc, patch, schemaObj)
	}
	if err != nil {
		return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", schema.GroupResource{}, "", err.Error(), 0, false)
	}
	return out, nil
}

// applyPatch prepares a server-side apply of a YAML or JSON document.
func (s *Store) applyPatch(namespace, name, sub string, data []byte, opts *metav1.PatchOptions) (desiredFunc, error) {
	gk := schema.GroupKind{Group: metav1.GroupName, Kind: "PatchOptions"}
	if opts.FieldManager == "" {
		return nil, apierrors.NewInvalid(gk, "", field.ErrorList{field.Required(field.NewPath("fieldManager"), "is required for apply patch")})
	}
	fm := s.field.forSubresource(sub)
	if fm == nil {
		return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", s.qualifiedResource(), name, "server-side apply is not supported for this resource", 0, false)
	}
	jsonData, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	patch := &unstructured.Unstructured{}
	if err := patch.UnmarshalJSON(jsonData); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding apply patch: %v", err))
	}
	gvk := s.res.GroupVersionKind()
	if patch.GetAPIVersion() != gvk.GroupVersion().String() || patch.GetKind() != gvk.Kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", patch.GetAPIVersion(), gvk.GroupVersion()))
	}
	if patch.GetName() != "" && patch.GetName() != name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", patch.GetName(), name))
	}
	if s.res.Namespaced && patch.GetNamespace() != "" && patch.GetNamespace() != namespace {
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	force := opts.Force != nil && *opts.Force
	return func(cur runtime.Object) (runtime.Object, error) {
		live := cur
		if live == nil {
			live = s.res.New()
			live.GetObjectKind().SetGroupVersionKind(gvk)
			m, _ := meta.Accessor(live)
			m.SetName(name)
			if s.res.Namespaced {
				m.SetNamespace(namespace)
			}
		}
		out, err := fm.Apply(live, patch.DeepCopy(), opts.FieldManager, force)
		if err != nil {
			if _, ok := err.(apierrors.APIStatus); ok {
				return nil, err
			}
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	}, nil
}

// Decode decodes a JSON object of the resource, reporting unknown and
// duplicate fields as fieldValidation asks: Strict refuses them, Warn (the
// default) adds warnings, Ignore drops them.
func (s *Store) Decode(ctx context.Context, data []byte, fieldValidation string) (runtime.Object, error) {
	return s.decode(ctx, data, fieldValidation, true)
}

// decode decodes a JSON object; errors of request bodies say which kind
// could not be handled (wrap), those of patched objects do not, as in
// Kubernetes.
func (s *Store) decode(ctx context.Context, data []byte, fieldValidation string, wrap bool) (runtime.Object, error) {
	fail := func(err error) error {
		if wrap {
			return s.decodeError(err)
		}
		return apierrors.NewBadRequest(err.Error())
	}
	obj := s.res.New()
	strictErrs, err := sigsjson.UnmarshalStrict(data, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, fail(err)
	}
	if len(strictErrs) > 0 {
		switch fieldValidation {
		case metav1.FieldValidationStrict:
			msgs := make([]string, len(strictErrs))
			for i, e := range strictErrs {
				msgs[i] = e.Error()
			}
			return nil, fail(errors.New("strict decoding error: " + strings.Join(msgs, ", ")))
		case metav1.FieldValidationIgnore:
		default:
			for _, e := range strictErrs {
				request.AddWarning(ctx, e.Error())
			}
		}
	}
	gvk := s.res.GroupVersionKind()
	tm := obj.GetObjectKind().GroupVersionKind()
	if tm.Version != "" && tm.GroupVersion() != gvk.GroupVersion() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", tm.GroupVersion(), gvk.GroupVersion()))
	}
	if tm.Kind != "" && tm.Kind != gvk.Kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", tm.Kind, gvk.Kind))
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	if s.res.Default != nil {
		s.res.Default(obj)
	}
	return obj, nil
}

// decodeError is the 400 a body that does not decode gets, worded as
// Kubernetes words it.
func (s *Store) decodeError(err error) error {
	return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", s.res.Kind, s.res.Version, s.res.Kind, err))
}

package openapi

import (
	"fmt"
	"net/http"
	"strings"

	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// openAPIV3 renders the OpenAPI 3.0 document of one entry of the v3 index
// (a group version, or a discovery document): its paths and every schema
// they refer to, directly or not.
func openAPIV3(m *model, key string) *spec3.OpenAPI {
	f := flavor{v3: true}
	paths := map[string]*spec3.Path{}
	var roots []string
	for _, it := range m.docs[key] {
		paths[it.path] = v3Path(f, it)
		for i := range it.ops {
			o := &it.ops[i]
			if o.body != "" {
				roots = append(roots, o.body)
			}
			for _, r := range o.responses {
				if r.def != "" {
					roots = append(roots, r.def)
				}
			}
		}
	}
	schemas := map[string]*spec.Schema{}
	for len(roots) > 0 {
		name := roots[len(roots)-1]
		roots = roots[:len(roots)-1]
		if _, done := schemas[name]; done {
			continue
		}
		s, ok := m.defs[name]
		if !ok {
			continue
		}
		schemas[name] = s
		walkRefs(s, func(ref string) {
			if n, ok := strings.CutPrefix(ref, f.refPrefix()); ok {
				roots = append(roots, n)
			}
		})
	}
	return &spec3.OpenAPI{
		Version:    "3.0.0",
		Info:       &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: "unversioned"}},
		Paths:      &spec3.Paths{Paths: paths},
		Components: &spec3.Components{Schemas: schemas},
	}
}

// walkRefs calls fn with every $ref in s.
func walkRefs(s *spec.Schema, fn func(string)) {
	if s == nil {
		return
	}
	if r := s.Ref.String(); r != "" {
		fn(r)
	}
	for k := range s.Properties {
		p := s.Properties[k]
		walkRefs(&p, fn)
	}
	if s.Items != nil {
		walkRefs(s.Items.Schema, fn)
		for i := range s.Items.Schemas {
			walkRefs(&s.Items.Schemas[i], fn)
		}
	}
	if s.AdditionalProperties != nil {
		walkRefs(s.AdditionalProperties.Schema, fn)
	}
	for _, list := range [][]spec.Schema{s.AllOf, s.OneOf, s.AnyOf} {
		for i := range list {
			walkRefs(&list[i], fn)
		}
	}
	walkRefs(s.Not, fn)
}

func v3Path(f flavor, it *pathItem) *spec3.Path {
	p := &spec3.Path{}
	for _, pr := range it.params {
		p.Parameters = append(p.Parameters, v3Param(pr))
	}
	for i := range it.ops {
		o := &it.ops[i]
		op := v3Operation(f, o)
		switch o.method {
		case "get":
			p.Get = op
		case "put":
			p.Put = op
		case "post":
			p.Post = op
		case "patch":
			p.Patch = op
		case "delete":
			p.Delete = op
		}
	}
	return p
}

func v3Param(pr param) *spec3.Parameter {
	s := new(spec.Schema).Typed(pr.typ, "")
	s.UniqueItems = true
	return &spec3.Parameter{ParameterProps: spec3.ParameterProps{
		Name: pr.name, In: pr.in, Description: pr.desc, Required: pr.required, Schema: s,
	}}
}

func v3Operation(f flavor, o *operation) *spec3.Operation {
	op := &spec3.Operation{OperationProps: spec3.OperationProps{Description: o.desc, OperationId: o.id}}
	if o.tag != "" {
		op.Tags = []string{o.tag}
	}
	for _, pr := range o.params {
		op.Parameters = append(op.Parameters, v3Param(pr))
	}
	if o.body != "" {
		op.RequestBody = &spec3.RequestBody{RequestBodyProps: spec3.RequestBodyProps{
			Content:  content(o.consumes, refSchema(f, o.body)),
			Required: o.bodyRequired,
		}}
	}
	op.Responses = &spec3.Responses{ResponsesProps: spec3.ResponsesProps{StatusCodeResponses: map[int]*spec3.Response{}}}
	for _, r := range o.responses {
		resp := &spec3.Response{ResponseProps: spec3.ResponseProps{Description: http.StatusText(r.code)}}
		if r.code != http.StatusUnauthorized {
			s := spec.StringProperty()
			if r.def != "" {
				s = refSchema(f, r.def)
			}
			resp.Content = content(o.produces, s)
		}
		op.Responses.StatusCodeResponses[r.code] = resp
	}
	addOpExtensions(&op.VendorExtensible, o)
	return op
}

func content(types []string, s *spec.Schema) map[string]*spec3.MediaType {
	c := make(map[string]*spec3.MediaType, len(types))
	for _, t := range types {
		c[t] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: s}}
	}
	return c
}

// v3Protobuf converts a JSON group-version document to the gnostic
// protobuf form (application/com.github.proto-openapi.spec.v3.v1.0+protobuf).
func v3Protobuf(doc []byte) ([]byte, error) {
	d, err := openapi_v3.ParseDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("parse openapi v3 document: %w", err)
	}
	b, err := proto.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("marshal openapi v3 protobuf: %w", err)
	}
	return b, nil
}

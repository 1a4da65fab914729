package openapi

import (
	"fmt"
	"net/http"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// swagger renders the whole Swagger 2.0 document: every path and every
// definition.
func swagger(m *model) *spec.Swagger {
	paths := map[string]spec.PathItem{}
	for _, items := range m.docs {
		for _, it := range items {
			paths[it.path] = v2PathItem(it)
		}
	}
	defs := make(spec.Definitions, len(m.defs))
	for name, s := range m.defs {
		defs[name] = *s
	}
	return &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     "2.0",
		Info:        &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: "unversioned"}},
		Paths:       &spec.Paths{Paths: paths},
		Definitions: defs,
	}}
}

func v2PathItem(it *pathItem) spec.PathItem {
	var p spec.PathItem
	for _, pr := range it.params {
		p.Parameters = append(p.Parameters, v2Param(pr))
	}
	for i := range it.ops {
		o := &it.ops[i]
		op := v2Operation(o)
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

func v2Param(pr param) spec.Parameter {
	p := spec.Parameter{ParamProps: spec.ParamProps{Name: pr.name, In: pr.in, Description: pr.desc, Required: pr.required}}
	p.Type = pr.typ
	p.UniqueItems = true
	return p
}

func v2Operation(o *operation) *spec.Operation {
	op := &spec.Operation{OperationProps: spec.OperationProps{
		Description: o.desc,
		ID:          o.id,
		Consumes:    o.consumes,
		Produces:    o.produces,
		Schemes:     []string{"https"},
	}}
	if o.tag != "" {
		op.Tags = []string{o.tag}
	}
	for _, pr := range o.params {
		op.Parameters = append(op.Parameters, v2Param(pr))
	}
	if o.body != "" {
		body := spec.Parameter{ParamProps: spec.ParamProps{Name: "body", In: "body", Required: o.bodyRequired, Schema: refSchema(flavor{}, o.body)}}
		op.Parameters = append([]spec.Parameter{body}, op.Parameters...)
	}
	op.Responses = &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{}}}
	for _, r := range o.responses {
		resp := spec.Response{ResponseProps: spec.ResponseProps{Description: http.StatusText(r.code)}}
		if r.code != http.StatusUnauthorized {
			if r.def != "" {
				resp.Schema = refSchema(flavor{}, r.def)
			} else {
				resp.Schema = spec.StringProperty()
			}
		}
		op.Responses.StatusCodeResponses[r.code] = resp
	}
	addOpExtensions(&op.VendorExtensible, o)
	return op
}

func addOpExtensions(v *spec.VendorExtensible, o *operation) {
	if o.action != "" {
		v.AddExtension(extAction, o.action)
	}
	if o.gvk != nil {
		v.AddExtension(extGVK, gvkMap(*o.gvk))
	}
}

func refSchema(f flavor, name string) *spec.Schema {
	s := f.ref(name)
	return &s
}

// v2Protobuf converts the JSON document to the gnostic protobuf form
// client-go's DiscoveryClient.OpenAPISchema asks for.
func v2Protobuf(doc []byte) ([]byte, error) {
	d, err := openapi_v2.ParseDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("parse openapi v2 document: %w", err)
	}
	b, err := proto.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("marshal openapi v2 protobuf: %w", err)
	}
	return b, nil
}

package apiserver

import (
	"fmt"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// Media types the server reads and writes.
const (
	mediaJSON     = runtime.ContentTypeJSON
	mediaYAML     = runtime.ContentTypeYAML
	mediaProtobuf = runtime.ContentTypeProtobuf
)

// mediaRange is one entry of an Accept header.
type mediaRange struct {
	typ    string // "application/json"
	params map[string]string
}

func parseAccept(h string) []mediaRange {
	if strings.TrimSpace(h) == "" {
		return []mediaRange{{typ: "*/*"}}
	}
	var out []mediaRange
	for _, part := range strings.Split(h, ",") {
		typ, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		out = append(out, mediaRange{typ: typ, params: params})
	}
	return out
}

// output is how a response is encoded.
type output struct {
	mediaType string
	info      runtime.SerializerInfo
	// as is "", "Table", "PartialObjectMetadata" or "PartialObjectMetadataList".
	as string
}

// codecs wraps the serializers of the server's scheme.
type codecs struct {
	factory serializer.CodecFactory
	byType  map[string]runtime.SerializerInfo
}

func newCodecs(scheme *runtime.Scheme) *codecs {
	f := serializer.NewCodecFactory(scheme)
	c := &codecs{factory: f, byType: map[string]runtime.SerializerInfo{}}
	for _, info := range f.SupportedMediaTypes() {
		switch info.MediaType {
		case mediaJSON, mediaYAML, mediaProtobuf:
			c.byType[info.MediaType] = info
		}
	}
	return c
}

var acceptedTypes = strings.Join([]string{mediaJSON, mediaYAML, mediaProtobuf}, ", ")

// negotiate picks the response encoding from an Accept header. transforms
// tells whether the endpoint can answer as a Table or as metadata only.
func (c *codecs) negotiate(r *http.Request, transforms bool) (output, error) {
	for _, m := range parseAccept(r.Header.Get("Accept")) {
		typ := m.typ
		switch typ {
		case "*/*", "application/*":
			typ = mediaJSON
		case "application/vnd.kubernetes.protobuf;stream=watch":
			typ = mediaProtobuf
		}
		info, ok := c.byType[typ]
		if !ok {
			continue
		}
		as := m.params["as"]
		if as == "" {
			return output{mediaType: typ, info: info}, nil
		}
		if !transforms || m.params["g"] != "meta.k8s.io" {
			continue
		}
		v := m.params["v"]
		if v != "v1" && v != "v1beta1" {
			continue
		}
		switch as {
		case "Table", "PartialObjectMetadata", "PartialObjectMetadataList":
			if typ == mediaProtobuf {
				continue
			}
			return output{mediaType: typ, info: info, as: as}, nil
		}
	}
	return output{}, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", groupResourceNone, "",
		fmt.Sprintf("only the following media types are accepted: %s", acceptedTypes), 0, false)
}

// bodyType returns the serializer for a request body's Content-Type.
func (c *codecs) bodyType(r *http.Request) (string, runtime.SerializerInfo, error) {
	ct := r.Header.Get("Content-Type")
	typ := mediaJSON
	if ct != "" {
		t, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return "", runtime.SerializerInfo{}, unsupportedMediaType(ct)
		}
		typ = t
	}
	info, ok := c.byType[typ]
	if !ok {
		return "", runtime.SerializerInfo{}, unsupportedMediaType(ct)
	}
	return typ, info, nil
}

func unsupportedMediaType(ct string) error {
	return apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", groupResourceNone, "",
		fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s", acceptedTypes), 0, false)
}

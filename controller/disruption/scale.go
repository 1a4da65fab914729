package disruption

import (
	"context"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
)

// scaleGetter finds the scale of any controller with a scale
// subresource: nil when there is no such controller (or it is another
// object of the same name).
type scaleGetter interface {
	scaleOf(ctx context.Context, ref *metav1.OwnerReference, namespace string) (*controllerScale, error)
}

// apiScales reads scale subresources through the API, resolving kinds to
// resources by discovery (set up at first use).
type apiScales struct {
	client kubernetes.Interface

	once   sync.Once
	disco  discovery.DiscoveryInterface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	scales scale.ScalesGetter
}

func (a *apiScales) init() {
	a.disco = a.client.Discovery()
	a.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(a.disco))
	a.scales = scale.New(a.client.CoreV1().RESTClient(), a.mapper, dynamic.LegacyAPIPathResolverFunc,
		scale.NewDiscoveryScaleKindResolver(a.disco))
}

func (a *apiScales) scaleOf(ctx context.Context, ref *metav1.OwnerReference, namespace string) (*controllerScale, error) {
	a.once.Do(a.init)
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, err
	}
	mapping, err := a.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
	if err != nil {
		return nil, err
	}
	gr := mapping.Resource.GroupResource()
	s, err := a.scales.Scales(namespace).Get(ctx, gr, ref.Name, metav1.GetOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
		// Either the object is gone or it has no scale subresource.
		ok, err := a.implementsScale(mapping.Resource)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%s does not implement the scale subresource", gr.String())
		}
		return nil, nil
	}
	if s.UID != ref.UID {
		return nil, nil
	}
	return &controllerScale{uid: s.UID, replicas: s.Spec.Replicas}, nil
}

func (a *apiScales) implementsScale(gvr schema.GroupVersionResource) (bool, error) {
	list, err := a.disco.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if err != nil {
		return false, err
	}
	for _, r := range list.APIResources {
		if r.Name != gvr.Resource+"/scale" || r.Kind != "Scale" {
			continue
		}
		for _, v := range scale.NewScaleConverter().ScaleVersions() {
			if r.Group == v.Group && r.Version == v.Version {
				return true, nil
			}
		}
	}
	return false, nil
}

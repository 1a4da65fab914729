package controller

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// NodeReady reports whether a Node's Ready condition is True.
func NodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeNameIndex indexes pods by spec.nodeName.
const nodeNameIndex = "spec.nodeName"

// PodsByNode indexes a pod informer by node (once, however many
// controllers ask; before the informer starts) and returns the lookup of
// the pods bound to a node.
func PodsByNode(inf cache.SharedIndexInformer) (func(node string) ([]*corev1.Pod, error), error) {
	if _, ok := inf.GetIndexer().GetIndexers()[nodeNameIndex]; !ok {
		err := inf.AddIndexers(cache.Indexers{nodeNameIndex: func(obj interface{}) ([]string, error) {
			pod, ok := obj.(*corev1.Pod)
			if !ok || pod.Spec.NodeName == "" {
				return nil, nil
			}
			return []string{pod.Spec.NodeName}, nil
		}})
		if err != nil {
			return nil, err
		}
	}
	indexer := inf.GetIndexer()
	return func(node string) ([]*corev1.Pod, error) {
		objs, err := indexer.ByIndex(nodeNameIndex, node)
		if err != nil {
			return nil, err
		}
		out := make([]*corev1.Pod, 0, len(objs))
		for _, o := range objs {
			if p, ok := o.(*corev1.Pod); ok {
				out = append(out, p)
			}
		}
		return out, nil
	}, nil
}

package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// resourceCase is one served resource with a minimal valid object.
type resourceCase struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
	// manifest is a minimal valid object without metadata.name/namespace.
	manifest string
	// mutate changes the object for an update (a spec change where the
	// resource has a spec that may change).
	mutate func(u *unstructured.Unstructured)
	// generation is the metadata.generation the server sets on create
	// (0: none), bumped by a spec change.
	generation int64
	// status, for resources with a status subresource, is a valid status.
	status map[string]any
	// fixedGeneration: changes other than to a spec leave generation as it
	// is (no spec to change). labelsBumpGeneration: label changes bump it.
	fixedGeneration, labelsBumpGeneration bool
	// scale marks resources with the scale subresource.
	scale bool
	// check asserts the defaults of a created object.
	check func(t tb, u *unstructured.Unstructured)
}

func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// setField sets the value at path, walking maps (created when missing) and
// slices (by decimal index).
func setField(u *unstructured.Unstructured, value any, path ...string) {
	var cur any = u.Object
	for i, p := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = value
				return
			}
			next, ok := c[p]
			if !ok {
				next = map[string]any{}
				c[p] = next
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(c) {
				panic(fmt.Sprintf("setField: bad index %q in %v", p, path))
			}
			if last {
				c[n] = value
				return
			}
			cur = c[n]
		default:
			panic(fmt.Sprintf("setField: cannot walk %v", path))
		}
	}
}

func setLabel(u *unstructured.Unstructured, k, v string) {
	l := u.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[k] = v
	u.SetLabels(l)
}

// decodeManifest parses a YAML object, replacing NS by the namespace.
func decodeManifest(s, ns string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(s, "NS", ns)), &u.Object); err != nil {
		panic(err)
	}
	return u
}

const template = `{metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: busybox}]}}`

func setTemplateImage(u *unstructured.Unstructured) {
	c, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	c[0].(map[string]any)["image"] = "busybox:2"
	setField(u, c, "spec", "template", "spec", "containers")
}

// resourceCases lists every resource berth serves.
func resourceCases() []resourceCase {
	return []resourceCase{
		// core/v1
		{
			gvr: gvr("", "v1", "namespaces"), kind: "Namespace",
			manifest: `{apiVersion: v1, kind: Namespace}`,
			mutate:   func(u *unstructured.Unstructured) { setLabel(u, "changed", "yes") },
			status:   map[string]any{"phase": "Active", "conditions": []any{map[string]any{"type": "NamespaceDeletionDiscoveryFailure", "status": "False", "reason": "ResourcesDiscovered", "message": "ok"}}},
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, "Active", "status", "phase")
				expectNested(t, u, []any{"kubernetes"}, "spec", "finalizers")
				expectNested(t, u, u.GetName(), "metadata", "labels", "kubernetes.io/metadata.name")
			},
		},
		{
			gvr: gvr("", "v1", "pods"), kind: "Pod", namespaced: true,
			manifest: `{apiVersion: v1, kind: Pod, spec: {containers: [{name: c, image: busybox}]}}`,
			mutate: func(u *unstructured.Unstructured) {
				c, _, _ := unstructured.NestedSlice(u.Object, "spec", "containers")
				c[0].(map[string]any)["image"] = "busybox:2"
				setField(u, c, "spec", "containers")
			},
			status: map[string]any{"phase": "Pending", "message": "waiting", "qosClass": "BestEffort"},
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, "Pending", "status", "phase")
				expectNested(t, u, "BestEffort", "status", "qosClass")
				expectNested(t, u, "Always", "spec", "restartPolicy")
				expectNested(t, u, "ClusterFirst", "spec", "dnsPolicy")
				expectNested(t, u, "default-scheduler", "spec", "schedulerName")
				expectNested(t, u, int64(30), "spec", "terminationGracePeriodSeconds")
				expectNested(t, u, "Always", "spec", "containers", "0", "imagePullPolicy")
				expectNested(t, u, "/dev/termination-log", "spec", "containers", "0", "terminationMessagePath")
				expectNested(t, u, "File", "spec", "containers", "0", "terminationMessagePolicy")
			},
		},
		{
			gvr: gvr("", "v1", "services"), kind: "Service", namespaced: true,
			manifest: `{apiVersion: v1, kind: Service, spec: {ports: [{port: 80}]}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, map[string]any{"app": "x"}, "spec", "selector") },
			// status.loadBalancer is only for type LoadBalancer.
			status: map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Ok", "message": "ok", "lastTransitionTime": "2025-01-01T00:00:00Z"}}},
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, "ClusterIP", "spec", "type")
				expectNested(t, u, "None", "spec", "sessionAffinity")
				expectNested(t, u, "SingleStack", "spec", "ipFamilyPolicy")
				expectNested(t, u, []any{"IPv4"}, "spec", "ipFamilies")
				expectNested(t, u, "Cluster", "spec", "internalTrafficPolicy")
				expectNested(t, u, "TCP", "spec", "ports", "0", "protocol")
				expectNested(t, u, int64(80), "spec", "ports", "0", "targetPort")
				ip, _, _ := unstructured.NestedString(u.Object, "spec", "clusterIP")
				expectClusterIP(t, ip)
				expectNested(t, u, []any{ip}, "spec", "clusterIPs")
			},
		},
		{
			gvr: gvr("", "v1", "endpoints"), kind: "Endpoints", namespaced: true,
			manifest: `{apiVersion: v1, kind: Endpoints, subsets: [{addresses: [{ip: 10.1.2.3}], ports: [{port: 80}]}]}`,
			mutate: func(u *unstructured.Unstructured) {
				setField(u, []any{map[string]any{"addresses": []any{map[string]any{"ip": "10.1.2.4"}}, "ports": []any{map[string]any{"port": int64(80)}}}}, "subsets")
			},
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, "TCP", "subsets", "0", "ports", "0", "protocol")
			},
		},
		{
			gvr: gvr("", "v1", "configmaps"), kind: "ConfigMap", namespaced: true,
			manifest: `{apiVersion: v1, kind: ConfigMap, data: {a: b}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, "c", "data", "a") },
		},
		{
			gvr: gvr("", "v1", "secrets"), kind: "Secret", namespaced: true,
			manifest: `{apiVersion: v1, kind: Secret, data: {a: YWJj}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, "ZGVm", "data", "a") },
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, "Opaque", "type")
			},
		},
		{
			gvr: gvr("", "v1", "nodes"), kind: "Node",
			manifest: `{apiVersion: v1, kind: Node}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, true, "spec", "unschedulable") },
			status:   map[string]any{"capacity": map[string]any{"cpu": "4", "memory": "8Gi", "pods": "110"}},
		},
		{
			gvr: gvr("", "v1", "events"), kind: "Event", namespaced: true,
			manifest: `{apiVersion: v1, kind: Event, involvedObject: {kind: Pod, name: p, namespace: NS, apiVersion: v1}, reason: Started, message: started, type: Normal, source: {component: test}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, int64(2), "count") },
		},
		{
			gvr: gvr("", "v1", "serviceaccounts"), kind: "ServiceAccount", namespaced: true,
			manifest: `{apiVersion: v1, kind: ServiceAccount}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, false, "automountServiceAccountToken") },
		},
		{
			gvr: gvr("", "v1", "limitranges"), kind: "LimitRange", namespaced: true,
			manifest: `{apiVersion: v1, kind: LimitRange, spec: {limits: [{type: Container, default: {cpu: 100m}}]}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, "200m", "spec", "limits", "0", "default", "cpu") },
			check: func(t tb, u *unstructured.Unstructured) {
				// Kubernetes defaults defaultRequest to default (the limit).
				expectNested(t, u, "100m", "spec", "limits", "0", "defaultRequest", "cpu")
			},
		},
		{
			gvr: gvr("", "v1", "resourcequotas"), kind: "ResourceQuota", namespaced: true,
			manifest: `{apiVersion: v1, kind: ResourceQuota, spec: {hard: {pods: "10"}}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, "20", "spec", "hard", "pods") },
			status:   map[string]any{"hard": map[string]any{"pods": "10"}, "used": map[string]any{"pods": "0"}},
		},
		// apps/v1
		{
			gvr: gvr("apps", "v1", "deployments"), kind: "Deployment", namespaced: true, generation: 1, scale: true,
			manifest: `{apiVersion: apps/v1, kind: Deployment, spec: {selector: {matchLabels: {app: x}}, template: ` + template + `}}`,
			mutate:   setTemplateImage,
			status:   map[string]any{"observedGeneration": int64(1), "replicas": int64(1), "updatedReplicas": int64(1)},
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, int64(1), "spec", "replicas")
				expectNested(t, u, "RollingUpdate", "spec", "strategy", "type")
				expectNested(t, u, "25%", "spec", "strategy", "rollingUpdate", "maxUnavailable")
				expectNested(t, u, "25%", "spec", "strategy", "rollingUpdate", "maxSurge")
				expectNested(t, u, int64(10), "spec", "revisionHistoryLimit")
				expectNested(t, u, int64(600), "spec", "progressDeadlineSeconds")
				expectNested(t, u, "Always", "spec", "template", "spec", "restartPolicy")
			},
		},
		{
			gvr: gvr("apps", "v1", "replicasets"), kind: "ReplicaSet", namespaced: true, generation: 1, scale: true,
			manifest: `{apiVersion: apps/v1, kind: ReplicaSet, spec: {selector: {matchLabels: {app: x}}, template: ` + template + `}}`,
			mutate:   setTemplateImage,
			status:   map[string]any{"observedGeneration": int64(1), "replicas": int64(1)},
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, int64(1), "spec", "replicas")
			},
		},
		{
			gvr: gvr("apps", "v1", "statefulsets"), kind: "StatefulSet", namespaced: true, generation: 1, scale: true,
			manifest: `{apiVersion: apps/v1, kind: StatefulSet, spec: {serviceName: x, selector: {matchLabels: {app: x}}, template: ` + template + `}}`,
			mutate:   setTemplateImage,
			status:   map[string]any{"observedGeneration": int64(1), "replicas": int64(1)},
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, int64(1), "spec", "replicas")
				expectNested(t, u, "OrderedReady", "spec", "podManagementPolicy")
				expectNested(t, u, "RollingUpdate", "spec", "updateStrategy", "type")
				expectNested(t, u, int64(0), "spec", "updateStrategy", "rollingUpdate", "partition")
				expectNested(t, u, int64(10), "spec", "revisionHistoryLimit")
				expectNested(t, u, "Retain", "spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted")
			},
		},
		{
			gvr: gvr("apps", "v1", "daemonsets"), kind: "DaemonSet", namespaced: true, generation: 1,
			manifest: `{apiVersion: apps/v1, kind: DaemonSet, spec: {selector: {matchLabels: {app: x}}, template: ` + template + `}}`,
			mutate:   setTemplateImage,
			status:   map[string]any{"observedGeneration": int64(1), "currentNumberScheduled": int64(0), "numberMisscheduled": int64(0), "desiredNumberScheduled": int64(0), "numberReady": int64(0)},
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, "RollingUpdate", "spec", "updateStrategy", "type")
				expectNested(t, u, int64(1), "spec", "updateStrategy", "rollingUpdate", "maxUnavailable")
				expectNested(t, u, int64(0), "spec", "updateStrategy", "rollingUpdate", "maxSurge")
				expectNested(t, u, int64(10), "spec", "revisionHistoryLimit")
			},
		},
		{
			gvr: gvr("apps", "v1", "controllerrevisions"), kind: "ControllerRevision", namespaced: true,
			manifest: `{apiVersion: apps/v1, kind: ControllerRevision, revision: 1, data: {spec: {}}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, int64(2), "revision") },
		},
		// batch/v1
		{
			gvr: gvr("batch", "v1", "jobs"), kind: "Job", namespaced: true, generation: 1,
			manifest: `{apiVersion: batch/v1, kind: Job, spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, int64(2), "spec", "parallelism") },
			status:   map[string]any{"active": int64(1), "startTime": "2025-01-01T00:00:00Z"},
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, int64(1), "spec", "parallelism")
				expectNested(t, u, int64(1), "spec", "completions")
				expectNested(t, u, int64(6), "spec", "backoffLimit")
				expectNested(t, u, "NonIndexed", "spec", "completionMode")
				expectNested(t, u, false, "spec", "suspend")
				expectNested(t, u, "TerminatingOrFailed", "spec", "podReplacementPolicy")
				expectNested(t, u, false, "spec", "manualSelector")
				uid := string(u.GetUID())
				expectNested(t, u, uid, "spec", "selector", "matchLabels", "batch.kubernetes.io/controller-uid")
				expectNested(t, u, uid, "spec", "template", "metadata", "labels", "controller-uid")
				expectNested(t, u, u.GetName(), "spec", "template", "metadata", "labels", "batch.kubernetes.io/job-name")
				expectNested(t, u, u.GetName(), "spec", "template", "metadata", "labels", "job-name")
			},
		},
		{
			gvr: gvr("batch", "v1", "cronjobs"), kind: "CronJob", namespaced: true, generation: 1,
			manifest: `{apiVersion: batch/v1, kind: CronJob, spec: {schedule: "*/5 * * * *", jobTemplate: {spec: {template: {spec: {restartPolicy: OnFailure, containers: [{name: c, image: busybox}]}}}}}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, "*/10 * * * *", "spec", "schedule") },
			status:   map[string]any{"lastScheduleTime": "2025-01-01T00:00:00Z"},
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, "Allow", "spec", "concurrencyPolicy")
				expectNested(t, u, false, "spec", "suspend")
				expectNested(t, u, int64(3), "spec", "successfulJobsHistoryLimit")
				expectNested(t, u, int64(1), "spec", "failedJobsHistoryLimit")
			},
		},
		// networking.k8s.io/v1
		{
			gvr: gvr("networking.k8s.io", "v1", "ingresses"), kind: "Ingress", namespaced: true, generation: 1,
			manifest: `{apiVersion: networking.k8s.io/v1, kind: Ingress, spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}}`,
			mutate: func(u *unstructured.Unstructured) {
				setField(u, int64(81), "spec", "defaultBackend", "service", "port", "number")
			},
			status: map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"ip": "192.0.2.20"}}}},
		},
		{
			gvr: gvr("networking.k8s.io", "v1", "ingressclasses"), kind: "IngressClass", generation: 1,
			manifest: `{apiVersion: networking.k8s.io/v1, kind: IngressClass, spec: {controller: example.com/ingress}}`,
			mutate: func(u *unstructured.Unstructured) {
				setField(u, map[string]any{"apiGroup": "example.com", "kind": "Params", "name": "p"}, "spec", "parameters")
			},
		},
		{
			gvr: gvr("networking.k8s.io", "v1", "networkpolicies"), kind: "NetworkPolicy", namespaced: true, generation: 1,
			manifest: `{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, spec: {podSelector: {}}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, []any{"Ingress", "Egress"}, "spec", "policyTypes") },
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, []any{"Ingress"}, "spec", "policyTypes")
			},
		},
		// autoscaling/v2
		{
			gvr: gvr("autoscaling", "v2", "horizontalpodautoscalers"), kind: "HorizontalPodAutoscaler", namespaced: true,
			manifest: `{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, maxReplicas: 3}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, int64(4), "spec", "maxReplicas") },
			status:   map[string]any{"currentReplicas": int64(1), "desiredReplicas": int64(2)},
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, int64(1), "spec", "minReplicas")
				expectNested(t, u, "Resource", "spec", "metrics", "0", "type")
				expectNested(t, u, "cpu", "spec", "metrics", "0", "resource", "name")
				expectNested(t, u, int64(80), "spec", "metrics", "0", "resource", "target", "averageUtilization")
			},
		},
		// coordination.k8s.io/v1
		{
			gvr: gvr("coordination.k8s.io", "v1", "leases"), kind: "Lease", namespaced: true,
			manifest: `{apiVersion: coordination.k8s.io/v1, kind: Lease, spec: {holderIdentity: a, leaseDurationSeconds: 15}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, "b", "spec", "holderIdentity") },
		},
		// discovery.k8s.io/v1
		{
			gvr: gvr("discovery.k8s.io", "v1", "endpointslices"), kind: "EndpointSlice", namespaced: true, generation: 1, labelsBumpGeneration: true,
			manifest: `{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, addressType: IPv4, endpoints: [{addresses: [10.1.2.3]}], ports: [{port: 80}]}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, []any{map[string]any{"port": int64(81)}}, "ports") },
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, "TCP", "ports", "0", "protocol")
			},
		},
		// events.k8s.io/v1
		{
			gvr: gvr("events.k8s.io", "v1", "events"), kind: "Event", namespaced: true,
			manifest: `{apiVersion: events.k8s.io/v1, kind: Event, eventTime: "2025-01-01T00:00:00.000000Z", reportingController: example.com/test, reportingInstance: test-1, action: Start, reason: Started, type: Normal, note: started, regarding: {kind: Pod, name: p, namespace: NS, apiVersion: v1}}`,
			mutate: func(u *unstructured.Unstructured) {
				setField(u, map[string]any{"count": int64(2), "lastObservedTime": "2025-01-01T00:01:00.000000Z"}, "series")
			},
		},
		// policy/v1
		{
			gvr: gvr("policy", "v1", "poddisruptionbudgets"), kind: "PodDisruptionBudget", namespaced: true, generation: 1,
			manifest: `{apiVersion: policy/v1, kind: PodDisruptionBudget, spec: {minAvailable: 1, selector: {matchLabels: {app: x}}}}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, int64(2), "spec", "minAvailable") },
			status:   map[string]any{"observedGeneration": int64(1), "disruptionsAllowed": int64(0), "currentHealthy": int64(0), "desiredHealthy": int64(1), "expectedPods": int64(0)},
		},
		// scheduling.k8s.io/v1
		{
			gvr: gvr("scheduling.k8s.io", "v1", "priorityclasses"), kind: "PriorityClass", generation: 1, fixedGeneration: true,
			manifest: `{apiVersion: scheduling.k8s.io/v1, kind: PriorityClass, value: 1000}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, "changed", "description") },
			check: func(t tb, u *unstructured.Unstructured) {
				expectNested(t, u, "PreemptLowerPriority", "preemptionPolicy")
			},
		},
		// certificates.k8s.io/v1
		{
			gvr: gvr("certificates.k8s.io", "v1", "certificatesigningrequests"), kind: "CertificateSigningRequest",
			manifest: fmt.Sprintf(`{apiVersion: certificates.k8s.io/v1, kind: CertificateSigningRequest, spec: {request: %s, signerName: kubernetes.io/kube-apiserver-client, usages: [client auth]}}`, testCSR()),
			mutate:   func(u *unstructured.Unstructured) { setField(u, "yes", "metadata", "labels", "changed") },
			status:   map[string]any{"conditions": []any{map[string]any{"type": "Failed", "status": "True", "reason": "Testing", "message": "failed on purpose"}}},
			check: func(t tb, u *unstructured.Unstructured) {
				// The API server records who asked.
				expectNested(t, u, "system:admin", "spec", "username")
			},
		},
		// rbac.authorization.k8s.io/v1
		{
			gvr: gvr("rbac.authorization.k8s.io", "v1", "roles"), kind: "Role", namespaced: true,
			manifest: `{apiVersion: rbac.authorization.k8s.io/v1, kind: Role, rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, []any{"get", "list"}, "rules", "0", "verbs") },
		},
		{
			gvr: gvr("rbac.authorization.k8s.io", "v1", "rolebindings"), kind: "RoleBinding", namespaced: true,
			manifest: `{apiVersion: rbac.authorization.k8s.io/v1, kind: RoleBinding, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}, subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]}`,
			mutate: func(u *unstructured.Unstructured) {
				setField(u, []any{map[string]any{"kind": "ServiceAccount", "name": "default", "namespace": "default"}}, "subjects")
			},
		},
		{
			gvr: gvr("rbac.authorization.k8s.io", "v1", "clusterroles"), kind: "ClusterRole",
			manifest: `{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]}`,
			mutate:   func(u *unstructured.Unstructured) { setField(u, []any{"get", "list"}, "rules", "0", "verbs") },
		},
		{
			gvr: gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"), kind: "ClusterRoleBinding",
			manifest: `{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRoleBinding, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}, subjects: [{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}]}`,
			mutate: func(u *unstructured.Unstructured) {
				setField(u, []any{map[string]any{"kind": "ServiceAccount", "name": "default", "namespace": "default"}}, "subjects")
			},
		},
	}
}

// testCSR is a PEM certificate signing request, base64-encoded as the
// request field of a CertificateSigningRequest is. It never contains "NS",
// which decodeManifest replaces with the test's namespace.
func testCSR() string {
	for {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}}, key)
		if err != nil {
			panic(err)
		}
		if s := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})); !strings.Contains(s, "NS") {
			return s
		}
	}
}

package ingress

import (
	"context"
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// annotationIngressClass is the deprecated annotation that predates
// spec.ingressClassName.
const annotationIngressClass = "kubernetes.io/ingress.class"

var (
	supportedPathTypes   = []string{string(networkingv1.PathTypeExact), string(networkingv1.PathTypeImplementationSpecific), string(networkingv1.PathTypePrefix)}
	invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
	invalidPathSuffixes  = []string{"/..", "/."}
)

// options relax validation for updates of objects stored before a rule
// became stricter, as Kubernetes does.
type options struct {
	allowInvalidSecretName       bool
	allowInvalidWildcardHostRule bool
}

func validateCreate(_ context.Context, obj runtime.Object) field.ErrorList {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return wrongType(obj)
	}
	allErrs := validateSpec(&ing.Spec, field.NewPath("spec"), options{})
	if val, set := ing.Annotations[annotationIngressClass]; set && ing.Spec.IngressClassName != nil && val != *ing.Spec.IngressClassName {
		allErrs = append(allErrs, field.Invalid(field.NewPath("annotations").Child(annotationIngressClass), val, "must match `ingressClassName` when both are specified"))
	}
	return allErrs
}

func validateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return wrongType(obj)
	}
	oldIng, ok := old.(*networkingv1.Ingress)
	if !ok {
		return wrongType(old)
	}
	opts := options{
		allowInvalidSecretName:       hasInvalidSecretName(oldIng),
		allowInvalidWildcardHostRule: hasInvalidWildcardHostRule(oldIng),
	}
	return validateSpec(&ing.Spec, field.NewPath("spec"), opts)
}

func validateStatusUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return wrongType(obj)
	}
	oldIng, ok := old.(*networkingv1.Ingress)
	if !ok {
		return wrongType(old)
	}
	return validateLoadBalancerStatus(&ing.Status.LoadBalancer, &oldIng.Status.LoadBalancer, field.NewPath("status", "loadBalancer"))
}

func validateSpec(spec *networkingv1.IngressSpec, fldPath *field.Path, opts options) field.ErrorList {
	var allErrs field.ErrorList
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		allErrs = append(allErrs, field.Invalid(fldPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		allErrs = append(allErrs, validateBackend(spec.DefaultBackend, fldPath.Child("defaultBackend"))...)
	}
	if len(spec.Rules) > 0 {
		allErrs = append(allErrs, validateRules(spec.Rules, fldPath.Child("rules"), opts)...)
	}
	if len(spec.TLS) > 0 {
		allErrs = append(allErrs, validateTLS(spec.TLS, fldPath.Child("tls"), opts)...)
	}
	if spec.IngressClassName != nil {
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(*spec.IngressClassName, false) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("ingressClassName"), *spec.IngressClassName, msg))
		}
	}
	return allErrs
}

func validateTLS(tls []networkingv1.IngressTLS, fldPath *field.Path, opts options) field.ErrorList {
	var allErrs field.ErrorList
	for i, t := range tls {
		for j, host := range t.Hosts {
			hostPath := fldPath.Index(i).Child("hosts").Index(j)
			if strings.Contains(host, "*") {
				for _, msg := range validation.IsWildcardDNS1123Subdomain(host) {
					allErrs = append(allErrs, field.Invalid(hostPath, host, msg))
				}
				continue
			}
			for _, msg := range validation.IsDNS1123Subdomain(host) {
				allErrs = append(allErrs, field.Invalid(hostPath, host, msg))
			}
		}
		if !opts.allowInvalidSecretName {
			for _, msg := range secretNameErrors(t.SecretName) {
				allErrs = append(allErrs, field.Invalid(fldPath.Index(i).Child("secretName"), t.SecretName, msg))
			}
		}
	}
	return allErrs
}

func secretNameErrors(name string) []string {
	if name == "" {
		return nil
	}
	return apimachineryvalidation.NameIsDNSSubdomain(name, false)
}

func validateRules(rules []networkingv1.IngressRule, fldPath *field.Path, opts options) field.ErrorList {
	var allErrs field.ErrorList
	for i, rule := range rules {
		wildcard := false
		if rule.Host != "" {
			hostPath := fldPath.Index(i).Child("host")
			if netutils.ParseIPSloppy(rule.Host) != nil {
				allErrs = append(allErrs, field.Invalid(hostPath, rule.Host, "must be a DNS name, not an IP address"))
			}
			if strings.Contains(rule.Host, "*") {
				for _, msg := range validation.IsWildcardDNS1123Subdomain(rule.Host) {
					allErrs = append(allErrs, field.Invalid(hostPath, rule.Host, msg))
				}
				wildcard = true
			} else {
				for _, msg := range validation.IsDNS1123Subdomain(rule.Host) {
					allErrs = append(allErrs, field.Invalid(hostPath, rule.Host, msg))
				}
			}
		}
		if !wildcard || !opts.allowInvalidWildcardHostRule {
			allErrs = append(allErrs, validateRuleValue(&rule.IngressRuleValue, fldPath.Index(i))...)
		}
	}
	return allErrs
}

func validateRuleValue(rule *networkingv1.IngressRuleValue, fldPath *field.Path) field.ErrorList {
	if rule.HTTP == nil {
		return nil
	}
	var allErrs field.ErrorList
	httpPath := fldPath.Child("http")
	if len(rule.HTTP.Paths) == 0 {
		allErrs = append(allErrs, field.Required(httpPath.Child("paths"), ""))
	}
	for i := range rule.HTTP.Paths {
		allErrs = append(allErrs, validatePath(&rule.HTTP.Paths[i], httpPath.Child("paths").Index(i))...)
	}
	return allErrs
}

func validatePath(p *networkingv1.HTTPIngressPath, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if p.PathType == nil {
		return append(allErrs, field.Required(fldPath.Child("pathType"), "pathType must be specified"))
	}
	switch *p.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(p.Path, "/") {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), p.Path, "must be an absolute path"))
		}
		if p.Path != "" {
			for _, seq := range invalidPathSequences {
				if strings.Contains(p.Path, seq) {
					allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), p.Path, fmt.Sprintf("must not contain '%s'", seq)))
				}
			}
			for _, suffix := range invalidPathSuffixes {
				if strings.HasSuffix(p.Path, suffix) {
					allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), p.Path, fmt.Sprintf("cannot end with '%s'", suffix)))
				}
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if p.Path != "" && !strings.HasPrefix(p.Path, "/") {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), p.Path, "must be an absolute path"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("pathType"), *p.PathType, supportedPathTypes))
	}
	return append(allErrs, validateBackend(&p.Backend, fldPath.Child("backend"))...)
}

func validateBackend(backend *networkingv1.IngressBackend, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch {
	case backend.Resource != nil && backend.Service != nil:
		return append(allErrs, field.Invalid(fldPath, "", "cannot set both resource and service backends"))
	case backend.Resource != nil:
		ref := backend.Resource
		refPath := fldPath.Child("resource")
		if ref.APIGroup != nil {
			for _, msg := range validation.IsDNS1123Subdomain(*ref.APIGroup) {
				allErrs = append(allErrs, field.Invalid(refPath.Child("apiGroup"), *ref.APIGroup, msg))
			}
		}
		allErrs = append(allErrs, pathSegment(ref.Kind, refPath.Child("kind"))...)
		allErrs = append(allErrs, pathSegment(ref.Name, refPath.Child("name"))...)
	case backend.Service != nil:
		svc := backend.Service
		if svc.Name == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("service", "name"), ""))
		} else {
			for _, msg := range apimachineryvalidation.NameIsDNS1035Label(svc.Name, false) {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("service", "name"), svc.Name, msg))
			}
		}
		hasName, hasNumber := svc.Port.Name != "", svc.Port.Number != 0
		switch {
		case hasName && hasNumber:
			allErrs = append(allErrs, field.Invalid(fldPath, "", "cannot set both port name & port number"))
		case hasName:
			for _, msg := range validation.IsValidPortName(svc.Port.Name) {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("service", "port", "name"), svc.Port.Name, msg))
			}
		case hasNumber:
			for _, msg := range validation.IsValidPortNum(int(svc.Port.Number)) {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("service", "port", "number"), svc.Port.Number, msg))
			}
		default:
			allErrs = append(allErrs, field.Required(fldPath, "port name or number is required"))
		}
	default:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "resource or service backend is required"))
	}
	return allErrs
}

// pathSegment requires a value usable as a URL path segment.
func pathSegment(value string, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var allErrs field.ErrorList
	for _, msg := range path.IsValidPathSegmentName(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

func validateLoadBalancerStatus(status, oldStatus *networkingv1.IngressLoadBalancerStatus, fldPath *field.Path) field.ErrorList {
	var oldIPs []string
	for _, ing := range oldStatus.Ingress {
		if ing.IP != "" {
			oldIPs = append(oldIPs, ing.IP)
		}
	}
	var allErrs field.ErrorList
	for i, ing := range status.Ingress {
		idxPath := fldPath.Child("ingress").Index(i)
		if ing.IP != "" {
			allErrs = append(allErrs, validation.IsValidIPForLegacyField(idxPath.Child("ip"), ing.IP, false, oldIPs)...)
		}
		if ing.Hostname != "" {
			for _, msg := range validation.IsDNS1123Subdomain(ing.Hostname) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("hostname"), ing.Hostname, msg))
			}
			if netutils.ParseIPSloppy(ing.Hostname) != nil {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return allErrs
}

// hasInvalidSecretName reports whether a stored ingress already has a TLS
// secret name that current rules reject; such ingresses stay updatable.
func hasInvalidSecretName(old *networkingv1.Ingress) bool {
	for _, t := range old.Spec.TLS {
		if len(secretNameErrors(t.SecretName)) > 0 {
			return true
		}
	}
	return false
}

// hasInvalidWildcardHostRule reports whether a stored ingress has a wildcard
// host rule whose value current rules reject.
func hasInvalidWildcardHostRule(old *networkingv1.Ingress) bool {
	for i := range old.Spec.Rules {
		rule := &old.Spec.Rules[i]
		if strings.Contains(rule.Host, "*") && len(validateRuleValue(&rule.IngressRuleValue, nil)) > 0 {
			return true
		}
	}
	return false
}

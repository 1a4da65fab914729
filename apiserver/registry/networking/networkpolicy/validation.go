package networkpolicy

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// options relax validation for data stored under older, looser rules.
type options struct {
	// allowInvalidLabelValue accepts selector values that are not valid
	// label values, when the stored podSelector already had one.
	allowInvalidLabelValue bool
	// oldCIDRs are CIDRs of the stored policy, accepted again unchecked.
	oldCIDRs []string
}

func validateCreate(_ context.Context, obj runtime.Object) field.ErrorList {
	np, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return wrongType(obj)
	}
	return validateSpec(&np.Spec, options{}, field.NewPath("spec"))
}

func validateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	np, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return wrongType(obj)
	}
	oldNP, ok := old.(*networkingv1.NetworkPolicy)
	if !ok {
		return wrongType(old)
	}
	opts := options{
		allowInvalidLabelValue: len(metav1validation.ValidateLabelSelector(&oldNP.Spec.PodSelector, metav1validation.LabelSelectorValidationOptions{}, nil)) > 0,
		oldCIDRs:               storedCIDRs(oldNP),
	}
	return validateSpec(&np.Spec, opts, field.NewPath("spec"))
}

func storedCIDRs(np *networkingv1.NetworkPolicy) []string {
	var cidrs []string
	add := func(peers []networkingv1.NetworkPolicyPeer) {
		for _, peer := range peers {
			if peer.IPBlock != nil {
				cidrs = append(cidrs, peer.IPBlock.CIDR)
				cidrs = append(cidrs, peer.IPBlock.Except...)
			}
		}
	}
	for _, rule := range np.Spec.Ingress {
		add(rule.From)
	}
	for _, rule := range np.Spec.Egress {
		add(rule.To)
	}
	return cidrs
}

func validateSpec(spec *networkingv1.NetworkPolicySpec, opts options, fldPath *field.Path) field.ErrorList {
	selOpts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: opts.allowInvalidLabelValue}
	allErrs := metav1validation.ValidateLabelSelector(&spec.PodSelector, selOpts, fldPath.Child("podSelector"))

	for i, rule := range spec.Ingress {
		rulePath := fldPath.Child("ingress").Index(i)
		for j := range rule.Ports {
			allErrs = append(allErrs, validatePort(&rule.Ports[j], rulePath.Child("ports").Index(j))...)
		}
		for j := range rule.From {
			allErrs = append(allErrs, validatePeer(&rule.From[j], opts, rulePath.Child("from").Index(j))...)
		}
	}
	for i, rule := range spec.Egress {
		rulePath := fldPath.Child("egress").Index(i)
		for j := range rule.Ports {
			allErrs = append(allErrs, validatePort(&rule.Ports[j], rulePath.Child("ports").Index(j))...)
		}
		for j := range rule.To {
			allErrs = append(allErrs, validatePeer(&rule.To[j], opts, rulePath.Child("to").Index(j))...)
		}
	}

	allowed := []string{string(networkingv1.PolicyTypeIngress), string(networkingv1.PolicyTypeEgress)}
	if len(spec.PolicyTypes) > len(allowed) {
		return append(allErrs, field.Invalid(fldPath.Child("policyTypes"), &spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, pType := range spec.PolicyTypes {
		if pType != networkingv1.PolicyTypeIngress && pType != networkingv1.PolicyTypeEgress {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("policyTypes").Index(i), pType, allowed))
		}
	}
	return allErrs
}

func validatePort(port *networkingv1.NetworkPolicyPort, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if port.Protocol != nil && *port.Protocol != corev1.ProtocolTCP && *port.Protocol != corev1.ProtocolUDP && *port.Protocol != corev1.ProtocolSCTP {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("protocol"), *port.Protocol, []string{string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP)}))
	}
	switch {
	case port.Port == nil:
		if port.EndPort != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("endPort"), *port.EndPort, "may not be specified when `port` is not specified"))
		}
	case port.Port.Type == intstr.Int:
		for _, msg := range validation.IsValidPortNum(int(port.Port.IntVal)) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("port"), port.Port.IntVal, msg))
		}
		if port.EndPort != nil {
			if *port.EndPort < port.Port.IntVal {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("endPort"), *port.EndPort, "must be greater than or equal to `port`"))
			}
			for _, msg := range validation.IsValidPortNum(int(*port.EndPort)) {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("endPort"), *port.EndPort, msg))
			}
		}
	default:
		if port.EndPort != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("endPort"), *port.EndPort, "may not be specified when `port` is non-numeric"))
		}
		for _, msg := range validation.IsValidPortName(port.Port.StrVal) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("port"), port.Port.StrVal, msg))
		}
	}
	return allErrs
}

func validatePeer(peer *networkingv1.NetworkPolicyPeer, opts options, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	selOpts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: opts.allowInvalidLabelValue}
	peers := 0
	if peer.PodSelector != nil {
		peers++
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(peer.PodSelector, selOpts, fldPath.Child("podSelector"))...)
	}
	if peer.NamespaceSelector != nil {
		peers++
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(peer.NamespaceSelector, selOpts, fldPath.Child("namespaceSelector"))...)
	}
	if peer.IPBlock != nil {
		peers++
		allErrs = append(allErrs, validateIPBlock(peer.IPBlock, opts, fldPath.Child("ipBlock"))...)
	}
	switch {
	case peers == 0:
		allErrs = append(allErrs, field.Required(fldPath, "must specify a peer"))
	case peers > 1 && peer.IPBlock != nil:
		allErrs = append(allErrs, field.Forbidden(fldPath, "may not specify both ipBlock and another peer"))
	}
	return allErrs
}

func validateIPBlock(ipb *networkingv1.IPBlock, opts options, fldPath *field.Path) field.ErrorList {
	if ipb.CIDR == "" {
		return field.ErrorList{field.Required(fldPath.Child("cidr"), "")}
	}
	allErrs := validation.IsValidCIDRForLegacyField(fldPath.Child("cidr"), ipb.CIDR, false, opts.oldCIDRs)
	_, cidr, err := netutils.ParseCIDRSloppy(ipb.CIDR)
	if err != nil {
		return allErrs
	}
	for i, exceptStr := range ipb.Except {
		exceptPath := fldPath.Child("except").Index(i)
		allErrs = append(allErrs, validation.IsValidCIDRForLegacyField(exceptPath, exceptStr, false, opts.oldCIDRs)...)
		_, except, err := netutils.ParseCIDRSloppy(exceptStr)
		if err != nil {
			continue
		}
		cidrLen, _ := cidr.Mask.Size()
		exceptLen, _ := except.Mask.Size()
		if !cidr.Contains(except.IP) || cidrLen >= exceptLen {
			allErrs = append(allErrs, field.Invalid(exceptPath, exceptStr, "must be a strict subset of `cidr`"))
		}
	}
	return allErrs
}

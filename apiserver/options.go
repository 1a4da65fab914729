package apiserver

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// optionsKind names request options in 422 answers, as Kubernetes does:
// `CreateOptions.meta.k8s.io "" is invalid: ...`.
func optionsKind(kind string) schema.GroupKind {
	return schema.GroupKind{Group: metav1.GroupName, Kind: kind}
}

// validateWriteOptions checks the options every write has, as Kubernetes'
// ValidateCreateOptions/UpdateOptions/PatchOptions do.
func validateWriteOptions(dryRun []string, manager, fieldValidation string) field.ErrorList {
	errs := validateDryRun(dryRun)
	if len(manager) > 128 {
		errs = append(errs, field.TooLong(field.NewPath("fieldManager"), "", 128))
	}
	switch fieldValidation {
	case "", metav1.FieldValidationIgnore, metav1.FieldValidationWarn, metav1.FieldValidationStrict:
	default:
		errs = append(errs, field.NotSupported(field.NewPath("fieldValidation"), fieldValidation,
			[]string{"", metav1.FieldValidationIgnore, metav1.FieldValidationStrict, metav1.FieldValidationWarn}))
	}
	return errs
}

// validateDeleteOptions checks DeleteOptions as Kubernetes'
// ValidateDeleteOptions does.
func validateDeleteOptions(o *metav1.DeleteOptions) field.ErrorList {
	var errs field.ErrorList
	if o.OrphanDependents != nil && o.PropagationPolicy != nil {
		errs = append(errs, field.Invalid(field.NewPath("propagationPolicy"), o.PropagationPolicy, "orphanDependents and deletionPropagation cannot be both set"))
	}
	if p := o.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			errs = append(errs, field.NotSupported(field.NewPath("propagationPolicy"), *p,
				[]string{string(metav1.DeletePropagationForeground), string(metav1.DeletePropagationBackground), string(metav1.DeletePropagationOrphan), "nil"}))
		}
	}
	return append(errs, validateDryRun(o.DryRun)...)
}

// validateDryRun accepts only "All", reporting the whole list as
// Kubernetes' ValidateDryRun does.
func validateDryRun(dryRun []string) field.ErrorList {
	for _, v := range dryRun {
		if v != metav1.DryRunAll {
			return field.ErrorList{field.NotSupported(field.NewPath("dryRun"), dryRun, []string{metav1.DryRunAll})}
		}
	}
	return nil
}

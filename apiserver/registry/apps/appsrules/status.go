package appsrules

import (
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateCollisionCount rejects a status.collisionCount that goes down (or
// is removed) in a status update.
func ValidateCollisionCount(newCount, oldCount *int32, fldPath *field.Path) field.ErrorList {
	if oldCount == nil {
		return nil
	}
	if newCount != nil && *newCount >= *oldCount {
		return nil
	}
	var value int32
	if newCount != nil {
		value = *newCount
	}
	return field.ErrorList{field.Invalid(fldPath, value, "cannot be decremented")}
}

// ReplicaCount is one replica counter of a status, for NotAbove.
type ReplicaCount struct {
	Name  string
	Value int32
}

// NotAbove reports each counter greater than limit, with the message
// "cannot be greater than <limitName>".
func NotAbove(fldPath *field.Path, limit int32, limitName string, counts ...ReplicaCount) field.ErrorList {
	var allErrs field.ErrorList
	for _, c := range counts {
		if c.Value > limit {
			allErrs = append(allErrs, field.Invalid(fldPath.Child(c.Name), c.Value, "cannot be greater than "+limitName))
		}
	}
	return allErrs
}

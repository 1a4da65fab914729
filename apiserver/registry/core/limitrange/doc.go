// Package limitrange describes the core/v1 LimitRange resource to the
// generic store: container defaults derived from max and min, the rules of
// limit types and resource names, the order min <= defaultRequest <=
// default <= max, and the NAME CREATED AT table Kubernetes gives resources
// without a printer of their own.
package limitrange
